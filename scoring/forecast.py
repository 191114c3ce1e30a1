"""A shake-up forecast: how likely another forget set is to reverse public neighbours, and each entry's likely rank there.

An entry's score on another forget set (the private split) differs from its public score for three reasons: the
public score's own sampling error (its half-sampling standard error), the other score's (taken as the same), and
the change of forget set itself. The last is taken as proportional to the score, since a method scoring 0.0003
cannot move by 0.01 while one scoring 0.04 can:

    private = public * (1 + shift + kappa * z) + sampling errors,   z ~ N(0, 1), one per entry,

where `shift`, common to every entry, moves no rank, and `kappa` is the spread the forget set adds. Both are
estimated by least squares from boards scored on two forget sets (`forget_set_spread`); without one, kappa is 0 and
the forecast holds sampling error alone, a lower bound on the shake-up. Neighbours reverse with probability
T(-gap / sd of the gap), Student's t on (pairs - 2) degrees of freedom since kappa is itself estimated (the normal
without kappa); the likely rank is the central 90% of ranks over simulated boards (normal, seeded), under the board's
own rule: entries within the time budget first. docs/uncertainty.md checks the forecast's calibration.
"""

from dataclasses import dataclass
import math

import numpy as np
from scipy import stats

from scoring.intervals import variance_factor

COVERAGE = 0.90  # of the likely private rank range
DRAWS = 10_000  # simulated private boards


@dataclass(frozen=True)
class Standing:
    """One scored entry on the public board: its score, the score's standard error (0: unknown), its eligibility."""

    name: str
    score: float
    standard_error: float
    eligible: bool


@dataclass(frozen=True)
class ForgetSetSpread:
    """How much a change of forget set moves scores: a common relative shift and kappa, the entry-specific spread."""

    kappa: float
    shift: float
    entries: int  # the entries it was estimated from (0: not estimated, kappa 0)


NO_SPREAD = ForgetSetSpread(0.0, 0.0, 0)


def standard_error(replicates: tuple[float, ...], n_models: int) -> float:
    """A score's standard error from its half-sample values (0 with fewer than 2)."""
    if len(replicates) < 2:
        return 0.0
    return float(np.std(replicates, ddof=1) * math.sqrt(variance_factor(n_models)))


def forget_set_spread(public: list[Standing], others: list[list[Standing]]) -> ForgetSetSpread:
    """kappa and the shift, by least squares, from the same entries scored on other forget sets (matched by name).

    E[(other - public - shift * public)^2] = se_public^2 + se_other^2 + kappa^2 * public^2: the sampling errors are
    taken off, so kappa is the spread beyond what the runs' randomness explains (0 where they explain it all). Several
    other forget sets are pooled, one pair of scores an entry each.
    """
    pairs = []
    for other in others:
        by_name = {entry.name: entry for entry in other}
        pairs += [(entry, by_name[entry.name]) for entry in public if entry.name in by_name]
    scale = sum(first.score ** 2 for first, _ in pairs)
    if len(pairs) < 2 or scale == 0:
        return NO_SPREAD
    shift = sum((second.score - first.score) * first.score for first, second in pairs) / scale
    excess = sum((second.score - first.score * (1 + shift)) ** 2 - first.standard_error ** 2 - second.standard_error ** 2 for first, second in pairs)
    return ForgetSetSpread(math.sqrt(max(0.0, excess / scale)), shift, len(pairs))


def _variance(entry: Standing, spread: ForgetSetSpread) -> float:
    """The variance of the entry's score on another forget set around its public score."""
    return 2 * entry.standard_error ** 2 + (spread.kappa * entry.score) ** 2


def reversal_probability(upper: Standing, lower: Standing, spread: ForgetSetSpread) -> float:
    """The probability that `lower` (ranked below on the public board) scores above `upper` on another forget set."""
    gap = upper.score - lower.score
    deviation = math.sqrt(_variance(upper, spread) + _variance(lower, spread))
    if deviation == 0:
        return 0.5 if gap == 0 else float(gap < 0)
    if spread.entries > 2:  # kappa is itself estimated from a few entries: Student's t, not the normal
        return float(stats.t.cdf(-gap / deviation, spread.entries - 2))
    return float(stats.norm.cdf(-gap / deviation))


def likely_ranks(entries: list[Standing], spread: ForgetSetSpread, seed: int = 0) -> dict[str, tuple[int, int]]:
    """Each entry's central 90% range of ranks over simulated boards on another forget set, by name."""
    if not entries:
        return {}
    scores = np.array([entry.score for entry in entries])
    deviation = np.sqrt([_variance(entry, spread) for entry in entries])
    simulated = scores + deviation * np.random.default_rng(seed).standard_normal((DRAWS, len(entries)))
    behind = np.array([not entry.eligible for entry in entries])
    key = simulated - behind * (np.ptp(simulated) + 1.0)  # entries within the budget before those over it, then by score
    order = np.argsort(-key, axis=1, kind="stable")
    ranks = np.empty_like(order)
    ranks[np.arange(DRAWS)[:, None], order] = np.arange(1, len(entries) + 1)
    tail = (1 - COVERAGE) / 2
    low, high = np.quantile(ranks, tail, axis=0, method="lower"), np.quantile(ranks, 1 - tail, axis=0, method="higher")
    return {entry.name: (int(low[i]), int(high[i])) for i, entry in enumerate(entries)}


@dataclass(frozen=True)
class Forecast:
    """A board's shake-up forecast: the spread used, each entry's chance of being overtaken by the next one down, and
    its likely rank on another forget set."""

    spread: ForgetSetSpread
    overtaken: dict[str, float]  # by name: the probability that the entry ranked next below ends above it
    likely_rank: dict[str, tuple[int, int]]


def forecast(ranked: list[Standing], others: list[list[Standing]], seed: int = 0) -> Forecast:
    """The forecast for entries in their public order (best first), with the forget set's spread estimated against
    `others`, the same entries on other forget sets (none: sampling error alone)."""
    spread = forget_set_spread(ranked, others)
    overtaken = {upper.name: reversal_probability(upper, lower, spread)
                 for upper, lower in zip(ranked, ranked[1:], strict=False) if upper.eligible == lower.eligible}
    return Forecast(spread, overtaken, likely_ranks(ranked, spread, seed))


def spread_note(spread: ForgetSetSpread) -> str:
    """What the forecast rests on, in words."""
    if spread.entries == 0:
        return "the runs' sampling error alone (no second forget set to measure the forget set's own effect): a lower bound on the shake-up"
    return (f"the runs' sampling error and a change of forget set, which moved scores by {spread.kappa:.0%} of their value beyond that "
            f"(kappa, from {spread.entries} pairs of an entry's scores on two forget sets; a common shift of {spread.shift:+.0%} moves no rank)")
