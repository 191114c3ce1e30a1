"""score.json and the per-example table: the ledger's runs against the references."""

from collections import Counter
from dataclasses import dataclass
from functools import partial
import platform

import numpy as np
import pyarrow as pa
import sklearn
import torch
from tqdm import tqdm

from harness.budget import TimeBudget, UnmeasuredBudget
from harness.ledger import STATUSES, RunRecord
from reference_models.cache import References
from reference_models.evaluation import PopulationOutputs
from reference_models.spec import BenchmarkSpec
from scoring.collateral import epsilon_summary
from scoring.epsilon import EpsilonEstimate, estimate_epsilon
from scoring.intervals import Accuracies, intervals
from scoring.mia import losses_from_statistic, mia_accuracy, population_mia
from scoring.quality import MIN_MODELS, accuracy_restored, example_points, final_score, forgetting_quality

RUNS, CHECKPOINTS = "runs", "checkpoints"  # score.json's models_from: the harness ran the code, or loaded models made elsewhere


@dataclass(frozen=True)
class MetricSettings:
    """How to turn statistics into a score: attacks, rate estimates, intervals."""

    attacks: str = "official"
    rates: str = "empirical"
    confidence: float = 0.95
    bootstrap: int = 100  # half-sampling replicates of the intervals; 0 for none
    mia_models: int = 16  # models per population for the population attack
    seed: int = 0
    jobs: int = 1
    device: str | None = None
    progress: bool = True


def _failures(records: list[RunRecord]) -> dict[str, dict]:
    """Per failure class: how many runs, and the first one's message."""
    found: dict[str, dict] = {}
    for record in records:
        if record.failure_class is not None:
            entry = found.setdefault(record.failure_class, {"count": 0, "first_message": record.message})
            entry["count"] += 1
    return found


def versions() -> dict[str, str]:
    """The library versions a score depends on."""
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def _pair(unlearned: np.ndarray, retrained: np.ndarray) -> dict[str, float]:
    return {"unlearned": float(unlearned.mean()), "retrained": float(retrained.mean())}


def unlearned_population(records: list[RunRecord]) -> PopulationOutputs:
    """The successful runs' outputs, in run order."""
    return PopulationOutputs.from_rows([record for record in records if record.status == "ok"])


def scored_population(records: list[RunRecord], allow_failures: bool) -> PopulationOutputs | None:
    """The successful runs' outputs if the runs get a score (as on Kaggle, a failed run fails the
    submission unless failures are allowed; the metric needs three models); None if not."""
    failed = sum(record.status != "ok" for record in records)
    if len(records) - failed < MIN_MODELS or (failed and not allow_failures):
        return None
    return unlearned_population(records)


