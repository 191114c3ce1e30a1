"""95% intervals for F and the final score, over the randomness of the models.

The N unlearned and N retrained models are random draws; an interval should
cover the score that the same protocol gives on average at the same N. F is
biased by N (fewer models, larger epsilons), so resampling with replacement
misleads: duplicated models make the populations easier to separate, and the
replicates sit below the estimate (docs/uncertainty.md).

Half-sampling does not duplicate: each replicate scores a random half of each
population, without replacement. Keeping m of n models (d = n - m deleted),
the delete-d jackknife variance (Shao and Wu 1989, Ann. Statist. 17) is
m / d times the variance of the subsample estimates, consistent also for
non-smooth statistics such as quantiles when d grows with n; for halves the
factor is 1. Below 6 models a half would be under the metric's 3, so m is 3
(at N = 4 and 5). The interval is the estimate +- t times its
square root, t the 97.5% quantile of Student's t on (halves - 1) degrees of
freedom since the variance is itself estimated from the random halves (1.98
for the default 100); it always contains the estimate. The simulation in
benchmarks/interval_coverage.py chose this method over the alternatives.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from joblib import Parallel, delayed
import numpy as np
from scipy import stats

from scoring.quality import MIN_MODELS, final_score, forgetting_quality

# The one name of these intervals wherever one is shown (console, report, leaderboards).
INTERVAL_LABEL = "95% CI, half-sampling"

EpsilonFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
Draw = tuple[np.ndarray, np.ndarray]
METHOD = "half-sampling"


@dataclass(frozen=True)
class Accuracies:
    """Per-model retain and test accuracy of one population, aligned with its statistics."""

    retain: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class IntervalResult:
    forget_quality_ci95: tuple[float, float]
    final_score_ci95: tuple[float, float] | None  # None without accuracies
    replicates: int
    method: str = METHOD
    final_score_replicates: tuple[float, ...] = ()  # each half-sample's final score, in draw order (empty without accuracies)


def kept(n_models: int) -> int:
    """Models a half-sample keeps of n: half, but never under the metric's minimum."""
    if n_models <= MIN_MODELS:
        raise ValueError(f"half-sampling needs at least {MIN_MODELS + 1} models per population, got {n_models}")
    return max(MIN_MODELS, n_models // 2)


def variance_factor(n_models: int) -> float:
    """m / d of the delete-d jackknife: 1 for even halves."""
    m = kept(n_models)
    return m / (n_models - m)


def half_draws(n_u: int, n_r: int, replicates: int, rng: np.random.Generator) -> list[Draw]:
    """Index pairs of random halves (without replacement) of both populations."""
    return [(rng.permutation(n_u)[: kept(n_u)], rng.permutation(n_r)[: kept(n_r)]) for _ in range(replicates)]


PROCESS_WORK = 2_000_000  # statistics scored over all replicates (draws x models x examples) from which processes pay


def _batch(fn: Callable[..., np.ndarray], arrays: tuple[np.ndarray, ...], draws: list[Draw]) -> np.ndarray:
    return np.array([np.atleast_1d(np.asarray(fn(*arrays, u, r), dtype=np.float64)) for u, r in draws])


def over_halves(fn: Callable[..., np.ndarray], arrays: tuple[np.ndarray, ...], draws: list[Draw],
                progress: Callable[[], None] | None = None, jobs: int = 1) -> np.ndarray:
    """[replicates, k]: fn(*arrays, unlearned indices, retrained indices) for each draw, in draw order.

    The metric works on small per-example arrays, so threads mostly wait for each other on the GIL (two
    threads ran the panel slower than one). With jobs > 1 and enough work, batches of draws go to `jobs`
    worker processes instead (joblib's loky), which get `arrays` with each batch; below PROCESS_WORK
    starting them costs more than it saves, and the draws run in threads. Same draws, same numbers.
    """
    report = progress or (lambda: None)
    work = len(draws) * sum(array.size for array in arrays[:2])
    if jobs > 1 and work >= PROCESS_WORK:
        size = max(1, -(-len(draws) // (4 * jobs)))  # about four batches a process, for the progress bar
        batches = [draws[start : start + size] for start in range(0, len(draws), size)]
        parts = []
        for part in Parallel(n_jobs=jobs, backend="loky", return_as="generator")(delayed(_batch)(fn, arrays, batch) for batch in batches):
            parts.append(part)
            for _ in range(len(part)):
                report()
        return np.concatenate(parts).reshape(len(draws), -1)

    def one(u: np.ndarray, r: np.ndarray) -> np.ndarray:
        values = _batch(fn, arrays, [(u, r)])
        report()
        return values

    return np.concatenate(Parallel(n_jobs=jobs, backend="threading")(delayed(one)(u, r) for u, r in draws)).reshape(len(draws), -1)


def final_score_of_draw(quality: float, unlearned: Accuracies, retrained: Accuracies, u: np.ndarray, r: np.ndarray) -> float:
    """The final score of a draw's models (indices u and r) with forgetting quality `quality`."""
    return final_score(quality, unlearned.retain[u].mean(), retrained.retain[r].mean(), unlearned.test[u].mean(), retrained.test[r].mean())


def _official_replicate(unlearned: np.ndarray, retrained: np.ndarray, u: np.ndarray, r: np.ndarray, *,
                        epsilon_fn: EpsilonFn, accuracies: tuple[Accuracies, Accuracies] | None) -> np.ndarray:
    """F and the final score (NaN without accuracies) of one draw's models."""
    quality = forgetting_quality(epsilon_fn(unlearned[u], retrained[r]), min(len(u), len(r)))
    return np.array([quality, np.nan if accuracies is None else final_score_of_draw(quality, *accuracies, u, r)])


def replicate_scores(
    unlearned: np.ndarray,
    retrained: np.ndarray,
    epsilon_fn: EpsilonFn,
    draws: list[Draw],
    unlearned_accuracy: Accuracies | None = None,
    retrained_accuracy: Accuracies | None = None,
    progress: Callable[[], None] | None = None,
    jobs: int = 1,
) -> np.ndarray:
    """[replicates, 2]: F and the final score (NaN without accuracies) of each draw's models."""
    accuracies = None if unlearned_accuracy is None or retrained_accuracy is None else (unlearned_accuracy, retrained_accuracy)
    return over_halves(partial(_official_replicate, epsilon_fn=epsilon_fn, accuracies=accuracies), (unlearned, retrained), draws, progress, jobs)


def normal_interval(estimate: float, replicates: np.ndarray, upper: float = np.inf, variance_factor: float = 1.0,
                    lower: float = 0.0) -> tuple[float, float]:
    """estimate +- t(0.975, B - 1) standard errors (replicate SD times sqrt(variance_factor)), clipped to [lower, upper]."""
    spread = float(stats.t.ppf(0.975, len(replicates) - 1) * np.std(replicates, ddof=1) * np.sqrt(variance_factor))
    return max(lower, estimate - spread), min(upper, estimate + spread)


def intervals(
    unlearned: np.ndarray,
    retrained: np.ndarray,
    epsilon_fn: EpsilonFn,
    quality: float,
    score: float | None = None,
    unlearned_accuracy: Accuracies | None = None,
    retrained_accuracy: Accuracies | None = None,
    replicates: int = 100,
    seed: int = 0,
    progress: Callable[[], None] | None = None,
    jobs: int = 1,
) -> IntervalResult:
    """95% intervals around the estimates `quality` (F) and `score` from `replicates` half-samples.

    `epsilon_fn(U, R)` is the per-example epsilon under the chosen attacks
    and rates, so the interval describes the same estimator as the score; give
    it one thread, and `jobs` here, which split whole replicates (`over_halves`;
    it may be sent to worker processes, so it should carry no large state).
    All halves are drawn first, so the result does not depend on `jobs`.
    """
    if replicates < 2:
        raise ValueError(f"an interval needs at least 2 replicates, got {replicates}")
    draws = half_draws(len(unlearned), len(retrained), replicates, np.random.default_rng(seed))
    results = replicate_scores(unlearned, retrained, epsilon_fn, draws, unlearned_accuracy, retrained_accuracy, progress, jobs)
    with_scores = score is not None and unlearned_accuracy is not None and retrained_accuracy is not None
    factor = variance_factor(min(len(unlearned), len(retrained)))
    return IntervalResult(
        normal_interval(quality, results[:, 0], upper=1.0, variance_factor=factor),
        normal_interval(score, results[:, 1], variance_factor=factor) if with_scores and score is not None else None,
        replicates,
        final_score_replicates=tuple(float(value) for value in results[:, 1]) if with_scores else (),
    )
