"""Where a score stands: the ceiling at this N, or the baselines' scores at this N.

A final score of 0.03 means little alone: at N = 512 on digits-mlp it is the
best baseline, at N = 32 it is middling. The baselines' scores are those of
docs/stability.md, read from the JSON `make stability` writes beside it and
ships as package data (harness.resources), so the console never quotes
numbers the docs do not hold, installed or in a checkout.
"""

from harness.resources import baseline_scores_document
from scoring.document import ScoreDocument

SOURCE = "docs/stability.md"  # where people read the same figures


def baseline_scores(benchmark: str, n_models: int, document: dict | None = None) -> dict[str, float]:
    """Each baseline's final score at this N on this benchmark (name -> score); empty when none is known."""
    document = baseline_scores_document() if document is None else document
    if document is None or document["benchmark"] != benchmark or n_models not in document["n_models"]:
        return {}
    column = document["n_models"].index(n_models)
    return {name: row[column] for name, row in document["final_scores"].items() if row[column] is not None}


def context_line(document: ScoreDocument, figures: dict | None = None) -> str | None:
    """One sentence that puts the final score in context, or None when nothing is known at this N."""
    n = document.n_models
    if n is None:
        return None
    if document.forget_quality_ceiling and document.forget_quality is not None:
        share = document.forget_quality / document.forget_quality_ceiling
        return f"F is {share:.0%} of the ceiling's {document.forget_quality_ceiling:.4f} (models retrained from scratch, N = {n})"
    if document.originals is not None:  # the baselines' figures are from one original: a pooled score is not comparable
        return None
    scores = baseline_scores(document.benchmark, n, figures)
    floor_and_ceiling = ("identity", "retrain")
    others = {name: score for name, score in scores.items() if name not in floor_and_ceiling}
    if not (set(floor_and_ceiling) <= scores.keys() and others):
        return None
    best = max(others, key=others.get)
    kit = f", {scores['finetune']:.4f} (finetune, the starting kit)" if "finetune" in scores and best != "finetune" else ""
    return (
        f"at N = {n} the baselines score {scores['identity']:.4f} (identity){kit}, up to {scores[best]:.4f} ({best}); "
        f"retraining from scratch {scores['retrain']:.4f} ({SOURCE})"
    )
