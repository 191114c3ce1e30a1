"""The metric panel: the same models judged by three other metrics beside the official one.

The official final score stays the competition's number. The panel asks whether a ranking survives a change
of metric: a stronger set of threshold attacks, an out-of-sample likelihood-ratio attack, and KLoM, which
needs no attack at all. Each is computed from the statistics the official score already used (no new run),
and gets its 95% interval from the same half-samples (`scoring.intervals`, the same seed draws the same
halves). docs/metric.md says what each one measures; docs/agreement.md how far their rankings agree.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np

from scoring.epsilon import estimate_epsilon
from scoring.intervals import Accuracies, final_score_of_draw, half_draws, normal_interval, over_halves, variance_factor
from scoring.klom import klom
from scoring.lira import lira_epsilon
from scoring.quality import MIN_MODELS, forgetting_quality

ValueT = TypeVar("ValueT", float, np.ndarray)

# The exact attacks find every rule their grids find and more (scoring.attacks), so these three give the
# `strong` preset's epsilons (all five attacks) without running the two grids again.
STRONG_ATTACKS = "interval-exact,single-threshold-exact,gaussian-lr"
KLOM_PERCENTILE = 95  # the forget set's KLoM is summed up by this percentile of its examples' values


@dataclass(frozen=True)
class PanelMetric:
    """One metric of the panel: which way is better, where it comes from, and what it says."""

    name: str
    better: str  # "higher" or "lower"
    source: str
    says: str


OFFICIAL = PanelMetric(
    "official", "higher",
    "Triantafillou et al. 2024 (arXiv 2406.09073) and the organisers' scorer: F from the official grids, times the kept accuracies",
    "the competition's final score",
)
STRONG = PanelMetric(
    "strong", "higher",
    "scoring/attacks.py: the official grids' rules at every sample value, and a Gaussian likelihood ratio (Hayes et al. 2024)",
    "the final score if an attacker tries every threshold and interval: never above the official one",
)
LIRA = PanelMetric(
    "lira", "higher",
    "U-LiRA style (Hayes et al. 2024, arXiv 2403.01218): per-example Gaussians fitted on half the models, tested on the other half",
    "the final score under a per-example likelihood-ratio attack whose error rates are measured out of sample",
)
KLOM = PanelMetric(
    "klom", "lower",
    f"Georgiev et al. 2025 (arXiv 2410.23232, appendix E.1): KL divergence of binned margins, {KLOM_PERCENTILE}th percentile of the forget set",
    "how far the unlearned models' margins lie from the retrained ones' on the worst forget examples: 0 is indistinguishable",
)
METRICS = {metric.name: metric for metric in (OFFICIAL, STRONG, LIRA, KLOM)}
RANK_BY = tuple(METRICS)
ATTACK_METRICS = ("strong", "lira")  # an F times the kept accuracies, like the official score
NON_OFFICIAL = tuple(name for name in METRICS if name != OFFICIAL.name)  # what `panel` computes: the official score is the document's


def goodness(name: str, value: ValueT) -> ValueT:
    """A metric's value (or values) oriented so that higher is better, KLoM's negated: what a ranking compares."""
    return value if METRICS[name].better == "higher" else -value


def per_example(unlearned: np.ndarray, retrained: np.ndarray, jobs: int = 1) -> dict[str, np.ndarray]:
    """Each forget example's value under the non-official metrics: the strong and the LiRA-style epsilon, and KLoM."""
    return {
        "strong": estimate_epsilon(unlearned, retrained, attacks=STRONG_ATTACKS, jobs=jobs).epsilon,
        "lira": lira_epsilon(unlearned, retrained),
        "klom": klom(unlearned, retrained),
    }


def forget_values(examples: dict[str, np.ndarray], n_models: int) -> dict[str, float]:
    """The forget set's value of each: F from the epsilons (as the official F), the KLoM percentile."""
    return {
        "strong": forgetting_quality(examples["strong"], n_models),
        "lira": forgetting_quality(examples["lira"], n_models),
        "klom": klom_summary(examples["klom"]),
    }


def klom_summary(values: np.ndarray) -> float:
    return float(np.percentile(values, KLOM_PERCENTILE))


@dataclass(frozen=True)
class PanelResult:
    """Each non-official metric's value, its forget-set F (attacks), its 95% interval (None: too few models or
    replicates) and its per-example values."""

    values: dict[str, float]
    forget_quality: dict[str, float]
    ci95: dict[str, tuple[float, float] | None]
    examples: dict[str, np.ndarray]
    replicates: dict[str, tuple[float, ...]]  # each half-sample's value, in draw order (empty without intervals)


def _value(name: str, forget: dict[str, float], kept: float) -> float:
    """A metric's value: an attack's F times the factor of kept accuracies, as the final score is; KLoM as it is."""
    return forget[name] * kept if name in ATTACK_METRICS else forget[name]


def _replicate(unlearned: np.ndarray, retrained: np.ndarray, u: np.ndarray, r: np.ndarray, *,
               accuracies: tuple[Accuracies, Accuracies]) -> np.ndarray:
    half = forget_values(per_example(unlearned[u], retrained[r]), min(len(u), len(r)))
    kept = final_score_of_draw(1.0, *accuracies, u, r)  # the final score's factor of kept accuracies
    return np.array([_value(name, half, kept) for name in NON_OFFICIAL])


def panel(
    unlearned: np.ndarray,
    retrained: np.ndarray,
    unlearned_accuracy: Accuracies,
    retrained_accuracy: Accuracies,
    replicates: int,
    seed: int,
    jobs: int = 1,
    progress: Callable[[], None] | None = None,
) -> PanelResult:
    """The panel's values on statistics [N, E] of both populations, with intervals from `replicates` half-samples
    (none with under 2, or with too few models to halve)."""
    n = min(len(unlearned), len(retrained))
    examples = per_example(unlearned, retrained, jobs)
    forget = forget_values(examples, n)
    kept = final_score_of_draw(1.0, unlearned_accuracy, retrained_accuracy, np.arange(len(unlearned)), np.arange(len(retrained)))
    values = {name: float(_value(name, forget, kept)) for name in NON_OFFICIAL}
    ci95: dict[str, tuple[float, float] | None] = dict.fromkeys(NON_OFFICIAL)
    replicated: dict[str, tuple[float, ...]] = {name: () for name in NON_OFFICIAL}
    if replicates >= 2 and n > MIN_MODELS:
        draws = half_draws(len(unlearned), len(retrained), replicates, np.random.default_rng(seed))
        accuracies = (unlearned_accuracy, retrained_accuracy)
        results = over_halves(partial(_replicate, accuracies=accuracies), (unlearned, retrained), draws, progress, jobs)
        for column, name in enumerate(NON_OFFICIAL):
            low, high = normal_interval(values[name], results[:, column], variance_factor=variance_factor(n))
            ci95[name] = (float(low), float(high))
            replicated[name] = tuple(float(value) for value in results[:, column])
    return PanelResult(values, {name: forget[name] for name in ATTACK_METRICS}, ci95, examples, replicated)
