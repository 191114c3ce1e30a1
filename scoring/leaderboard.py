"""Leaderboard rows from score.json documents: ranked and compared across splits.

Pure functions on the documents the harness writes; nothing here runs or
imports a submission. Scored submissions within the time budget rank by
final score (ties by name); scored submissions over budget follow them, by
score, as on Kaggle where a notebook over its time limit got no score (under
the `rank-all` policy every scored submission counts as within budget; a
borderline verdict counts as the `--borderline` setting chose, recorded in
the document's `eligible`);
failed ones come last, named with their failure classes; equal scores share
a rank. The ranked rows go to Arrow for CSV and Parquet; their display
cells are built in `rendering.tables`.
"""

from dataclasses import asdict, dataclass
import math

import pyarrow as pa

from scoring.document import Isolation, Pair, ScoreDocument, TimeBudget


@dataclass(frozen=True)
class Row:
    """One submission's line: the score, its parts and the time-budget verdict."""

    submission: str
    status: str  # scored, scored-with-failures, or failed: classes
    final_score: float | None
    final_score_ci_low: float | None
    final_score_ci_high: float | None
    forget_quality: float | None
    retain_ratio: float | None  # RA_u / RA_r
    test_ratio: float | None  # TA_u / TA_r
    unlearn_median_s: float | None
    budget_ratio: float | None
    verdict: str  # pass, borderline, fail, unknown
    eligible: bool = True  # within budget, or ranked by score alone (policy rank-all)
    budget_ratio_ci_low: float | None = None  # the ratio's 95% interval,
    budget_ratio_ci_high: float | None = None  # inf where unbounded
    unverified: str | None = None  # why the verdict cannot be trusted: no sandbox, CPU time a run could hide, or self-reported timings
    models: str = "runs"  # runs: the harness ran the code; checkpoints: models made elsewhere, loaded (score.json's models_from)
    n_models: int | None = None  # adaptive leaderboards: the N this entry got,
    why: str | None = None  # why it stopped there,
    block: int = 0  # and its group: groups rank before scores (scores at different N are not compared)


def _ratio(pair: Pair | None) -> float | None:
    return None if pair is None else pair.ratio


def unverified_because(isolation: Isolation | None) -> str | None:
    """Why a document's verdict is unverified (score.json's `isolation`), or None where it holds."""
    if isolation is None:
        return None
    if isolation.mechanism.startswith("none"):
        return "no sandbox"
    if isolation.cpu.startswith("unverified"):
        return "CPU time a run could hide (no cgroup)"
    return None


def row_from_document(name: str, document: ScoreDocument) -> Row:
    """The leaderboard line of one score.json document."""
    status = document.status
    if status == "failed":
        status = "failed: " + (", ".join(sorted(document.failures)) or "no run finished")
    low, high = document.final_score_ci95 or (None, None)
    budget = document.time_budget
    measured = budget if isinstance(budget, TimeBudget) else None
    ratio_low, ratio_high = (measured.ratio_ci if measured else None) or (None, None)
    if ratio_low is not None and ratio_high is None:
        ratio_high = math.inf  # score.json's null: unbounded above
    return Row(
        submission=name,
        status=status,
        final_score=document.final_score,
        final_score_ci_low=low,
        final_score_ci_high=high,
        forget_quality=document.forget_quality,
        retain_ratio=_ratio(document.retain_accuracy),
        test_ratio=_ratio(document.test_accuracy),
        unlearn_median_s=measured.unlearn_median_s if measured else None,
        budget_ratio=measured.ratio if measured else None,
        budget_ratio_ci_low=ratio_low,
        budget_ratio_ci_high=ratio_high,
        verdict=budget.verdict,
        eligible=budget.eligible,
        unverified="self-reported timings" if measured and measured.reported_on else unverified_because(document.isolation),
        models=document.models_from,
    )


ADAPTIVE_FIELDS = ("n_models", "why", "block")


