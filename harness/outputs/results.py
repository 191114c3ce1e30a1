"""score.json and the per-example table: the ledger's runs against the references."""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
import logging
from pathlib import Path
import platform
import time
from typing import Any

import numpy as np
import pyarrow as pa
import sklearn
import torch

from harness.running.failure_policy import not_started_note
from harness.running.ledger import STATUSES, RunRecord
from reference_models.cache import References
from reference_models.evaluation import PopulationOutputs
from reference_models.files import write_atomic
from reference_models.progress import progress
from reference_models.spec import BenchmarkSpec
from scoring.collateral import epsilon_spread
from scoring.document import (
    AttackSummary,
    CheckpointsUsed,
    CollateralPrivacy,
    CompetitionUsed,
    EpsilonSummary,
    Failure,
    Isolation,
    MetricUsed,
    OriginalModel,
    OriginalScore,
    OriginalsStudy,
    Pair,
    PanelEntry,
    Poisoning,
    ScoreDocument,
    SimpleMia,
    TimeBudget,
    UnmeasuredBudget,
    to_json,
)
from scoring.epsilon import EpsilonEstimate, Epsilons
from scoring.forecast import standard_error
from scoring.intervals import Accuracies, IntervalResult, intervals
from scoring.klom import klom
from scoring.mia import losses_from_statistic, mia_accuracy, population_mia
from scoring.originals import heterogeneity, heterogeneity_note
from scoring.panel import ATTACK_METRICS, METRICS, klom_summary, panel
from scoring.quality import MIN_MODELS, accuracy_restored, example_points, final_score, forgetting_quality

log = logging.getLogger(__name__)

RESULT_FILES = ("score.json", "examples.parquet", "report.html")  # what a score writes into its output folder
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


def _failures(records: list[RunRecord]) -> dict[str, Failure]:
    """Per failure class: how many runs, and the first one's message."""
    failed = [record for record in records if record.failure_class is not None]
    counts = Counter(record.failure_class for record in failed)
    first = {record.failure_class: record.message for record in reversed(failed)}  # the earliest wins
    return {name: Failure(count, first[name]) for name, count in counts.items()}


