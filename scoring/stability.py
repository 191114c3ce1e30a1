"""Ranking stability: does a leaderboard with fewer models rank submissions as the largest N does?

The metric is noisy and biased at small N, so a cheap leaderboard is only
useful if it orders submissions like the expensive one. Pure functions on a
score matrix, submissions x N, NaN where a submission got no score: rank
correlations of each N's column against the largest N's, per-N ranks, and
their Arrow tables (their display cells are in `rendering.stability`).
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
from scipy.stats import kendalltau, rankdata, spearmanr


@dataclass(frozen=True)
class Agreement:
    """How far the ranking at one N agrees with the ranking at the largest N."""

    n_models: int
    compared: int  # submissions scored at every N
    kendall_tau: float  # tau-b, which accounts for ties; NaN when undefined
    spearman_rho: float  # NaN when undefined


def rank_agreement(scores: np.ndarray, n_models: Sequence[int]) -> list[Agreement]:
    """Kendall's tau-b and Spearman's rho of each N's scores against the largest N's.

    `scores` is [submissions, len(n_models)]. Only submissions scored at every
    N are compared, so every correlation is over the same set. A correlation is
    NaN when fewer than two submissions are compared or either ranking is one
    big tie (it has no order to agree with).
    """
    scores = np.asarray(scores, dtype=np.float64)
    complete = scores[np.isfinite(scores).all(axis=1)]
    reference = complete[:, int(np.argmax(n_models))]
    agreements = []
    for column, n in enumerate(n_models):
        ranked = complete[:, column]
        defined = len(complete) >= 2 and np.ptp(ranked) > 0 and np.ptp(reference) > 0
        tau = kendalltau(ranked, reference).statistic if defined else np.nan
        rho = spearmanr(ranked, reference).statistic if defined else np.nan
        agreements.append(Agreement(int(n), len(complete), float(tau), float(rho)))
    return agreements


def ranks(scores: np.ndarray) -> np.ndarray:
    """Each submission's rank at each N (1 is the best score; ties share the better rank); NaN where unscored."""
    scores = np.asarray(scores, dtype=np.float64)
    result = np.full(scores.shape, np.nan)
    for column in range(scores.shape[1]):
        scored = np.isfinite(scores[:, column])
        result[scored, column] = rankdata(-scores[scored, column], method="min")
    return result


def agreement_table(agreements: list[Agreement]) -> pa.Table:
    """The correlations per N, for CSV."""
    return pa.Table.from_pylist([asdict(a) for a in agreements])


def _value(x: float) -> float | None:
    """A cell of a CSV: null where unscored."""
    return float(x) if np.isfinite(x) else None


def scores_table(submissions: Sequence[str], n_models: Sequence[int], forget_quality: np.ndarray, scores: np.ndarray) -> pa.Table:
    """One row per submission and N: rank, F and final score (null where unscored), for CSV."""
    order = ranks(scores)

    records = [
        {
            "submission": name,
            "n_models": int(n),
            "rank": None if not np.isfinite(order[i, j]) else int(order[i, j]),
            "forget_quality": _value(forget_quality[i, j]),
            "final_score": _value(scores[i, j]),
        }
        for i, name in enumerate(submissions)
        for j, n in enumerate(n_models)
    ]
    return pa.Table.from_pylist(records)


@dataclass(frozen=True)
class OriginalsAgreement:
    """Whether K originals rank the submissions alike (a study of originals): over the submissions scored from every
    original, how many pairs of them some original orders otherwise than another, how many submissions some original
    ranks first, and Kendall's tau-b between originals, on average and at worst (NaN where undefined)."""

    compared: int
    pairs_reordered: int
    winners: int
    mean_kendall_tau: float
    min_kendall_tau: float

    @property
    def pairs(self) -> int:
        return self.compared * (self.compared - 1) // 2


def originals_agreement(scores: np.ndarray) -> OriginalsAgreement:
    """`scores` is [submissions, originals], NaN where unscored; a pair tied from some original is not reordered by it."""
    scores = np.asarray(scores, dtype=np.float64)
    complete = scores[np.isfinite(scores).all(axis=1)]
    count, originals = complete.shape
    reordered = 0
    for first in range(count):
        for second in range(first + 1, count):
            signs = {int(s) for s in np.sign(complete[first] - complete[second])} - {0}
            reordered += len(signs) > 1
    winners = len({int(np.argmax(complete[:, k])) for k in range(originals)}) if count else 0
    taus = [kendalltau(complete[:, a], complete[:, b]).statistic
            for a in range(originals) for b in range(a + 1, originals)
            if count >= 2 and np.ptp(complete[:, a]) > 0 and np.ptp(complete[:, b]) > 0]
    return OriginalsAgreement(count, reordered, winners,
                              float(np.mean(taus)) if taus else np.nan, float(np.min(taus)) if taus else np.nan)


def originals_table(submissions: Sequence[str], scores: np.ndarray, intervals: dict[str, np.ndarray]) -> pa.Table:
    """One row per submission and original: rank, final score and its 95% interval (null where unscored), for CSV."""
    order = ranks(scores)

    return pa.Table.from_pylist([
        {"submission": name, "original": k, "rank": None if not np.isfinite(order[i, k]) else int(order[i, k]),
         "final_score": _value(scores[i, k]), "ci95_low": _value(intervals[name][k, 0]), "ci95_high": _value(intervals[name][k, 1])}
        for i, name in enumerate(submissions) for k in range(scores.shape[1])
    ])
