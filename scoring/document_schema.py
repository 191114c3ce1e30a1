"""score.json's JSON Schema (draft 2020-12), derived from its types in scoring.document: `make schema` writes it to
scoring/score.schema.json (docs/score.schema.json), and a test keeps the two equal."""

from dataclasses import fields, is_dataclass
import types
import typing
from typing import Any, Union

from scoring.document import SCHEMA_VERSION, ScoreDocument


def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of score.json, from the types above."""
    definitions: dict[str, dict[str, Any]] = {}
    root = _schema(ScoreDocument, definitions)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "score.json of the unlearning harness",
        "description": (ScoreDocument.__doc__ or "").strip(),
        **definitions[root["$ref"].rsplit("/", 1)[1]],
        "$defs": {name: schema for name, schema in definitions.items() if name != "ScoreDocument"},
    }


def _schema(kind: Any, definitions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema(argument, definitions) for argument in arguments]}
    if isinstance(kind, type) and is_dataclass(kind):
        name = kind.__name__
        if name not in definitions:
            definitions[name] = {}  # a placeholder against recursion
            hints = typing.get_type_hints(kind)
            properties = {f.name: _schema(hints[f.name], definitions) for f in fields(kind)}
            if kind is ScoreDocument:
                properties["schema_version"] = {"const": SCHEMA_VERSION}
            definitions[name] = {
                "type": "object",
                "description": " ".join((kind.__doc__ or name).split()),
                "properties": properties,
                "required": [f.name for f in fields(kind)],  # to_json writes every field, null where absent
                "additionalProperties": False,
            }
        return {"$ref": f"#/$defs/{kind.__name__}"}
    if origin is tuple:
        if arguments[-1] is Ellipsis:
            return {"type": "array", "items": _schema(arguments[0], definitions)}
        return {"type": "array", "prefixItems": [_schema(argument, definitions) for argument in arguments], "items": False,
                "minItems": len(arguments)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(arguments[1], definitions)}
    if kind is Any:
        return {}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
    return {"type": simple[kind]}