def versions() -> dict[str, str]:
    """The library versions a score depends on."""
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def _pair(unlearned: np.ndarray, retrained: np.ndarray) -> Pair:
    """Mean accuracies of the unlearned models and of as many retrained ones."""
    return Pair(float(unlearned.mean()), float(retrained.mean()))


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
        self.epsilons = Epsilons(settings.attacks, settings.rates, settings.confidence, settings.device)

    def estimate(self, unlearned: PopulationOutputs) -> EpsilonEstimate:
        return self.epsilons.estimate(unlearned.forget_statistic, self.references.retrained.head(len(unlearned)).forget_statistic, self.settings.jobs)

    def forget_quality(self, unlearned: PopulationOutputs) -> float:
        return forgetting_quality(self.estimate(unlearned).epsilon, len(unlearned))

    def final_score_of(self, unlearned: PopulationOutputs, quality: float) -> float:
        """F scaled by the retain and test accuracy kept, against as many references."""
        retrained = self.references.retrained.head(len(unlearned))
        retain, test = _pair(unlearned.retain_accuracy, retrained.retain_accuracy), _pair(unlearned.test_accuracy, retrained.test_accuracy)
        return final_score(quality, retain.unlearned, retain.retrained, test.unlearned, test.retrained)

    def intervals(self, unlearned: PopulationOutputs, quality: float, score: float, what: str = "intervals") -> IntervalResult | None:
        """The 95% intervals of F and the final score around their estimates, with the final score of each half-sample
        (None without replicates, or with under 4 models, too few to halve); `what` names them on the progress bar."""
        if not self.settings.bootstrap or len(unlearned) <= MIN_MODELS:
            return None
        retrained = self.references.retrained.head(len(unlearned))
        with progress(self.settings.bootstrap, what, "half-sample", self.settings.progress) as bar:
            result = intervals(
                unlearned.forget_statistic,
                retrained.forget_statistic,
                self.epsilons,
                quality,
                score,
                Accuracies(unlearned.retain_accuracy, unlearned.test_accuracy),
                Accuracies(retrained.retain_accuracy, retrained.test_accuracy),
                replicates=self.settings.bootstrap,
                seed=self.settings.seed,
                progress=bar.update,
                jobs=self.settings.jobs if self.settings.device is None else 1,  # on a device, the device does the work
            )
        return result

    def panel(self, unlearned: PopulationOutputs, quality: float, score: float, score_ci95: tuple[float, float] | None,
              score_replicates: tuple[float, ...]) -> tuple[dict[str, PanelEntry], dict[str, np.ndarray]]:
        """The metric panel beside the score (F `quality`, the final `score`, its interval and half-samples), and its
        per-example values."""
        retrained = self.references.retrained.head(len(unlearned))
        replicates = self.settings.bootstrap
        start = time.perf_counter()
        with progress(replicates, "metric panel", "half-sample", self.settings.progress and replicates > 0) as bar:
            result = panel(
                unlearned.forget_statistic, retrained.forget_statistic,
                Accuracies(unlearned.retain_accuracy, unlearned.test_accuracy), Accuracies(retrained.retain_accuracy, retrained.test_accuracy),
                replicates, self.settings.seed, self.settings.jobs, bar.update,
            )
        controls = {"retain_sample": klom_summary(klom(unlearned.retain_statistic, retrained.retain_statistic)),
                    "test_control": klom_summary(klom(unlearned.test_statistic, retrained.test_statistic))}
        log.debug(f"metric panel: {time.perf_counter() - start:.1f} s")  # -v; part of the metric's stage

        def entry(name: str, value: float, ci95: tuple[float, float] | None, says: str | None = None, **more: Any) -> PanelEntry:
            metric = METRICS[name]
            return PanelEntry(value, ci95, metric.better, metric.source, says or metric.says, **more)

        settings = self.settings
        as_scored = None if (settings.attacks, settings.rates) == ("official", "empirical") else (
            f"the final score as scored here, attacks {settings.attacks} and rates {settings.rates}: not the competition's metric")
        entries = {
            "official": entry("official", score, score_ci95, as_scored, forget_quality=quality, replicates=score_replicates),
            **{name: entry(name, result.values[name], result.ci95[name], forget_quality=result.forget_quality[name], replicates=result.replicates[name])
               for name in ATTACK_METRICS},
            "klom": entry("klom", result.values["klom"], result.ci95["klom"], controls=controls, replicates=result.replicates["klom"]),
        }
        return entries, result.examples

    def originals_study(self, records: list[RunRecord], allow_failures: bool) -> OriginalsStudy:
        """Under --originals K, the runs from each original (run i is from original i mod K) scored against the same
        first N/K references, each with its interval, and how much they differ beyond chance (scoring.originals)."""
        count = len(self.references.originals)
        scores = []
        for index, original in enumerate(self.references.originals):
            accuracies = OriginalModel(original.retain_accuracy, original.test_accuracy, original.forget_accuracy)
            unlearned = scored_population([record for record in records if record.run_id % count == index], allow_failures)
            if unlearned is None:
                scores.append(OriginalScore(index, accuracies, None, None, None, None, None))
                continue
            quality = self.forget_quality(unlearned)
            score = self.final_score_of(unlearned, quality)
            interval = self.intervals(unlearned, quality, score, f"intervals, original {index}")
            scores.append(OriginalScore(index, accuracies, len(unlearned), quality, score, None if interval is None else interval.final_score_ci95,
                                        None if interval is None else standard_error(interval.final_score_replicates, len(unlearned))))
        finals = np.array([np.nan if s.final_score is None else s.final_score for s in scores])
        spread = heterogeneity(finals, np.array([s.standard_error or 0.0 for s in scores]))
        return OriginalsStudy(count, tuple(scores), spread, heterogeneity_note(spread, count))

    def collateral_privacy(self, unlearned: PopulationOutputs) -> CollateralPrivacy:
        """Per-example epsilon on the retain sample and the test set (control), with the same attacks and models."""
        retrained = self.references.retrained.head(len(unlearned))
        return CollateralPrivacy(
            retain_sample=epsilon_spread(self.epsilons.estimate(unlearned.retain_statistic, retrained.retain_statistic, self.settings.jobs).epsilon,
                                         len(unlearned)),
            test_control=epsilon_spread(self.epsilons.estimate(unlearned.test_statistic, retrained.test_statistic, self.settings.jobs).epsilon,
                                        len(unlearned)),
        )

    def simple_mia(self, unlearned: PopulationOutputs) -> SimpleMia:
        """The starting kit's population attack on the original, unlearned and retrained models."""
        original = self.references.original
        retrained = self.references.retrained.head(len(unlearned))
        run = partial(population_mia, max_models=self.settings.mia_models, seed=self.settings.seed)
        return SimpleMia(
            original=mia_accuracy(losses_from_statistic(original.forget_statistic), losses_from_statistic(original.test_statistic), self.settings.seed),
            unlearned=run(unlearned.forget_statistic, unlearned.test_statistic),
            retrained=run(retrained.forget_statistic, retrained.test_statistic),
        )


