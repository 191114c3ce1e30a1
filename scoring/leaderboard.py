"""Leaderboard rows from score.json documents: ranked and compared across splits.

Pure functions on the documents the harness writes; nothing here runs or
imports a submission. Scored submissions within the time budget rank by
final score (ties by name), or by another metric of the panel (`rank_by`,
scoring.panel, each in its own direction); scored submissions over budget
follow them, as on Kaggle where a notebook over its time limit got no score
(under the `rank-all` policy every scored submission counts as within
budget; a borderline verdict counts as the `--borderline` setting chose,
recorded in the document's `eligible`); failed ones come last, named with
their failure classes; equal values share a rank. The ranked rows, and a
shake-up forecast where there is one (scoring.forecast), go to Arrow for
CSV and Parquet; their display cells are built in `rendering.tables`.
"""

from dataclasses import asdict, dataclass
import math

import pyarrow as pa

from scoring.document import Isolation, Pair, ScoreDocument, TimeBudget
from scoring.forecast import Forecast, Standing, standard_error
from scoring.panel import METRICS, OFFICIAL, goodness


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
    ranked_by: str = "official"  # the panel's metric the rows are ranked by (scoring.panel.METRICS)
    panel_value: float | None = None  # its value where it is not the official one (None: not scored),
    panel_value_ci_low: float | None = None  # and its 95% interval
    panel_value_ci_high: float | None = None

    @property
    def rank_value(self) -> float | None:
        """The value ranked by: the final score, or the panel's metric."""
        return self.final_score if self.ranked_by == OFFICIAL.name else self.panel_value

    @property
    def rank_interval(self) -> tuple[float | None, float | None]:
        if self.ranked_by == OFFICIAL.name:
            return self.final_score_ci_low, self.final_score_ci_high
        return self.panel_value_ci_low, self.panel_value_ci_high

    def key(self) -> float:
        """The rank value as a sort key, best first (0 where there is none)."""
        return -goodness(self.ranked_by, self.rank_value or 0.0)


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


def row_from_document(name: str, document: ScoreDocument, rank_by: str = OFFICIAL.name) -> Row:
    """The leaderboard line of one score.json document, ranked by `rank_by` (a key of scoring.panel.METRICS)."""
    if rank_by not in METRICS:
        raise ValueError(f"unknown metric to rank by {rank_by!r}; choose from {', '.join(METRICS)}")
    entry = None if rank_by == OFFICIAL.name else document.panel.get(rank_by)  # none: official, or scored before the panel
    interval = entry.ci95 if entry is not None else None
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
        ranked_by=rank_by,
        panel_value=entry.value if entry is not None else None,
        panel_value_ci_low=interval[0] if interval else None,
        panel_value_ci_high=interval[1] if interval else None,
    )


ADAPTIVE_FIELDS = ("n_models", "why", "block")


def rank(rows: list[Row]) -> list[tuple[int | None, Row]]:
    """(rank, row): within budget first, then over budget; within each, adaptive groups in their order
    (scores at different N are not compared), then best rank value first (the highest final score);
    equal values share the better rank (1, 2, 2, 4); submissions without one last, unranked, by name."""
    def order(row: Row) -> tuple[bool, int, float]:
        return (not row.eligible, row.block, row.key())

    ordered = sorted(rows, key=lambda row: (row.rank_value is None, *order(row), row.submission))
    scored = [order(row) for row in ordered if row.rank_value is not None]
    return [(None if row.rank_value is None else 1 + sum(other < order(row) for other in scored), row) for row in ordered]


GROUP_LEGEND = (
    "Rank group: neighbours whose 95% intervals of the value they are ranked by overlap, chained from one to the next, share a group "
    "(2-3): the runs cannot tell which of them is ahead. Groups form within the entries in budget and within those over it "
    "(and within an adaptive board's groups); an entry scored without an interval (--bootstrap 0) is in no group."
)


def group_notes(rows: list[Row]) -> list[str]:
    """The legend of the rank groups, for a table that has any (an entry with an interval)."""
    return [GROUP_LEGEND] if any(row.rank_interval[0] is not None for row in rows) else []


def ranked_by_note(rows: list[Row]) -> list[str]:
    """Which metric the table is ranked by, and what it says."""
    if not rows:
        return []
    metric = METRICS[rows[0].ranked_by]
    return [f"Ranked by {metric.name} ({metric.better} is better): {metric.says}. Source: {metric.source}."]


def _separated(upper: Row, lower: Row) -> bool:
    """Whether the intervals of two neighbours (upper ranked first) are apart; False where either has none."""
    (upper_low, upper_high), (lower_low, lower_high) = upper.rank_interval, lower.rank_interval
    if upper_low is None or upper_high is None or lower_low is None or lower_high is None:
        return False
    return upper_low > lower_high if METRICS[upper.ranked_by].better == "higher" else upper_high < lower_low


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
        if position is None or row.rank_interval[0] is None:  # unscored (last), or no interval: no group goes through it
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


def forecast_fields(forecast: Forecast | None, name: str) -> dict[str, object]:
    """An entry's shake-up forecast as table fields (none without a forecast; None where the entry has none)."""
    if forecast is None:
        return {}
    low, high = forecast.likely_rank.get(name, (None, None))
    return {"forecast_overtaken": forecast.overtaken.get(name), "forecast_rank_low": low, "forecast_rank_high": high}


def arrow_table(rows: list[Row], forecast: Forecast | None = None) -> pa.Table:
    """The ranked rows with full precision, for CSV and Parquet (N, why and group only when adaptive; the forecast's
    columns with one)."""
    adaptive = any(row.why is not None for row in rows)
    groups = rank_groups(rows)
    records = [{"rank": position, "rank_group": groups[row.submission], **asdict(row), **forecast_fields(forecast, row.submission)}
               for position, row in rank(rows)]
    if not adaptive:
        records = [{key: value for key, value in record.items() if key not in ADAPTIVE_FIELDS} for record in records]
    return pa.Table.from_pylist(records)


def standings(rows: list[Row], documents: dict[str, ScoreDocument]) -> list[Standing]:
    """The ranked entries, best first, as the shake-up forecast sees them: the value ranked by (negated where lower is
    better) and its standard error from the half-samples in score.json (0 where it has none)."""
    ranked = []
    for position, row in rank(rows):
        if position is None or row.rank_value is None:
            continue
        document = documents[row.submission]
        entry = document.panel.get(row.ranked_by)
        error = standard_error(entry.replicates, document.n_models_scored or 0) if entry is not None else 0.0
        ranked.append(Standing(row.submission, goodness(row.ranked_by, row.rank_value), error, row.eligible))
    return ranked


def split_comparison(public: list[Row], private: list[Row], forecast: Forecast | None = None) -> pa.Table:
    """Per submission: its rank, rank group, score with its interval and verdict on each split, and how far it moved
    (positive: up in private); with a `forecast` made from the public split, the chance that the next entry down
    overtakes it and its likely private rank."""
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
            **forecast_fields(forecast, row.submission),
        })
    return pa.Table.from_pylist(records)


def _split_fields(split: str, position: int | None, row: Row, groups: dict[str, str | None]) -> dict[str, object]:
    return {
        f"{split}_rank": position,
        f"{split}_rank_group": groups[row.submission],
        f"{split}_score": row.rank_value,  # the final score, or the metric ranked by
        f"{split}_score_ci_low": row.rank_interval[0],
        f"{split}_score_ci_high": row.rank_interval[1],
        f"{split}_verdict": row.verdict,
    }
