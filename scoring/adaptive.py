"""Adaptive N for leaderboards: which entries need more models, and why.

Pure decisions on (score, 95% interval, N) per entry. Two entries adjacent in
the ranking whose intervals overlap are not yet told apart: both get more
models, up to the maximum N. With a `top` K only the ranks that decide the
top K and their order count (adjacent pairs among the first K + 1), so entries
further down stay at the N they have.
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


def _ranked(standings: list[Standing]) -> list[Standing]:
    return sorted((s for s in standings if s.score is not None), key=lambda s: (-s.score, s.name))


def _overlap(a: Standing, b: Standing) -> bool:
    return a.low is None or b.low is None or (a.low <= b.high and b.low <= a.high)


def needs_more(standings: list[Standing], top: int | None, max_n: int) -> tuple[set[str], dict[str, str]]:
    """(entries to give more models, why each entry has the N it has).

    An entry is refined when its interval overlaps an adjacent entry's at a
    rank that matters and it is below `max_n`.
    """
    ranked = _ranked(standings)
    deciding = len(ranked) if top is None else min(top + 1, len(ranked))
    rivals: dict[str, list[str]] = {}
    for upper, lower in zip(ranked[: deciding - 1], ranked[1:deciding]):
        if _overlap(upper, lower):
            rivals.setdefault(upper.name, []).append(lower.name)
            rivals.setdefault(lower.name, []).append(upper.name)
    refine, why = set(), {}
    for standing in standings:
        if standing.score is None:
            why[standing.name] = f"not scored at N = {standing.n_models}"
        elif standing.name in rivals and standing.n_models < max_n:
            refine.add(standing.name)
            why[standing.name] = f"overlapped {', '.join(rivals[standing.name])} at N = {standing.n_models}"
        elif standing.name in rivals:
            why[standing.name] = f"still overlaps {', '.join(rivals[standing.name])} at the maximum N"
        elif ranked.index(standing) >= deciding:
            why[standing.name] = f"below the top {top} at N = {standing.n_models}"
        else:
            why[standing.name] = f"separated from its neighbours at N = {standing.n_models}"
    return refine, why


def next_n(n_models: int, max_n: int) -> int:
    """The next round's N: double, up to the maximum."""
    return min(2 * n_models, max_n)