def examples_table(estimate: EpsilonEstimate, panel_examples: dict[str, np.ndarray], unlearned: PopulationOutputs,
                   retrained: PopulationOutputs) -> pa.Table:
    """One row per forget example: epsilon overall and per attack, points, the panel's values, population medians
    (both populations of the same size)."""
    n = len(unlearned)
    columns = {
        "example": np.arange(len(estimate.epsilon)),
        "epsilon": estimate.epsilon,
        **{f"epsilon_{name}": values for name, values in estimate.by_attack.items()},
        "points": example_points(estimate.epsilon, n),
        "peaky": estimate.peaky,
        "epsilon_strong": panel_examples["strong"],
        "epsilon_lira": panel_examples["lira"],
        "klom": panel_examples["klom"],
        "median_unlearned": np.median(unlearned.forget_statistic, axis=0),
        "median_retrained": np.median(retrained.forget_statistic, axis=0),
    }
    return pa.table(columns)


def _poisoning(before: float, after: float, clean: float) -> Poisoning:
    """Test accuracy of the poisoned original, the unlearned models and models trained
    without the poisoned examples (the references), and the share of the loss restored."""
    return Poisoning(clean_accuracy=clean, accuracy_before=before, accuracy_after=after, accuracy_restored=accuracy_restored(before, after, clean))


@dataclass(frozen=True)
class Circumstances:
    """What score.json says beside the metric, as the pipeline knows it: where the submission ran, under which
    competition, from which checkpoints, how many runs were planned, and the ceiling's population where asked for."""

    isolation: Isolation
    competition: CompetitionUsed | None = None
    checkpoints: CheckpointsUsed | None = None
    n_planned: int | None = None  # runs planned, where some were never started (None: as many as the records)
    ceiling: Callable[[int], PopulationOutputs] | None = None  # the first n models retrained from scratch, for --ceiling


def write_score(out_dir: Path, document: ScoreDocument) -> None:
    """out_dir/score.json: the one place it is written."""
    write_atomic(out_dir / "score.json", to_json(document).encode())


def write_failed(out_dir: Path, document: ScoreDocument) -> None:
    """score.json of an entry that got no score, and no earlier score's examples or report beside it to explain it."""
    for name in RESULT_FILES:
        (out_dir / name).unlink(missing_ok=True)
    write_score(out_dir, document)


def failed_document(spec: BenchmarkSpec, submission: str, failure_class: str, message: str, budget: UnmeasuredBudget,
                    models_from: str = RUNS) -> ScoreDocument:
    """score.json of a submission that never got runs scored: refused before any run (a notebook
    that is not one), or whose scoring stopped with an error of the harness's own. A leaderboard
    lists it as failed and goes on with the others."""
    return ScoreDocument(
        benchmark=spec.name,
        benchmark_key=spec.key(),
        submission=submission,
        models_from=models_from,
        status="failed",
        runs={},
        failures={failure_class: Failure(0, message)},
        time_budget=budget,
        versions=versions(),
    )


