"""Leaderboard rows from score.json documents: ranked, then written as a Markdown table.

Pure functions on the documents the harness writes; nothing here runs or
imports a submission. Scored submissions rank by final score (ties by name);
failed ones follow, named with their failure classes, as on Kaggle where a
failing notebook gets no score.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One submission's line: the score, its parts and the time-budget verdict."""

    submission: str
    status: str  # scored, scored-with-failures, or failed (classes)
    final_score: float | None
    final_score_ci95: tuple[float, float] | None
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
    interval = document.get("final_score_ci95")
    budget = document["time_budget"]
    return Row(
        submission=name,
        status=status,
        final_score=document["final_score"],
        final_score_ci95=tuple(interval) if interval else None,
        forget_quality=document["forget_quality"],
        retain_ratio=_ratio(document.get("retain_accuracy")),
        test_ratio=_ratio(document.get("test_accuracy")),
        unlearn_median_s=budget["unlearn_median_s"],
        budget_ratio=budget["ratio"],
        verdict=budget["verdict"],
    )


def rank(rows: list[Row]) -> list[Row]:
    """Best final score first; submissions without a score last, by name."""
    return sorted(rows, key=lambda row: (row.final_score is None, -(row.final_score or 0.0), row.submission))


def _number(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _score_cell(row: Row) -> str:
    if row.final_score_ci95 is None:
        return _number(row.final_score)
    low, high = row.final_score_ci95
    return f"{row.final_score:.4f} ({low:.4f} to {high:.4f})"


def markdown_table(rows: list[Row]) -> str:
    """The ranked rows as a Markdown table, one line per submission."""
    lines = [
        "| rank | submission | final score (95% CI) | F | RA_u/RA_r | TA_u/TA_r | median unlearning s | budget ratio | verdict | status |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for position, row in enumerate(rank(rows), start=1):
        cells = [
            str(position) if row.final_score is not None else "-",
            f"`{row.submission}`",
            _score_cell(row),
            _number(row.forget_quality),
            _number(row.retain_ratio, 3),
            _number(row.test_ratio, 3),
            _number(row.unlearn_median_s, 3),
            _number(row.budget_ratio, 3),
            row.verdict,
            row.status,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
