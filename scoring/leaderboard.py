"""Leaderboard rows from score.json documents: ranked, compared across splits, rendered.

Pure functions on the documents the harness writes; nothing here runs or
imports a submission. Scored submissions rank by final score (ties by name);
failed ones follow, named with their failure classes, as on Kaggle where a
failing notebook gets no score. Each table is built once as header and
cells, then rendered as Markdown or HTML; the same rows go to Arrow for CSV
and Parquet.
"""

from dataclasses import asdict, dataclass
import html

import pyarrow as pa

Cells = tuple[tuple[str, ...], list[list[str]]]  # header, rows of cells


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
    verdict: str  # pass, fail, unknown


def _ratio(pair: dict | None) -> float | None:
    return None if pair is None else pair["unlearned"] / pair["retrained"]


def row_from_document(name: str, document: dict) -> Row:
    """The leaderboard line of one score.json document."""
    status = document["status"]
    if status == "failed":
        status = "failed: " + (", ".join(sorted(document["failures"])) or "no run finished")
    low, high = document.get("final_score_ci95") or (None, None)
    budget = document["time_budget"]
    return Row(
        submission=name,
        status=status,
        final_score=document["final_score"],
        final_score_ci_low=low,
        final_score_ci_high=high,
        forget_quality=document["forget_quality"],
        retain_ratio=_ratio(document.get("retain_accuracy")),
        test_ratio=_ratio(document.get("test_accuracy")),
        unlearn_median_s=budget["unlearn_median_s"],
        budget_ratio=budget["ratio"],
        verdict=budget["verdict"],
    )


def rank(rows: list[Row]) -> list[tuple[int | None, Row]]:
    """(rank, row), best final score first; submissions without a score last, unranked, by name."""
    ordered = sorted(rows, key=lambda row: (row.final_score is None, -(row.final_score or 0.0), row.submission))
    return [(position if row.final_score is not None else None, row) for position, row in enumerate(ordered, start=1)]


def arrow_table(rows: list[Row]) -> pa.Table:
    """The ranked rows with full precision, for CSV and Parquet."""
    ranked = rank(rows)
    return pa.Table.from_pylist([{"rank": position, **asdict(row)} for position, row in ranked])


def split_comparison(public: list[Row], private: list[Row]) -> pa.Table:
    """Per submission: its public and private rank and score, and how far it moved (positive: up in private)."""
    private_rank = {row.submission: (position, row.final_score) for position, row in rank(private)}
    records = []
    for position, row in rank(public):
        other_position, other_score = private_rank[row.submission]
        moved = None if position is None or other_position is None else position - other_position
        records.append({
            "submission": row.submission,
            "public_rank": position,
            "public_score": row.final_score,
            "private_rank": other_position,
            "private_score": other_score,
            "rank_change": moved,
        })
    return pa.Table.from_pylist(records)


def _number(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _score_cell(row: Row) -> str:
    if row.final_score_ci_low is None:
        return _number(row.final_score)
    return f"{row.final_score:.4f} ({row.final_score_ci_low:.4f} to {row.final_score_ci_high:.4f})"


def leaderboard_cells(rows: list[Row]) -> Cells:
    """The ranked leaderboard as display cells."""
    header = ("rank", "submission", "final score (95% CI)", "F", "RA_u/RA_r", "TA_u/TA_r", "median unlearning s", "budget ratio", "verdict", "status")
    cells = [
        [
            "-" if position is None else str(position),
            row.submission,
            _score_cell(row),
            _number(row.forget_quality),
            _number(row.retain_ratio, 3),
            _number(row.test_ratio, 3),
            _number(row.unlearn_median_s, 3),
            _number(row.budget_ratio, 3),
            row.verdict,
            row.status,
        ]
        for position, row in rank(rows)
    ]
    return header, cells


def comparison_cells(comparison: pa.Table) -> Cells:
    """The public-against-private table as display cells."""
    header = ("submission", "public rank", "public score", "private rank", "private score", "rank change")

    def rank_cell(value: int | None) -> str:
        return "-" if value is None else str(value)

    def change_cell(value: int | None) -> str:
        return "n/a" if value is None else f"{value:+d}" if value else "0"

    cells = [
        [r["submission"], rank_cell(r["public_rank"]), _number(r["public_score"]), rank_cell(r["private_rank"]), _number(r["private_score"]), change_cell(r["rank_change"])]
        for r in comparison.to_pylist()
    ]
    return header, cells


def markdown(table: Cells) -> str:
    """A Markdown table; submission names in code style."""
    header, cells = table
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(f"`{cell}`" if name == "submission" else cell for name, cell in zip(header, row)) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def html_table(table: Cells) -> str:
    """An HTML table, every cell escaped (submission names are participants' file names)."""
    header, cells = table
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in cells)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:80em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}"
    "th{background:#f3f3f3}tbody tr:nth-child(even){background:#fafafa}"
)


def markdown_page(title: str, notes: list[str], sections: list[tuple[str, Cells]]) -> str:
    """A Markdown document: title, notes, then one titled table per section."""
    parts = [f"# {title}", "\n".join(notes)]
    parts += [(f"## {heading}\n\n" if heading else "") + markdown(table).rstrip("\n") for heading, table in sections]
    return "\n\n".join(parts).rstrip("\n") + "\n"


def html_page(title: str, notes: list[str], sections: list[tuple[str, Cells]]) -> str:
    """A static, self-contained HTML page with the same content as `markdown_page`."""
    body = "".join(f"<p>{html.escape(note)}</p>" for note in notes)
    body += "".join((f"<h2>{html.escape(heading)}</h2>" if heading else "") + html_table(table) for heading, table in sections)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )
