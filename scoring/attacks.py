"""Membership attacks on one forget example, each a family of decision rules.

An attack sees the example's statistic under the positive and the negative
population (sorted; "positive" is the one with the larger median, step 2 of
official-metric.md) and returns the largest rule epsilon it finds, looked up
in a `scoring.tables` table: -inf when every rule was discarded, +inf for a
perfect separation.

- `interval`, `single-threshold`: the official grids (steps 4 and 5).
- `interval-exact`, `single-threshold-exact`: the same rule families with a
  threshold at every distinct sample value, the supremum the grids
  approximate: any grid rule accepts the same values as one of these, so
  they never find less.
- `gaussian-lr`: a Gaussian fitted to each population and every threshold on
  the likelihood ratio, the per-example parametric attack of Hayes et al.
  2024 ("Inexact unlearning needs more careful evaluations") in its simplest
  form. It accepts an interval or the complement of one.
"""

from collections.abc import Callable
import math

import numpy as np
import torch

from scoring.counting import MergedSample, key_below_linspaces, scratch

TableFor = Callable[[int, int], np.ndarray]
Attack = Callable[[np.ndarray, np.ndarray, TableFor], float]

_MARGIN = 2.0
LEFTS_PER_RIGHT = 400
_GRID_PER_UNIT = 100
MAX_THRESHOLDS = 10**7  # a range of 1e5; log(p + 1e-45) - log(q + 1e-45) spans about 207


def _best(table: np.ndarray, index: np.ndarray) -> float:
    """Largest table value over rules.

    A negative index is a rule that accepts nothing; clipping sends it to
    cell (0, 0), which is such a rule.
    """
    values = np.take(table, index, mode="clip", out=scratch("epsilons", index.size, np.float32).reshape(index.shape))
    return float(values.max(initial=-np.inf))


