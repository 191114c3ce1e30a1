"""Adaptive N for leaderboards: which entries need more models, and why.

Pure decisions on (score, 95% interval, N) per entry. F depends on N (fewer
models, larger epsilons, lower F), so scores at different N never meet in one
comparison: the ranking is refined block by block. All entries start in one
block at the same N. A block's entries, sorted by score, split into chains of
neighbours whose intervals overlap; an entry alone is settled at its place,
and a chain keeps its place in the ranking while its entries get twice the
models and are ordered again among themselves, until they separate or reach
the maximum N. With a `top` K, chains that start below rank K are not refined.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Standing:
    """One entry at its current N."""

    name: str
    n_models: int
    score: float | None  # None: not scored (failed)
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Block:
    """Consecutive entries of the ranking: refined together (`why` None) or settled, with why."""

    names: tuple[str, ...]
    why: str | None = None


def _overlap(a: Standing, b: Standing) -> bool:
    return a.low is None or b.low is None or (a.low <= b.high and b.low <= a.high)


def _chains(members: list[Standing]) -> list[list[Standing]]:
    """Members sorted by score, cut where adjacent intervals do not overlap."""
    ordered = sorted(members, key=lambda s: (-s.score, s.name))
    chains = [[ordered[0]]]
    for upper, lower in zip(ordered, ordered[1:]):
        if _overlap(upper, lower):
            chains[-1].append(lower)
        else:
            chains.append([lower])
    return chains


def refine(blocks: list[Block], standings: dict[str, Standing], top: int | None, max_n: int) -> list[Block]:
    """The next ranking: every open block split into settled entries and open chains.

    Blocks are in rank order; an open block's entries share one N, that of
    their latest scoring. Entries without a score are settled last.
    """
    result, position, failed = [], 0, []
    for block in blocks:
        if block.why is not None:
            result.append(block)
            position += len(block.names)
            continue
        members = [standings[name] for name in block.names]
        failed += [Block((s.name,), f"not scored at N = {s.n_models}") for s in members if s.score is None]
        scored = [s for s in members if s.score is not None]
        for chain in _chains(scored) if scored else []:
            names, n = tuple(s.name for s in chain), chain[0].n_models
            if len(chain) == 1:
                result.append(Block(names, f"separated from its neighbours at N = {n}"))
            elif top is not None and position >= top:
                result.append(Block(names, f"below the top {top} at N = {n}"))
            elif n >= max_n:
                result.append(Block(names, f"intervals still overlap within {', '.join(names)} at the maximum N"))
            else:
                result.append(Block(names))
            position += len(chain)
    return result + failed


def open_names(blocks: list[Block]) -> set[str]:
    """The entries that need more models."""
    return {name for block in blocks if block.why is None for name in block.names}


def next_n(n_models: int, max_n: int) -> int:
    """The next round's N: double, up to the maximum."""
    return min(2 * n_models, max_n)
