"""Epsilon of a decision rule as a table over (accepted positives a, accepted negatives b).

A rule's error rates, and so its epsilon, depend only on these two counts.
Every attack reduces to counting them per rule and taking the table's max,
so the rate estimate (empirical or a confidence bound) is a choice of table.
Tables are returned flattened, cell (a, b) at a * (n_neg + 1) + b.
"""

from functools import lru_cache

import numpy as np
from scipy.stats import beta

DELTA = 1e-5
RATES = ("empirical", "clopper-pearson")


def _epsilon(fpr: np.ndarray, fnr: np.ndarray, delta: float) -> np.ndarray:
    """max of the two one-sided bounds, ignoring a NaN side, clipped at 0; NaN if both are NaN."""
    one_minus_delta = fpr.dtype.type(1.0) - fpr.dtype.type(delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        side_1 = np.log(one_minus_delta - fpr) - np.log(fnr)
        side_2 = np.log(one_minus_delta - fnr) - np.log(fpr)
    return np.maximum(np.fmax(side_1, side_2), fpr.dtype.type(0.0))


def _flat(table: np.ndarray) -> np.ndarray:
    flat = np.ascontiguousarray(table, dtype=np.float32).ravel()
    flat.setflags(write=False)
    return flat


@lru_cache(maxsize=16)
def empirical_table(n_pos: int, n_neg: int, delta: float = DELTA) -> np.ndarray:
    """The organisers' rule epsilon, float32 throughout (official-metric.md, step 6).

    Perfect separation is +inf; a rule with exactly one error rate zero, or
    with both sides NaN, is discarded (-inf, so a max ignores it).
    """
    a = np.arange(n_pos + 1, dtype=np.float32)[:, None]
    b = np.arange(n_neg + 1, dtype=np.float32)[None, :]
    tpr = a / np.float32(n_pos)
    fnr = (np.float32(n_pos) - a) / np.float32(n_pos)
    fpr = b / np.float32(n_neg)
    tnr = (np.float32(n_neg) - b) / np.float32(n_neg)
    eps = _epsilon(fpr, fnr, delta)
    perfect = (fpr + fnr == 0) & (tpr + tnr == 2)
    discarded = ~perfect & ((fpr * fnr == 0) | np.isnan(eps))
    eps = np.where(perfect, np.float32(np.inf), eps)
    return _flat(np.where(discarded, np.float32(-np.inf), eps))


def _clopper_pearson_upper(errors: np.ndarray, n: int, confidence: float) -> np.ndarray:
    """One-sided upper confidence bound on an error rate from `errors` out of `n`."""
    with np.errstate(invalid="ignore"):
        upper = beta.ppf(confidence, errors + 1, n - errors)
    return np.where(errors >= n, 1.0, upper)


@lru_cache(maxsize=16)
def clopper_pearson_table(n_pos: int, n_neg: int, confidence: float = 0.95, delta: float = DELTA) -> np.ndarray:
    """Rule epsilon with both error rates replaced by one-sided Clopper-Pearson upper bounds.

    Larger error rates give a smaller epsilon for the same rule (the rigorous
    variant named in the organisers' technical report). Each rate is bounded
    at `confidence` from its own, independent population, so a rule's
    epsilon holds with probability about confidence squared (0.9025 at 0.95),
    not `confidence`. Bounds are never zero, so no epsilon is infinite and no
    rule is discarded for a zero error rate (only, as before, when both sides
    are NaN): the rules with one zero rate that the official metric discards
    are kept, so an example's epsilon can exceed the official one.
    """
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
    a = np.arange(n_pos + 1)[:, None]
    b = np.arange(n_neg + 1)[None, :]
    fnr = _clopper_pearson_upper(n_pos - a, n_pos, confidence)
    fpr = _clopper_pearson_upper(b, n_neg, confidence)
    eps = _epsilon(fpr, fnr, delta)
    return _flat(np.where(np.isnan(eps), -np.inf, eps))


def rule_table(rates: str, n_pos: int, n_neg: int, confidence: float = 0.95) -> np.ndarray:
    if rates == "empirical":
        return empirical_table(n_pos, n_neg)
    if rates == "clopper-pearson":
        return clopper_pearson_table(n_pos, n_neg, confidence)
    raise ValueError(f"unknown rates {rates!r}; choose from {', '.join(RATES)}")
