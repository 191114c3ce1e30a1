"""score.json as types (scoring.document): written and read back unchanged, valid against its shipped schema,
schema 1 upgraded, anything else refused naming the file and how to rescore it; and read by key nowhere else."""

import ast
from dataclasses import fields, is_dataclass, replace
import json
from pathlib import Path

import jsonschema
import pytest

from harness.benchmarks import get_benchmark
from harness.outputs.results import failed_document
from score_documents import budget, scored
from scoring import document as document_module
from scoring.document import (
    SCHEMA_VERSION,
    CheckpointsUsed,
    CompetitionUsed,
    Failure,
    NotStarted,
    Poisoning,
    ScoreDocumentError,
    TimeBudget,
    UnmeasuredBudget,
    from_json,
    read_score,
    to_json,
)
from scoring.document_schema import json_schema
from tools.score_schema import SCHEMA_FILE, schema_text

ROOT = Path(__file__).resolve().parent.parent
SCHEMA1 = ROOT / "tests" / "fixtures" / "score-schema1.json"


def test_the_shipped_schema_is_the_one_the_types_give():
    assert SCHEMA_FILE.read_text() == schema_text(), "score.json's types changed: run `make schema` and commit scoring/score.schema.json"
    assert (ROOT / "docs" / "score.schema.json").resolve() == SCHEMA_FILE


def _failed() -> object:
    return failed_document(get_benchmark("digits-mlp"), "bad.ipynb", "refused", "not a notebook",
                           UnmeasuredBudget(0.2, "eligible", "refused before any run", verdict="unknown", eligible=False))


@pytest.mark.parametrize("document", [
    scored(),
    scored(forget_quality_ci95=(0.05, 0.15), final_score_ci95=(0.01, 0.2), interval_method="half-sampling", interval_replicates=10,
           not_started=NotStarted(3, "why"), failures={"timeout": Failure(2, "run 1: slow")}, runs_retried=1,
           poisoning=Poisoning(0.9, 0.7, 0.8, 0.5), competition=CompetitionUsed("c.toml", {"training.epochs": 1, "metric.attacks": "strong"}),
           checkpoints=CheckpointsUsed(("a.pt", "b.pt"), (), "t.csv"), time_budget=budget(ratio_ci=(0.1, None), reported_on="laptop")),
    scored(time_budget=UnmeasuredBudget(0.2, "eligible", "checkpoints made elsewhere")),
    _failed(),
], ids=["scored", "everything", "unmeasured", "failed"])
def test_a_document_is_written_valid_and_read_back_unchanged(document):
    text = to_json(document)
    jsonschema.validate(json.loads(text), json_schema())
    assert from_json(text) == document


