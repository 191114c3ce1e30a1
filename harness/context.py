"""Where a score stands: the ceiling at this N, or the baselines' scores at this N.

A final score of 0.03 means little alone: at N = 512 on digits-mlp it is the
best baseline, at N = 32 it is middling. The baselines' scores come from
docs/stability.md (written by `make stability`), the one table of them per
N, so the console never quotes numbers the docs do not hold.
"""

from pathlib import Path
import re

STABILITY_TABLE = Path(__file__).resolve().parent.parent / "docs" / "stability.md"
_TITLE = re.compile(r"^# Ranking stability: baselines on (\S+), N = ([\d, ]+)$", re.MULTILINE)
_CELL = re.compile(r"^([\d.]+) \(\d+\)$")


def baseline_scores(benchmark: str, n_models: int, table: Path = STABILITY_TABLE) -> dict[str, float]:
    """Each baseline's final score at this N on this benchmark (name -> score); empty when the table has none."""
    if not table.is_file():
        return {}
    text = table.read_text()
    title = _TITLE.search(text)
    if title is None or title.group(1) != benchmark:
        return {}
    counts = [int(n) for n in title.group(2).split(",")]
    if n_models not in counts:
        return {}
    column = counts.index(n_models) + 1
    scores = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == len(counts) + 1:
            match = _CELL.match(cells[column])
            if match:
                scores[cells[0].strip("`")] = float(match.group(1))
    return scores


def context_line(document: dict, table: Path = STABILITY_TABLE) -> str | None:
    """One sentence that puts the final score in context, or None when nothing is known at this N."""
    n = document["n_models"]
    if document.get("forget_quality_ceiling"):
        share = document["forget_quality"] / document["forget_quality_ceiling"]
        return f"F is {share:.0%} of the ceiling's {document['forget_quality_ceiling']:.4f} (models retrained from scratch, N = {n})"
    scores = baseline_scores(document["benchmark"], n, table)
    floor_and_ceiling = ("identity", "retrain")
    others = {name: score for name, score in scores.items() if name not in floor_and_ceiling}
    if not (set(floor_and_ceiling) <= scores.keys() and others):
        return None
    best = max(others, key=others.get)
    kit = f", {scores['finetune']:.4f} (finetune, the starting kit)" if "finetune" in scores and best != "finetune" else ""
    return (
        f"at N = {n} the baselines score {scores['identity']:.4f} (identity){kit}, up to {scores[best]:.4f} ({best}); "
        f"retraining from scratch {scores['retrain']:.4f} ({table.parent.name}/{table.name})"
    )
