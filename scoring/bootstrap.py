"""Confidence intervals for F and the final score, by resampling models.

The models of each population are the random draws behind the estimate:
resampling them with replacement (both populations, independently) and
recomputing everything gives the spread that another run of the whole
protocol would show. Percentile intervals, seeded.
"""

from dataclasses import dataclass
from typing import Callable

from joblib import Parallel, delayed
import numpy as np

from scoring.quality import final_score, forgetting_quality

# The one name of these intervals, wherever one is shown (console, report, leaderboards):
# percentiles of resampled models, not a calibrated 95% confidence interval.
INTERVAL_LABEL = "bootstrap 2.5-97.5%"

EpsilonFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Accuracies:
    """Per-model retain and test accuracy of one population, aligned with its statistics."""

    retain: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class BootstrapResult:
    forget_quality_ci95: tuple[float, float]
    final_score_ci95: tuple[float, float] | None  # None without accuracies
    replicates: int


def _interval(samples: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def bootstrap(
    unlearned: np.ndarray,
    retrained: np.ndarray,
    epsilon_fn: EpsilonFn,
    unlearned_accuracy: Accuracies | None = None,
    retrained_accuracy: Accuracies | None = None,
    replicates: int = 100,
    seed: int = 0,
    progress: Callable[[], None] | None = None,
    jobs: int = 1,
) -> BootstrapResult:
    """95% intervals of F and the final score over `replicates` resamplings.

    `epsilon_fn(U, R)` is the per-example epsilon under the chosen attacks
    and rates, so the interval describes the same estimator as the score; give
    it one thread and `jobs` threads here, which split whole replicates evenly.
    All resamplings are drawn first, so the result does not depend on `jobs`.
    """
    if replicates < 2:
        raise ValueError(f"a bootstrap needs at least 2 replicates, got {replicates}")
    rng = np.random.default_rng(seed)
    n_u, n_r = len(unlearned), len(retrained)
    draws = [(rng.integers(0, n_u, n_u), rng.integers(0, n_r, n_r)) for _ in range(replicates)]

    def replicate(u: np.ndarray, r: np.ndarray) -> tuple[float, float]:
        quality = forgetting_quality(epsilon_fn(unlearned[u], retrained[r]), min(n_u, n_r))
        score = np.nan
        if unlearned_accuracy is not None and retrained_accuracy is not None:
            score = final_score(
                quality,
                unlearned_accuracy.retain[u].mean(),
                retrained_accuracy.retain[r].mean(),
                unlearned_accuracy.test[u].mean(),
                retrained_accuracy.test[r].mean(),
            )
        if progress is not None:
            progress()
        return quality, score

    results = np.array(Parallel(n_jobs=jobs, backend="threading")(delayed(replicate)(u, r) for u, r in draws))
    with_scores = unlearned_accuracy is not None and retrained_accuracy is not None
    return BootstrapResult(_interval(results[:, 0]), _interval(results[:, 1]) if with_scores else None, replicates)