class Scorer:
    """Scores populations of models against the same retrained references."""

    def __init__(self, references: References, settings: MetricSettings):
        self.references = references
        self.settings = settings
        self.epsilon_of = partial(
            estimate_epsilon,
            attacks=settings.attacks,
            rates=settings.rates,
            confidence=settings.confidence,
            jobs=settings.jobs,
            device=settings.device,
        )

    def estimate(self, unlearned: PopulationOutputs) -> EpsilonEstimate:
        return self.epsilon_of(unlearned.forget_statistic, self.references.retrained.head(len(unlearned)).forget_statistic)

    def forget_quality(self, unlearned: PopulationOutputs) -> float:
        return forgetting_quality(self.estimate(unlearned).epsilon, len(unlearned))

    def final_score_of(self, unlearned: PopulationOutputs, quality: float) -> float:
        """F scaled by the retain and test accuracy kept, against as many references."""
        retrained = self.references.retrained.head(len(unlearned))
        retain = _pair(unlearned.retain_accuracy, retrained.retain_accuracy)
        test = _pair(unlearned.test_accuracy, retrained.test_accuracy)
        return final_score(quality, retain["unlearned"], retain["retrained"], test["unlearned"], test["retrained"])

    def intervals(self, unlearned: PopulationOutputs, quality: float, score: float) -> dict:
        """95% intervals of F and the final score around their estimates (empty without
        replicates, or with under 4 models, too few to halve)."""
        if not self.settings.bootstrap or len(unlearned) <= MIN_MODELS:
            return {}
        retrained = self.references.retrained.head(len(unlearned))
        with tqdm(total=self.settings.bootstrap, desc="intervals", unit="half-sample", disable=None if self.settings.progress else True) as bar:
            result = intervals(
                unlearned.forget_statistic,
                retrained.forget_statistic,
                lambda u, r: self.epsilon_of(u, r, jobs=1).epsilon,
                quality,
                score,
                Accuracies(unlearned.retain_accuracy, unlearned.test_accuracy),
                Accuracies(retrained.retain_accuracy, retrained.test_accuracy),
                replicates=self.settings.bootstrap,
                seed=self.settings.seed,
                progress=bar.update,
                jobs=self.settings.jobs,
            )
        return {
            "forget_quality_ci95": list(result.forget_quality_ci95),
            "final_score_ci95": list(result.final_score_ci95),
            "interval_method": result.method,
            "interval_replicates": result.replicates,
        }

    def collateral_privacy(self, unlearned: PopulationOutputs) -> dict:
        """Per-example epsilon on the retain sample and the test set (control), with the same attacks and models."""
        retrained = self.references.retrained.head(len(unlearned))
        return {
            "retain_sample": epsilon_summary(self.epsilon_of(unlearned.retain_statistic, retrained.retain_statistic).epsilon, len(unlearned)),
            "test_control": epsilon_summary(self.epsilon_of(unlearned.test_statistic, retrained.test_statistic).epsilon, len(unlearned)),
        }

    def simple_mia(self, unlearned: PopulationOutputs) -> dict:
        """The starting kit's population attack on the original, unlearned and retrained models."""
        original = self.references.original
        retrained = self.references.retrained.head(len(unlearned))
        run = partial(population_mia, max_models=self.settings.mia_models, seed=self.settings.seed)
        return {
            "original": mia_accuracy(losses_from_statistic(original.forget_statistic), losses_from_statistic(original.test_statistic), self.settings.seed),
            "unlearned": run(unlearned.forget_statistic, unlearned.test_statistic),
            "retrained": run(retrained.forget_statistic, retrained.test_statistic),
        }


def examples_table(estimate: EpsilonEstimate, unlearned: PopulationOutputs, retrained: PopulationOutputs) -> pa.Table:
    """One row per forget example: epsilon overall and per attack, points, population medians
    (both populations of the same size)."""
    n = len(unlearned)
    columns = {
        "example": np.arange(len(estimate.epsilon)),
        "epsilon": estimate.epsilon,
        **{f"epsilon_{name}": values for name, values in estimate.by_attack.items()},
        "points": example_points(estimate.epsilon, n),
        "peaky": estimate.peaky,
        "median_unlearned": np.median(unlearned.forget_statistic, axis=0),
        "median_retrained": np.median(retrained.forget_statistic, axis=0),
    }
    return pa.table(columns)


def _poisoning(before: float, after: float, clean: float) -> dict[str, float | None]:
    """Test accuracy of the poisoned original, the unlearned models and models trained
    without the poisoned examples (the references), and the share of the loss restored."""
    return {
        "clean_accuracy": clean,
        "accuracy_before": before,
        "accuracy_after": after,
        "accuracy_restored": accuracy_restored(before, after, clean),
    }