def test_the_schema_refuses_what_the_types_refuse():
    raw = json.loads(to_json(scored()))
    for broken in ({**raw, "final_score": "high"}, {**raw, "surprise": 1}, {k: v for k, v in raw.items() if k != "time_budget"},
                   {**raw, "time_budget": {**raw["time_budget"], "ratio_ci": [0.1]}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, json_schema())
        with pytest.raises(ScoreDocumentError, match="score the submission again"):
            from_json(json.dumps(broken), "x/score.json")


def test_a_schema_1_document_loads_upgraded():
    document = read_score(SCHEMA1)
    raw = json.loads(SCHEMA1.read_text())
    assert "schema_version" not in raw and document.schema_version == SCHEMA_VERSION
    assert document.final_score == raw["final_score"] and isinstance(document.time_budget, TimeBudget)
    assert document.time_budget.ratio_ci == tuple(raw["time_budget"]["ratio_ci"])
    assert document.collateral_privacy.retain_sample.epsilons == tuple(raw["collateral_privacy"]["retain_sample"]["epsilons"])
    assert document.competition == CompetitionUsed("competitions/neurips2023-faces.toml", {"training.epochs": 1, "runs.n_models": 3})
    jsonschema.validate(json.loads(to_json(document)), json_schema())


def test_schema_1_poisoning_checkpoints_and_failed_entries_are_upgraded():
    raw = json.loads(SCHEMA1.read_text())
    poisoned = from_json(json.dumps({**raw, "clean_accuracy": 0.9, "accuracy_before": 0.7, "accuracy_after": 0.8, "accuracy_restored": 0.5}))
    assert poisoned.poisoning == Poisoning(0.9, 0.7, 0.8, 0.5)
    unmeasured = {"fraction": 0.2, "policy": "eligible", "reason": "made elsewhere", "verdict": "not measured", "eligible": True,
                  "unlearn_median_s": None, "retrain_median_s": None, "ratio": None, "ratio_ci": None}
    assert from_json(json.dumps({**raw, "time_budget": unmeasured})).time_budget == UnmeasuredBudget(0.2, "eligible", "made elsewhere")
    failed = {"benchmark": "digits-mlp", "benchmark_key": "k", "submission": "bad.ipynb", "models_from": "runs", "status": "failed", "runs": {},
              "failures": {"refused": {"count": 0, "first_message": "not a notebook"}}, "forget_quality": None, "final_score": None,
              "time_budget": {"unlearn_median_s": None, "retrain_median_s": None, "ratio": None, "ratio_ci": None, "verdict": "unknown",
                              "eligible": False},
              "versions": {}}
    document = from_json(json.dumps(failed))
    assert not document.scored and document.submission_sha256 is None and document.time_budget.eligible is False


@pytest.mark.parametrize("text, words", [
    ('{"schema_version": 3}', "of schema 3; this harness reads schemas 1 and 2"),
    ("[1, 2]", "not a score.json"),
    ("{not json", "is not JSON"),
])
def test_other_documents_are_refused_naming_the_file_and_how_to_rescore(tmp_path, text, words):
    path = tmp_path / "by-hand.json"  # not score.json: the session checks every score.json its tests wrote
    path.write_text(text)
    with pytest.raises(ScoreDocumentError) as refused:
        read_score(path)
    assert str(path) in str(refused.value) and words in str(refused.value) and "python -m harness score" in str(refused.value)


def test_a_budget_without_a_finished_run_is_valid():
    document = scored(final_score=None, status="failed", time_budget=budget(unlearn_median_s=None, ratio=None, ratio_ci=None, ratio_ci_coverage=None))
    assert from_json(to_json(document)) == document
    assert replace(document, final_score=0.1).scored


# Reading score.json by key is the document's own business: elsewhere a misspelt key is a KeyError at run time, an
# attribute a failure of lint and mypy. What this looks for: a name subscripted, or asked with .get, by one of the
# document's field names (`document["final_score"]`, `budget.get("ratio")`). Attributes subscripted
# (`budget.load_average["runs"]`) are typed fields of their own.
# The fields no other document of the harness has (a competition's `source`, a stability.json's `n_models` are others').
FIELDS = {"benchmark_key", "submission_sha256", "models_from", "n_models_scored", "runs_retried", "not_started", "failures", "first_message",
          "time_budget", "unlearn_median_s", "retrain_median_s", "ratio_ci", "verdict", "eligible", "reported_on", "forget_quality",
          "forget_quality_ci95", "forget_quality_ceiling", "final_score", "final_score_ci95", "interval_replicates", "retain_accuracy",
          "test_accuracy", "forget_accuracy", "epsilon_by_attack", "simple_mia", "collateral_privacy", "poisoning", "accuracy_restored",
          "isolation"}
OWN_DOCUMENTS = {"scoring/document.py": "the document itself", "scoring/cli.py": "python -m scoring writes result.json, a document of its own",
                 "reference_models/cache.py": "its parquet rows of model outputs share the accuracies' names"}


def _subscripts_by_field(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name | ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and isinstance(node.func.value, ast.Name | ast.Subscript) and node.args and isinstance(node.args[0], ast.Constant):
            key = node.args[0].value
        if key in FIELDS:
            found.append(f"{path.relative_to(root)}:{node.lineno} [{key!r}]")
    return found


def test_no_module_outside_the_document_reads_score_json_by_key():
    modules = [path for package in ("harness", "scoring", "rendering", "reference_models", "benchmarks") for path in sorted((ROOT / package).rglob("*.py"))]
    offenders = [hit for path in modules if str(path.relative_to(ROOT)) not in OWN_DOCUMENTS for hit in _subscripts_by_field(path)]
    assert not offenders, f"read score.json through scoring.document's attributes: {offenders}"


def test_the_key_check_sees_a_subscript_and_a_get(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("a = document['final_score']\nb = documents['x'].get('time_budget')\nc = other['unrelated']\nd = budget.load_average['runs']\n")
    assert [hit.rsplit(" ", 1)[1] for hit in _subscripts_by_field(probe, tmp_path)] == ["['final_score']", "['time_budget']"]


def test_every_field_of_every_type_is_in_docs_score_json():
    text = (ROOT / "docs" / "score-json.md").read_text()
    types = [cls for cls in vars(document_module).values() if is_dataclass(cls) and cls.__module__ == document_module.__name__]
    missing = sorted({f"{cls.__name__}.{f.name}" for cls in types for f in fields(cls) if f"`{f.name}`" not in text})
    assert not missing, f"docs/score-json.md does not describe: {missing}"
