"""Adaptive N for leaderboards: which entries need more models, and why.

Pure decisions on (score, 95% interval, N, budget verdict) per entry. F
depends on N (fewer models, larger epsilons, lower F), so scores at different
N never meet in one comparison: the ranking is refined block by block. All
entries start in one block at the same N. A block's entries, sorted by score,
split into chains of neighbours whose intervals overlap. An entry alone is
settled at its place, and so is a chain of equal scores whose intervals have
no width (more models cannot part them), and so is a chain that even the
maximum N would most likely not part: no two neighbours in it whose gap exceeds
their intervals' reach towards each other shrunk to the maximum N (half-sampling
widths fall as 1 / sqrt(N)); it is reported as one group, as the fixed board
would report it. Any other chain keeps its place in the ranking while its
entries get twice the models and are ordered again among themselves, until
they separate, settle so, or reach the maximum N.

Chains ignore the time budget's verdict, although the leaderboard ranks every
entry within budget before any over it: a verdict from the first N runs can
change at a larger N (on the digits baselines a third of the entries sit
within 0.02 of the line, and their medians move by more between blocks of 64
runs), so an entry over budget still competes with its neighbours by score.
Ranks do count as the leaderboard's: with a `top` K, chains whose best entry
ranks below K are not refined.
"""

from dataclasses import dataclass
from itertools import pairwise
import math


@dataclass(frozen=True)
class Standing:
    """One entry at its current N."""

    name: str
    n_models: int
    score: float | None  # None: not scored (failed)
    low: float | None
    high: float | None
    eligible: bool = True  # the time budget's verdict at this N (always True under the policy rank-all)


@dataclass(frozen=True)
class Block:
    """Consecutive entries of the ranking: refined together (`why` None) or settled, with why."""

    names: tuple[str, ...]
    why: str | None = None


def _overlap(a: Standing, b: Standing) -> bool:
    if a.low is None or a.high is None or b.low is None or b.high is None:
        return True
    return a.low <= b.high and b.low <= a.high


def _chains(members: list[Standing]) -> list[list[Standing]]:
    """Members sorted by score, cut where adjacent intervals do not overlap."""
    ordered = sorted(members, key=lambda s: (math.inf if s.score is None else -s.score, s.name))
    chains = [[ordered[0]]]
    for upper, lower in pairwise(ordered):
        if _overlap(upper, lower):
            chains[-1].append(lower)
        else:
            chains.append([lower])
    return chains


def _exact_tie(chain: list[Standing]) -> bool:
    """Equal scores and intervals of no width (F = 0 in every half-sample, say)."""
    return all(s.low == s.high == chain[0].score for s in chain)


def _could_separate(chain: list[Standing], max_n: int) -> bool:
    """Whether some neighbours of the chain (sorted by score) would likely separate at max_n: their gap exceeds the
    upper one's reach down plus the lower one's reach up, each scaled by sqrt(n / max_n)."""
    shrink = math.sqrt(chain[0].n_models / max_n)
    for upper, lower in pairwise(chain):
        if upper.score is None or lower.score is None or upper.low is None or lower.high is None:
            return True
        if upper.score - lower.score > shrink * ((upper.score - upper.low) + (lower.high - lower.score)):
            return True
    return False


def _ranked_above(chains: list[list[Standing]], index: int) -> int:
    """Scored entries the leaderboard ranks above the best of chain `index`: every one within
    budget before any over it, then by chain."""
    def key(position: int, standing: Standing) -> tuple[bool, int]:
        return not standing.eligible, position

    best = min(key(index, s) for s in chains[index])
    return sum(1 for position, chain in enumerate(chains) if position != index
               for s in chain if s.score is not None and key(position, s) < best)


def _why_settled(chain: list[Standing], above: int, top: int | None, max_n: int) -> str | None:
    """Why a chain gets no more models, or None if it does."""
    n = chain[0].n_models
    if len(chain) == 1:
        return f"separated from its neighbours at N = {n}"
    if _exact_tie(chain):
        return f"tied: equal scores with intervals of no width at N = {n}"
    if top is not None and above >= top:
        return f"below the top {top} at N = {n}"
    if n >= max_n:
        return f"intervals still overlap within {', '.join(s.name for s in chain)} at the maximum N"
    if not _could_separate(chain, max_n):
        return f"one group: its gaps are under what N = {max_n} would part, at N = {n}"
    return None


def refine(blocks: list[Block], standings: dict[str, Standing], top: int | None, max_n: int) -> list[Block]:
    """The next ranking: every open block split into settled entries and open chains.

    Blocks are in rank order (within each budget class); an open block's
    entries share one N, that of their latest scoring. Entries without a
    score are settled last.
    """
    chains: list[list[Standing]] = []
    whys: list[str | None] = []
    failed: list[Block] = []
    for block in blocks:
        members = [standings[name] for name in block.names]
        if block.why is not None:
            chains.append(members)
            whys.append(block.why)
            continue
        failed += [Block((s.name,), f"not scored at N = {s.n_models}") for s in members if s.score is None]
        scored = [s for s in members if s.score is not None]
        for chain in _chains(scored) if scored else []:
            chains.append(chain)
            whys.append(None)
    whys = [why or _why_settled(chain, _ranked_above(chains, i), top, max_n) for i, (chain, why) in enumerate(zip(chains, whys, strict=True))]
    return [Block(tuple(s.name for s in chain), why) for chain, why in zip(chains, whys, strict=True)] + failed


def open_names(blocks: list[Block]) -> set[str]:
    """The entries that need more models."""
    return {name for block in blocks if block.why is None for name in block.names}


def next_n(n_models: int, max_n: int) -> int:
    """The next round's N: double, up to the maximum."""
    return min(2 * n_models, max_n)
