"""The ranking-stability tables as display cells: the correlations per N and the scores per N.

The correlations and ranks themselves are `scoring.stability`'s.
"""

from collections.abc import Sequence

import numpy as np

from rendering.pages import Cells, number
from scoring.stability import Agreement, ranks


def agreement_cells(agreements: list[Agreement]) -> Cells:
    """One line per N: how many submissions were compared and both correlations."""
    header = ("N", "submissions compared", "Kendall tau", "Spearman rho")
    cells = [[str(a.n_models), str(a.compared), number(a.kendall_tau, 3), number(a.spearman_rho, 3)] for a in agreements]
    return header, cells


def score_cells(submissions: Sequence[str], n_models: Sequence[int], scores: np.ndarray) -> Cells:
    """The final score and, in parentheses, the rank of each submission (rows) at each N (columns)."""
    order = ranks(scores)
    header = ("submission", *(f"N = {n}" for n in n_models))
    cells = [
        [name, *("n/a" if not np.isfinite(score) else f"{score:.4f} ({rank:.0f})" for score, rank in zip(row, rank_row, strict=True))]
        for name, row, rank_row in zip(submissions, scores, order, strict=True)
    ]
    return header, cells
