"""The ranking-stability tables as display cells: the correlations and scores per N, and per original in a study of originals.

The correlations and ranks themselves are `scoring.stability`'s.
"""

from collections.abc import Sequence

import numpy as np

from rendering.pages import Cells, number
from scoring.document import OriginalsStudy
from scoring.stability import Agreement, OriginalsAgreement, ranks


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


def originals_cells(submissions: Sequence[str], scores: np.ndarray, studies: Sequence[OriginalsStudy | None]) -> Cells:
    """A study of originals: each submission's final score (rank) from each original (columns), and the spread between
    originals against the runs' randomness alone, with the heterogeneity test's p-value."""
    order = ranks(scores)
    header = ("submission", *(f"original {k}" for k in range(scores.shape[1])), "sd between originals", "sd from the runs alone", "p")
    cells = []
    for name, row, rank_row, study in zip(submissions, scores, order, studies, strict=True):
        spread = study.heterogeneity if study is not None else None
        spread_cells = ("n/a",) * 3 if spread is None else (number(spread.spread_sd, 4), number(spread.chance_sd, 4), number(spread.p_value, 3))
        cells.append([name, *("n/a" if not np.isfinite(s) else f"{s:.4f} ({r:.0f})" for s, r in zip(row, rank_row, strict=True)), *spread_cells])
    return header, cells


def originals_agreement_cells(agreement: OriginalsAgreement, significant: int, tested: int) -> Cells:
    """What the originals agree on, one line each; `significant` of the `tested` submissions (those with a standard error
    from every original) have a score that depends on the original."""
    header = ("over the submissions scored from every original", "value")
    cells = [
        ["submissions compared", str(agreement.compared)],
        ["pairs of them that some original orders otherwise than another", f"{agreement.pairs_reordered} of {agreement.pairs}"],
        ["submissions ranked first by some original", str(agreement.winners)],
        ["Kendall tau-b between originals, mean (lowest)", f"{number(agreement.mean_kendall_tau, 3)} ({number(agreement.min_kendall_tau, 3)})"],
        ["submissions whose score depends on the original (Cochran's Q, p < 0.05), of those with a standard error from every original",
         f"{significant} of {tested}"],
    ]
    return header, cells
