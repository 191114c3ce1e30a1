"""Per-example privacy estimate (epsilon) of the competition metric.

Steps 2 to 6 of ../shared/specs/official-metric.md, vectorised. The
organisers' scorer evaluates every decision rule of every example one by one;
here two observations make it cheap while keeping its numbers:

* A rule's epsilon depends only on how many positives and how many negatives it
  accepts, two integers. All (N+1)^2 possible epsilons are computed once in a
  table, and a rule costs one lookup instead of four logarithms.
* Those counts come from binary searches of the rule thresholds in the sorted
  samples, so the ~160,000 interval rules of an example are a few array
  operations.

Thresholds are generated with the same library calls as the organisers'
(numpy linspace for intervals, torch linspace for single thresholds) because
the two round differently and a threshold that lands on a sample value
changes a count.
"""

from dataclasses import dataclass
from functools import lru_cache
import math

import numpy as np
import torch

DELTA = 1e-5
PEAKY_EPSILON = 50.0
MAX_EPSILON = 50.0
_PEAKY_RATIO = 0.01
_MARGIN = 2.0
_LEFTS_PER_RIGHT = 400
_GRID_PER_UNIT = 100


@dataclass(frozen=True)
class EpsilonEstimate:
    """Per-example epsilon with the flags that explain extreme values."""

    epsilon: np.ndarray  # float32 [E], in [0, 50]
    peaky: np.ndarray  # bool [E]: the ratio shortcut gave 50
    undetermined: np.ndarray  # bool [E]: every rule was discarded, epsilon 0


@lru_cache(maxsize=8)
def rule_epsilon_table(n_pos: int, n_neg: int, delta: float = DELTA) -> np.ndarray:
    """Epsilon of a rule accepting a positives and b negatives, at [a, b].

    float32 throughout, as the organisers compute it. Discarded rules (exactly
    one error rate zero, or both sides NaN) hold -inf so that a max ignores
    them; perfect separation holds +inf.
    """
    a = np.arange(n_pos + 1, dtype=np.float32)[:, None]
    b = np.arange(n_neg + 1, dtype=np.float32)[None, :]
    tpr = a / np.float32(n_pos)
    fnr = (np.float32(n_pos) - a) / np.float32(n_pos)
    fpr = b / np.float32(n_neg)
    tnr = (np.float32(n_neg) - b) / np.float32(n_neg)
    one_minus_delta = np.float32(1.0) - np.float32(delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        side_1 = np.log(one_minus_delta - fpr) - np.log(fnr)
        side_2 = np.log(one_minus_delta - fnr) - np.log(fpr)
    both_nan = np.isnan(side_1) & np.isnan(side_2)
    eps = np.fmax(side_1, side_2)  # fmax ignores a NaN side
    eps = np.maximum(eps, np.float32(0.0))
    perfect = (fpr + fnr == 0) & (tpr + tnr == 2)
    discarded = ~perfect & ((fpr * fnr == 0) | both_nan)
    eps = np.where(perfect, np.float32(np.inf), eps)
    eps = np.where(discarded, np.float32(-np.inf), eps)
    return eps.astype(np.float32)


def _count_at_most(sorted_sample: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_sample, t, side="right")


def _count_below(sorted_sample: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_sample, t, side="left")


def interval_rule_counts(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of (pos, neg) inside every interval rule (family A).

    `pos` and `neg` are sorted; `pos` must already be the narrower sample.
    A rule accepts left <= x <= right; a rule with left > right accepts
    nothing, which the clip at zero expresses.
    """
    width = pos[-1] - pos[0]
    lo = pos[0] + width - _MARGIN
    hi = pos[-1] + _MARGIN
    n_rights = math.ceil((hi - lo) * _GRID_PER_UNIT)
    rights = np.linspace(lo, hi, n_rights)
    lefts = np.linspace(rights - width - _MARGIN, rights - width + _MARGIN, _LEFTS_PER_RIGHT, axis=-1)
    a = _count_at_most(pos, rights)[:, None] - _count_below(pos, lefts)
    b = _count_at_most(neg, rights)[:, None] - _count_below(neg, lefts)
    return np.maximum(a, 0).ravel(), np.maximum(b, 0).ravel()


def threshold_rule_counts(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of (pos, neg) at or above every single threshold (family B)."""
    lo = min(pos[0], neg[0])
    hi = max(pos[-1], neg[-1])
    n_thresholds = math.ceil((hi - lo) * _GRID_PER_UNIT)
    thresholds = torch.linspace(lo, hi, n_thresholds, dtype=torch.float64).numpy()
    return len(pos) - _count_below(pos, thresholds), len(neg) - _count_below(neg, thresholds)


def _is_peaky(pos: np.ndarray, neg: np.ndarray) -> bool:
    dp = pos[-1] - pos[0]
    dn = neg[-1] - neg[0]
    wide, narrow = (dp, dn) if dp > dn else (dn, dp)
    with np.errstate(divide="ignore", invalid="ignore"):
        return bool(np.float64(narrow) / np.float64(wide) < _PEAKY_RATIO)


def example_epsilon(unlearned: np.ndarray, retrained: np.ndarray) -> tuple[float, bool, bool]:
    """(epsilon, peaky, undetermined) of one forget example.

    `unlearned` and `retrained` hold the example's statistic under each model
    of the two populations.
    """
    u = np.sort(unlearned)
    r = np.sort(retrained)
    pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
    if _is_peaky(pos, neg):
        return PEAKY_EPSILON, True, False
    narrow, wide = (neg, pos) if pos[-1] - pos[0] >= neg[-1] - neg[0] else (pos, neg)
    table = rule_epsilon_table(len(narrow), len(wide))
    best = table[interval_rule_counts(narrow, wide)].max(initial=-np.inf)
    table = rule_epsilon_table(len(pos), len(neg))
    best = max(best, table[threshold_rule_counts(pos, neg)].max(initial=-np.inf))
    if best == -np.inf:
        return 0.0, False, True
    return float(min(best, MAX_EPSILON)), False, False


def official_epsilon(unlearned: np.ndarray, retrained: np.ndarray) -> EpsilonEstimate:
    """Per-example epsilon for statistics of shape [N, E] of both populations."""
    unlearned = np.asarray(unlearned, dtype=np.float64)
    retrained = np.asarray(retrained, dtype=np.float64)
    if unlearned.ndim != 2 or retrained.ndim != 2 or unlearned.shape[1] != retrained.shape[1]:
        raise ValueError(
            f"expected two [N, E] arrays with the same E, got {unlearned.shape} and {retrained.shape}"
        )
    rows = [example_epsilon(unlearned[:, e], retrained[:, e]) for e in range(unlearned.shape[1])]
    eps, peaky, undetermined = zip(*rows) if rows else ((), (), ())
    return EpsilonEstimate(
        epsilon=np.asarray(eps, dtype=np.float32),
        peaky=np.asarray(peaky, dtype=bool),
        undetermined=np.asarray(undetermined, dtype=bool),
    )
