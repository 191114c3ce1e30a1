"""`make schema`: write score.json's JSON Schema, generated from its types (scoring.document), into
scoring/score.schema.json (package data; docs/score.schema.json links to it). tests/test_score_document.py
fails while the file and the types disagree."""

import json
from pathlib import Path

from scoring.document_schema import json_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "scoring" / "score.schema.json"


def schema_text() -> str:
    return json.dumps(json_schema(), indent=1) + "\n"


def main() -> int:
    SCHEMA_FILE.write_text(schema_text())
    print(f"written {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