def score_document(
    spec: BenchmarkSpec,
    submission: str,
    submission_sha256: str,
    records: list[RunRecord],
    scorer: Scorer,
    budget: TimeBudget | UnmeasuredBudget,
    allow_failures: bool,
    circumstances: Circumstances,
    models_from: str = RUNS,
) -> tuple[ScoreDocument, pa.Table | None]:
    """score.json's document, whole, and the per-example table (None when not scored).

    With any failed run the submission is not scored, unless failures are
    allowed: then its successful runs are scored against as many references,
    so that both populations keep the same size as the metric assumes.
    """
    counts = Counter(record.status for record in records)
    runs = {status: counts.get(status, 0) for status in STATUSES}
    not_started = None if circumstances.n_planned is None else not_started_note(circumstances.n_planned, records)
    if not_started is not None:
        runs["not started"] = not_started.count
    common = ScoreDocument(
        benchmark=spec.name,
        benchmark_key=spec.key(),
        submission=submission,
        submission_sha256=submission_sha256,
        models_from=models_from,
        status="failed",
        n_models=len(records) + (not_started.count if not_started else 0),
        runs=runs,
        runs_retried=sum(record.attempt > 1 for record in records),  # a run's latest attempt is the one scored
        not_started=not_started,
        failures=_failures(records),
        time_budget=budget,
        isolation=circumstances.isolation,
        competition=circumstances.competition,
        checkpoints=circumstances.checkpoints,
        versions=versions(),
    )
    unlearned = scored_population(records, allow_failures)
    if unlearned is None:
        return common, None
    n = len(unlearned)
    retrained = scorer.references.retrained.head(n)
    estimate = scorer.estimate(unlearned)
    quality = forgetting_quality(estimate.epsilon, n)
    test = _pair(unlearned.test_accuracy, retrained.test_accuracy)
    score = scorer.final_score_of(unlearned, quality)
    settings, original = scorer.settings, scorer.references.original
    interval = scorer.intervals(unlearned, quality, score)
    document = replace(
        common,
        status="scored" if counts.get("ok", 0) == len(records) else "scored-with-failures",
        n_models_scored=n,
        forget_quality=quality,
        final_score=score,
        forget_quality_ci95=None if interval is None else tuple(interval.forget_quality_ci95),
        final_score_ci95=None if interval is None or interval.final_score_ci95 is None else tuple(interval.final_score_ci95),
        interval_method=None if interval is None else interval.method,
        interval_replicates=None if interval is None else interval.replicates,
        forget_quality_ceiling=None if circumstances.ceiling is None else scorer.forget_quality(circumstances.ceiling(n)),
        retain_accuracy=_pair(unlearned.retain_accuracy, retrained.retain_accuracy),
        test_accuracy=test,
        forget_accuracy=_pair(unlearned.forget_accuracy, retrained.forget_accuracy),
        metric=MetricUsed(settings.attacks, settings.rates, settings.confidence if settings.rates != "empirical" else None),
        epsilon=EpsilonSummary(float(estimate.epsilon.mean()), float(np.median(estimate.epsilon)), int(estimate.peaky.sum()),
                               int(estimate.undetermined.sum())),
        epsilon_by_attack={name: AttackSummary(float(values.mean()), float(np.median(values)), forgetting_quality(values, n))
                           for name, values in estimate.by_attack.items()},
        original_model=OriginalModel(original.retain_accuracy, original.test_accuracy, original.forget_accuracy),
        originals=scorer.originals_study(records, allow_failures) if len(scorer.references.originals) > 1 else None,
        simple_mia=scorer.simple_mia(unlearned),
        collateral_privacy=scorer.collateral_privacy(unlearned),  # not part of the score
        poisoning=_poisoning(original.test_accuracy, test.unlearned, test.retrained) if spec.forget_selection == "poisoned" else None,
    )
    entries, panel_examples = scorer.panel(unlearned, quality, score, document.final_score_ci95, () if interval is None else interval.final_score_replicates)
    return replace(document, panel=entries), examples_table(estimate, panel_examples, unlearned, retrained)
