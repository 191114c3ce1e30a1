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


def scores_table(submissions: Sequence[str], n_models: Sequence[int], forget_quality: np.ndarray, scores: np.ndarray) -> pa.Table:
    """One row per submission and N: rank, F and final score (null where unscored), for CSV."""
    order = ranks(scores)

    def value(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    records = [
        {
            "submission": name,
            "n_models": int(n),
            "rank": None if not np.isfinite(order[i, j]) else int(order[i, j]),
            "forget_quality": value(forget_quality[i, j]),
            "final_score": value(scores[i, j]),
        }
        for i, name in enumerate(submissions)
        for j, n in enumerate(n_models)
    ]
    return pa.Table.from_pylist(records)