def rank(rows: list[Row]) -> list[tuple[int | None, Row]]:
    """(rank, row): within budget first, then over budget; within each, adaptive groups in their order
    (scores at different N are not compared), then best final score first; equal scores share the
    better rank (1, 2, 2, 4); submissions without a score last, unranked, by name."""
    def order(row: Row) -> tuple[bool, int, float]:
        return (not row.eligible, row.block, -(row.final_score or 0.0))

    ordered = sorted(rows, key=lambda row: (row.final_score is None, *order(row), row.submission))
    scored = [order(row) for row in ordered if row.final_score is not None]
    return [(None if row.final_score is None else 1 + sum(other < order(row) for other in scored), row) for row in ordered]


GROUP_LEGEND = (
    "Rank group: neighbours whose 95% intervals of the final score overlap, chained from one to the next, share a group "
    "(2-3): the runs cannot tell which of them is ahead. Groups form within the entries in budget and within those over it "
    "(and within an adaptive board's groups); an entry scored without an interval (--bootstrap 0) is in no group."
)


def group_notes(rows: list[Row]) -> list[str]:
    """The legend of the rank groups, for a table that has any (an entry with an interval)."""
    return [GROUP_LEGEND] if any(row.final_score_ci_low is not None for row in rows) else []


def _separated(upper: Row, lower: Row) -> bool:
    """Whether the intervals of two neighbours (upper ranked first) are apart; False where either has none."""
    if upper.final_score_ci_low is None or lower.final_score_ci_high is None:
        return False
    return upper.final_score_ci_low > lower.final_score_ci_high


def rank_groups(rows: list[Row]) -> dict[str, str | None]:
    """Each submission's rank group ("2-3", or "2" alone), by name: the ranked neighbours whose intervals overlap, chained;
    None for an entry without a score or without an interval."""
    groups: dict[str, str | None] = {row.submission: None for row in rows}
    chain: list[tuple[int, Row]] = []

    def close() -> None:
        first, last = chain[0][0], chain[-1][0]
        for _, row in chain:
            groups[row.submission] = str(first) if first == last else f"{first}-{last}"
        chain.clear()

    for position, row in rank(rows):
        if position is None or row.final_score_ci_low is None:  # unscored (last), or no interval: no group goes through it
            if chain:
                close()
            continue
        previous = chain[-1][1] if chain else None
        if previous is not None and (_separated(previous, row) or (previous.eligible, previous.block) != (row.eligible, row.block)):
            close()
        chain.append((position, row))
    if chain:
        close()
    return groups


def arrow_table(rows: list[Row]) -> pa.Table:
    """The ranked rows with full precision, for CSV and Parquet (N, why and group only when adaptive)."""
    adaptive = any(row.why is not None for row in rows)
    groups = rank_groups(rows)
    records = [{"rank": position, "rank_group": groups[row.submission], **asdict(row)} for position, row in rank(rows)]
    if not adaptive:
        records = [{key: value for key, value in record.items() if key not in ADAPTIVE_FIELDS} for record in records]
    return pa.Table.from_pylist(records)


def split_comparison(public: list[Row], private: list[Row]) -> pa.Table:
    """Per submission: its rank, rank group, score with its interval and verdict on each split, and how far it moved
    (positive: up in private)."""
    other = {row.submission: (position, row) for position, row in rank(private)}
    groups = {"public": rank_groups(public), "private": rank_groups(private)}
    records = []
    for position, row in rank(public):
        other_position, other_row = other[row.submission]
        moved = None if position is None or other_position is None else position - other_position
        records.append({
            "submission": row.submission,
            **_split_fields("public", position, row, groups["public"]),
            **_split_fields("private", other_position, other_row, groups["private"]),
            "rank_change": moved,
        })
    return pa.Table.from_pylist(records)


def _split_fields(split: str, position: int | None, row: Row, groups: dict[str, str | None]) -> dict[str, object]:
    return {
        f"{split}_rank": position,
        f"{split}_rank_group": groups[row.submission],
        f"{split}_score": row.final_score,
        f"{split}_score_ci_low": row.final_score_ci_low,
        f"{split}_score_ci_high": row.final_score_ci_high,
        f"{split}_verdict": row.verdict,
    }