def narrow_first(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step 4: the interval attacks treat the narrower sample as positive (ties: neg)."""
    return (neg, pos) if pos[-1] - pos[0] >= neg[-1] - neg[0] else (pos, neg)


def official_interval_grid(narrow: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right thresholds [K] and, per right, the start and stop of its 400 left thresholds.

    The organisers' lefts are np.linspace(start, stop, 400) for each right.
    """
    width = narrow[-1] - narrow[0]
    lo = narrow[0] + width - _MARGIN
    hi = narrow[-1] + _MARGIN
    rights = np.linspace(lo, hi, math.ceil((hi - lo) * _GRID_PER_UNIT))
    return rights, rights - width - _MARGIN, rights - width + _MARGIN


def official_threshold_grid(values: np.ndarray) -> np.ndarray:
    """Single thresholds over the range of both samples, as the organisers build them.

    Their torch.linspace gets no dtype, so the grid (ends included) is rounded
    to torch's default float32 and widened to float64 for the comparison with
    the float64 values; the count k comes from the float64 range. A float64
    grid differs on rare examples (a value between its float64 and float32
    threshold), so the float32 rounding is part of the metric.
    """
    lo, hi = float(values.min()), float(values.max())
    steps = math.ceil((hi - lo) * _GRID_PER_UNIT)
    if steps > MAX_THRESHOLDS:
        raise ValueError(
            f"an example's values span {hi - lo:.3g}: the official grid would need {steps:.3g} thresholds "
            f"(at most {MAX_THRESHOLDS:.0e}); logit-scaled confidences lie within about +-104"
        )
    return torch.linspace(lo, hi, steps, dtype=torch.float32).to(torch.float64).numpy()


def interval(pos: np.ndarray, neg: np.ndarray, table_for: TableFor) -> float:
    """Accept left <= x <= right on the official grid."""
    narrow, wide = narrow_first(pos, neg)
    sample = MergedSample(narrow, wide)
    rights, left_starts, left_stops = official_interval_grid(narrow)
    index = key_below_linspaces(sample, left_starts, left_stops, LEFTS_PER_RIGHT)
    np.subtract(sample.key_at_most(rights)[:, None], index, out=index)
    return _best(table_for(len(narrow), len(wide)), index)


def single_threshold(pos: np.ndarray, neg: np.ndarray, table_for: TableFor) -> float:
    """Accept x >= t on the official grid."""
    sample = MergedSample(pos, neg)
    index = sample.key_all - sample.key_below(official_threshold_grid(sample.values))
    return _best(table_for(len(pos), len(neg)), index)


def _boundaries(has_negative: np.ndarray, first_positive: int, last_positive: int) -> tuple[np.ndarray, np.ndarray]:
    """Where an optimal exact interval can start and stop, as indices of distinct values.

    Widening an interval over distinct values that hold no negative adds
    positives and no negative, which never lowers a rule's epsilon while some
    positive stays outside (every table rises with the accepted positives
    below n_pos, tests/test_epsilon.py checks it); so some best interval
    starts just after a value holding a negative (or at the first value, or
    just after the first positive, where taking it would accept them all) and
    stops likewise. About n_neg starts and stops instead of n_pos + n_neg.
    """
    count = len(has_negative)
    starts = np.flatnonzero(np.concatenate([[True], has_negative[:-1]]))
    stops = np.flatnonzero(np.concatenate([has_negative[1:], [True]]))
    starts = np.union1d(starts, [first_positive + 1] if first_positive + 1 < count else [])
    stops = np.union1d(stops, [last_positive - 1] if last_positive > 0 else [])
    return starts.astype(np.int64), stops.astype(np.int64)


def interval_exact(pos: np.ndarray, neg: np.ndarray, table_for: TableFor) -> float:
    """Accept left <= x <= right for every pair of distinct sample values (the best of them, see `_boundaries`)."""
    narrow, wide = narrow_first(pos, neg)
    sample = MergedSample(narrow, wide)
    distinct = np.unique(sample.values)
    has_negative = np.searchsorted(wide, distinct, side="right") > np.searchsorted(wide, distinct, side="left")
    starts, stops = _boundaries(has_negative, int(np.searchsorted(distinct, narrow[0])), int(np.searchsorted(distinct, narrow[-1])))
    index = sample.key_at_most(distinct[stops])[None, :] - sample.key_below(distinct[starts])[:, None]
    return _best(table_for(len(narrow), len(wide)), index)


def single_threshold_exact(pos: np.ndarray, neg: np.ndarray, table_for: TableFor) -> float:
    """Accept x >= t for every distinct sample value t."""
    sample = MergedSample(pos, neg)
    index = sample.key_all - sample.key_below(np.unique(sample.values))
    return _best(table_for(len(pos), len(neg)), index)


def _gaussian_log_density(x: np.ndarray, sample: np.ndarray) -> np.ndarray:
    mean = sample.mean()
    std = max(sample.std(), 1e-12 * (1.0 + abs(mean)))  # a constant sample is a very narrow Gaussian
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std)


def gaussian_lr(pos: np.ndarray, neg: np.ndarray, table_for: TableFor) -> float:
    """Accept when the Gaussian likelihood ratio (positive over negative) is >= t, for every t."""
    def ratio(x: np.ndarray) -> np.ndarray:
        return _gaussian_log_density(x, pos) - _gaussian_log_density(x, neg)

    return single_threshold_exact(np.sort(ratio(pos)), np.sort(ratio(neg)), table_for)


ATTACKS: dict[str, Attack] = {
    "interval": interval,
    "single-threshold": single_threshold,
    "interval-exact": interval_exact,
    "single-threshold-exact": single_threshold_exact,
    "gaussian-lr": gaussian_lr,
}
PRESETS: dict[str, tuple[str, ...]] = {
    "official": ("interval", "single-threshold"),
    "strong": tuple(ATTACKS),
}


def resolve_attacks(choice: str) -> tuple[str, ...]:
    """A preset name, or attack names separated by commas."""
    if choice in PRESETS:
        return PRESETS[choice]
    names = tuple(name.strip() for name in choice.split(",") if name.strip())
    unknown = [name for name in names if name not in ATTACKS]
    if unknown or not names:
        raise ValueError(
            f"unknown attacks {', '.join(unknown) or repr(choice)}; presets: {', '.join(PRESETS)}; attacks: {', '.join(ATTACKS)}"
        )
    return names