def failed_document(spec: BenchmarkSpec, submission: str, failure_class: str, message: str, models_from: str = RUNS) -> dict:
    """score.json of a submission that never got runs scored: refused before any run (a notebook
    that is not one), or whose scoring stopped with an error of the harness's own. A leaderboard
    lists it as failed and goes on with the others."""
    return {
        "benchmark": spec.name,
        "benchmark_key": spec.key(),
        "submission": submission,
        "models_from": models_from,
        "status": "failed",
        "runs": {},
        "failures": {failure_class: {"count": 0, "first_message": message}},
        "forget_quality": None,
        "final_score": None,
        "time_budget": {"unlearn_median_s": None, "retrain_median_s": None, "ratio": None, "ratio_ci": None, "verdict": "unknown", "eligible": False},
        "versions": versions(),
    }


def score_document(
    spec: BenchmarkSpec,
    submission: str,
    submission_sha256: str,
    records: list[RunRecord],
    scorer: Scorer,
    budget: TimeBudget | UnmeasuredBudget,
    allow_failures: bool,
    models_from: str = RUNS,
) -> tuple[dict, pa.Table | None]:
    """score.json's content and the per-example table (None when not scored).

    With any failed run the submission is not scored, unless failures are
    allowed: then its successful runs are scored against as many references,
    so that both populations keep the same size as the metric assumes.
    """
    counts = Counter(record.status for record in records)
    failed = len(records) - counts.get("ok", 0)
    document = {
        "benchmark": spec.name,
        "benchmark_key": spec.key(),
        "submission": submission,
        "submission_sha256": submission_sha256,
        "models_from": models_from,
        "n_models": len(records),
        "runs": {status: counts.get(status, 0) for status in STATUSES},
        "failures": _failures(records),
        "time_budget": budget.to_dict(),
        "versions": versions(),
    }
    retried = sum(record.attempt > 1 for record in records)
    if retried:  # a run's latest attempt is the one scored: an organiser sees how many were not first attempts
        document["runs_retried"] = retried
    unlearned = scored_population(records, allow_failures)
    if unlearned is None:
        return {**document, "status": "failed", "forget_quality": None, "final_score": None}, None
    retrained = scorer.references.retrained.head(len(unlearned))
    estimate = scorer.estimate(unlearned)
    quality = forgetting_quality(estimate.epsilon, len(unlearned))
    retain = _pair(unlearned.retain_accuracy, retrained.retain_accuracy)
    test = _pair(unlearned.test_accuracy, retrained.test_accuracy)
    settings = scorer.settings
    document.update(
        status="scored" if not failed else "scored-with-failures",
        n_models_scored=len(unlearned),
        forget_quality=quality,
        retain_accuracy=retain,
        test_accuracy=test,
        forget_accuracy=_pair(unlearned.forget_accuracy, retrained.forget_accuracy),
        final_score=scorer.final_score_of(unlearned, quality),
        metric={"attacks": settings.attacks, "rates": settings.rates, **({"confidence": settings.confidence} if settings.rates != "empirical" else {})},
        epsilon={
            "mean": float(estimate.epsilon.mean()),
            "median": float(np.median(estimate.epsilon)),
            "peaky_examples": int(estimate.peaky.sum()),
            "undetermined_examples": int(estimate.undetermined.sum()),
        },
        epsilon_by_attack={
            name: {"mean": float(values.mean()), "median": float(np.median(values)), "forget_quality": forgetting_quality(values, len(unlearned))}
            for name, values in estimate.by_attack.items()
        },
        original_model={
            "retain_accuracy": scorer.references.original.retain_accuracy,
            "test_accuracy": scorer.references.original.test_accuracy,
            "forget_accuracy": scorer.references.original.forget_accuracy,
        },
    )
    document.update(scorer.intervals(unlearned, quality, document["final_score"]))
    document["simple_mia"] = scorer.simple_mia(unlearned)
    document["collateral_privacy"] = scorer.collateral_privacy(unlearned)  # not part of the score
    if spec.forget_selection == "poisoned":
        document.update(_poisoning(scorer.references.original.test_accuracy, test["unlearned"], test["retrained"]))
    return document, examples_table(estimate, unlearned, retrained)
