"""A study of originals: how much a submission's score owes to the original model it unlearned from.

The competition unlearns N times from one original, so its score says how a method treats that one model. Under
`--originals K`, K originals are trained from K seeds and run i unlearns from original i mod K; each original's
N/K runs are scored against the same first N/K references. Their scores differ for two reasons: the runs' own
randomness, which each score's half-sampling standard error measures, and the original drawn. The test is
the heterogeneity test of meta-analysis: Cochran's Q, the inverse-variance weighted squares of the scores about
their weighted mean, is chi-squared on K - 1 degrees of freedom when the original does not matter; the spread the
original adds beyond chance is DerSimonian and Laird's tau (Controlled Clinical Trials 7, 1986), 0 when Q is at
most its degrees of freedom.
"""

import math

import numpy as np
from scipy import stats

from scoring.document import Heterogeneity

SIGNIFICANT = 0.05  # the p-value below which the original is said to matter
POOLED = ("A final score from several originals pools their runs, which differ as models of several seeds do and so look like "
          "retrained models: it is no measure of a method (identity, which returns each original unchanged, scores well above 0), "
          "and no board ranks by it; the per-original scores are the study's numbers.")


def heterogeneity(scores: np.ndarray, standard_errors: np.ndarray) -> Heterogeneity | None:
    """Cochran's Q and DerSimonian-Laird's tau of K >= 2 scores with positive standard errors (None otherwise:
    without each score's own uncertainty, no spread can be told from chance)."""
    scores, errors = np.asarray(scores, dtype=float), np.asarray(standard_errors, dtype=float)
    if len(scores) < 2 or not np.all(np.isfinite(scores)) or not np.all(errors > 0):
        return None
    weights = 1.0 / errors**2
    mean = float(np.sum(weights * scores) / weights.sum())
    q = float(np.sum(weights * (scores - mean) ** 2))
    degrees = len(scores) - 1
    scale = float(weights.sum() - np.sum(weights**2) / weights.sum())
    between = math.sqrt(max(0.0, (q - degrees) / scale))
    return Heterogeneity(float(np.std(scores, ddof=1)), float(np.sqrt(np.mean(errors**2))), between, q, float(stats.chi2.sf(q, degrees)))


def heterogeneity_note(result: Heterogeneity | None, count: int) -> str:
    """What the spread says, in one sentence."""
    if result is None:
        return (f"Across {count} originals no spread can be told from chance: some original's score has no standard error (its runs "
                "were not scored, were too few to halve, or every half-sample scored the same).")
    measured = (f"Across {count} originals the final score varies with sd {result.spread_sd:.4f}; the runs' randomness alone "
                f"explains sd {result.chance_sd:.4f} (Cochran's Q {result.q:.2f} on {count - 1} degrees of freedom, p = {result.p_value:.3f})")
    if result.p_value < SIGNIFICANT:
        return f"{measured}: the original drawn matters, adding sd {result.between_sd:.4f} to the score (DerSimonian-Laird)."
    return f"{measured}: no evidence at this N that the original drawn matters."
