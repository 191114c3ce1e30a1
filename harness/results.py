"""score.json: the ledger's runs and the references, turned into the competition score."""

from collections import Counter
import platform

import numpy as np
import sklearn
import torch

from harness.budget import TimeBudget
from harness.ledger import STATUSES, RunRecord
from reference_models.cache import References
from reference_models.spec import BenchmarkSpec
from scoring.epsilon import official_epsilon
from scoring.quality import final_score, forgetting_quality


def _first_messages(records: list[RunRecord]) -> dict[str, str]:
    first: dict[str, str] = {}
    for record in records:
        if record.status != "ok":
            first.setdefault(record.status, record.message)
    return first


def _versions() -> dict[str, str]:
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def score_document(
    spec: BenchmarkSpec,
    submission: str,
    submission_sha256: str,
    records: list[RunRecord],
    references: References,
    budget: TimeBudget,
    allow_failures: bool,
) -> dict:
    """Everything `make score` reports, as one JSON-ready dict.

    With any failed run the submission is not scored, unless failures are
    allowed: then its successful runs are scored against as many references,
    so that both populations keep the same size as the metric assumes.
    """
    counts = Counter(record.status for record in records)
    ok = [record for record in records if record.status == "ok"]
    failed = len(records) - len(ok)
    document = {
        "benchmark": spec.name,
        "benchmark_key": spec.key(),
        "submission": submission,
        "submission_sha256": submission_sha256,
        "n_models": len(records),
        "runs": {status: counts.get(status, 0) for status in STATUSES},
        "failures": _first_messages(records),
        "time_budget": budget.to_dict(),
        "versions": _versions(),
    }
    if not ok or (failed and not allow_failures):
        return {**document, "status": "failed", "forget_quality": None, "final_score": None}
    n = len(ok)
    unlearned = np.array([record.forget_statistic for record in ok], dtype=np.float64)
    retrained = references.forget_statistic[:n]
    estimate = official_epsilon(unlearned, retrained)
    quality = forgetting_quality(estimate.epsilon, n)
    retain = {"unlearned": float(np.mean([r.retain_accuracy for r in ok])), "retrained": float(references.retain_accuracy[:n].mean())}
    test = {"unlearned": float(np.mean([r.test_accuracy for r in ok])), "retrained": float(references.test_accuracy[:n].mean())}
    forget = {"unlearned": float(np.mean([r.forget_accuracy for r in ok])), "retrained": float(references.forget_accuracy[:n].mean())}
    return {
        **document,
        "status": "scored" if not failed else "scored-with-failures",
        "n_models_scored": n,
        "forget_quality": quality,
        "retain_accuracy": retain,
        "test_accuracy": test,
        "forget_accuracy": forget,
        "final_score": final_score(quality, retain["unlearned"], retain["retrained"], test["unlearned"], test["retrained"]),
        "epsilon": {
            "attacks": "official",
            "mean": float(estimate.epsilon.mean()),
            "median": float(np.median(estimate.epsilon)),
            "peaky_examples": int(estimate.peaky.sum()),
            "undetermined_examples": int(estimate.undetermined.sum()),
        },
        "original_model": {
            "retain_accuracy": references.original.retain_accuracy,
            "test_accuracy": references.original.test_accuracy,
            "forget_accuracy": references.original.forget_accuracy,
        },
    }
