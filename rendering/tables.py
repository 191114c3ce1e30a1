"""The leaderboard's display cells: ranked rows and the split comparison as header and cells.

Each table is built once as header and cells (rendered by `rendering.pages`),
so the Markdown, the HTML and the console never disagree; the ranking itself
is `scoring.leaderboard`'s.
"""

from collections.abc import Mapping

import pyarrow as pa

from rendering.pages import Cells, Link, number, ratio_text, verdict_text
from scoring.forecast import Forecast
from scoring.intervals import INTERVAL_LABEL
from scoring.leaderboard import Row, forecast_fields, rank, rank_groups
from scoring.panel import METRICS, OFFICIAL


def _with_interval(value: float | None, low: float | None, high: float | None) -> str:
    return number(value) if value is None or low is None or high is None else f"{value:.4f} ({low:.4f} to {high:.4f})"


def _verdict_cell(row: Row) -> str:
    verdict = verdict_text(row.verdict, row.eligible)
    return verdict if row.unverified is None else f"{verdict} (unverified: {row.unverified})"


FORECAST_HEADER = ("forecast: P(next overtakes)", "forecast: rank elsewhere (90%)")


def _forecast_cells(forecast_overtaken: float | None, forecast_rank_low: int | None, forecast_rank_high: int | None) -> tuple[str, str]:
    """The forecast's two cells, from its table fields (scoring.leaderboard.forecast_fields)."""
    low, high = forecast_rank_low, forecast_rank_high
    probability = "-" if forecast_overtaken is None else f"{forecast_overtaken:.0%}"
    return probability, "-" if low is None or high is None else str(low) if low == high else f"{low}-{high}"


def leaderboard_cells(rows: list[Row], reports: Mapping[str, str] | None = None, forecast: Forecast | None = None) -> Cells:
    """The ranked leaderboard as display cells; with a shake-up `forecast`, its two columns; with `reports` (submission ->
    its report.html, relative to the page), a last column links each row's report, or says there is none."""
    adaptive = any(row.why is not None for row in rows)
    by_panel = any(row.ranked_by != OFFICIAL.name for row in rows)
    groups = rank_groups(rows)
    ranked_by = rows[0].ranked_by if rows else OFFICIAL.name
    header = ("rank", "rank group", "submission")
    header += (f"{ranked_by}, ranked by ({METRICS[ranked_by].better} is better; {INTERVAL_LABEL})",) if by_panel else ()
    header += (f"final score ({INTERVAL_LABEL})", "F", "RA_u/RA_r", "TA_u/TA_r", "median unlearning s",
              "budget ratio (95% CI)", "verdict", "status", "models")
    header += ("N", "why this N") if adaptive else ()
    header += FORECAST_HEADER if forecast is not None else ()
    header += ("report",) if reports is not None else ()
    cells = [
        [
            "-" if position is None else str(position),
            groups[row.submission] or "-",
            row.submission,
            *((_with_interval(row.rank_value, *row.rank_interval),) if by_panel else ()),
            _with_interval(row.final_score, row.final_score_ci_low, row.final_score_ci_high),
            number(row.forget_quality),
            number(row.retain_ratio, 3),
            number(row.test_ratio, 3),
            number(row.unlearn_median_s, 3),
            "n/a" if row.budget_ratio is None else ratio_text(row.budget_ratio, row.budget_ratio_ci_low, row.budget_ratio_ci_high),
            _verdict_cell(row),
            row.status,
            row.models,
            *((str(row.n_models), row.why or "") if adaptive else ()),
            *(_forecast_cells(**forecast_fields(forecast, row.submission)) if forecast is not None else ()),
            *(() if reports is None else (Link("report", reports[row.submission]) if row.submission in reports else "-",)),
        ]
        for position, row in rank(rows)
    ]
    return header, cells


def comparison_cells(comparison: pa.Table, ranked_by: str = OFFICIAL.name) -> Cells:
    """The public-against-private table as display cells (the score columns: the value ranked by), with the shake-up
    forecast's columns where the table has them."""
    value = "score" if ranked_by == OFFICIAL.name else ranked_by
    header = ("submission", "public rank", "public group", f"public {value}", "private rank", "private group", f"private {value}", "rank change")
    forecast = "forecast_overtaken" in comparison.column_names
    header += FORECAST_HEADER if forecast else ()

    def rank_cell(value: int | str | None) -> str:
        return "-" if value is None else str(value)

    def change_cell(value: int | None) -> str:
        return "n/a" if value is None else f"{value:+d}" if value else "0"

    cells = [
        [r["submission"], rank_cell(r["public_rank"]), rank_cell(r["public_rank_group"]), number(r["public_score"]), rank_cell(r["private_rank"]),
         rank_cell(r["private_rank_group"]), number(r["private_score"]), change_cell(r["rank_change"]),
         *(_forecast_cells(r["forecast_overtaken"], r["forecast_rank_low"], r["forecast_rank_high"]) if forecast else ())]
        for r in comparison.to_pylist()
    ]
    return header, cells
