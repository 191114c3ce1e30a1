"""Counting sample values below thresholds, for hundreds of thousands of thresholds.

Both populations of an example are merged and sorted once. A threshold's
counts (positives below it, all values below it) then fold into one integer
key such that, for a rule accepting the values in [left, right],

    table index = key_at_most(right) - key_below(left)

is its (accepted positives, accepted negatives) cell in a flattened
`scoring.tables` table; a negative difference means the rule accepts nothing.

Binary search per threshold would be the bottleneck of the official interval
grid (~160,000 thresholds per example). `key_below_linspaces` answers most
thresholds from a uniform bucket grid over their range instead: a threshold
with no sample value within two buckets has the same count as its bucket,
exactly; the rest fall back to binary search.

The official grid has more structure: an example's 400 rights (401 when
rounding lifts its range past 4.00) are 4/399 apart, like the lefts of a
right, so left j of right i is, up to rounding, point i + j of one grid of
799. `key_below_linspaces` notices rows so placed, searches those 799
points once and reads each row as a window of them, 2 to 3 times faster;
other rows (401 rights, 4/400 apart) take the bucket grid.
"""

import threading

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import DTypeLike

_BUCKETS = 1 << 15
_GUARD = 2  # buckets either side of a value in which thresholds are searched exactly
_SHARED_GRID_TOLERANCE = 1e-12  # relative: how far a row's threshold may lie from its shared grid point (rounding: ~1e-15)
_SHARED_GRID_MAGNITUDE = 1e6  # beyond this, rounding errors are too coarse to trust the shared grid: search each threshold


_scratch = threading.local()


def scratch(name: str, size: int, dtype: DTypeLike) -> np.ndarray:
    """A reusable per-thread buffer of at least `size` elements.

    The interval grid needs several arrays of ~160,000 elements per example;
    allocating them afresh makes the allocator return and re-fault memory
    pages on every call, which costs as much as the arithmetic and stops
    threads from scaling. A buffer is only valid until its next request in
    the same thread.
    """
    buffer = getattr(_scratch, name, None)
    if buffer is None or buffer.size < size or buffer.dtype != dtype:
        buffer = np.empty(max(size, 1), dtype=dtype)
        setattr(_scratch, name, buffer)
    return buffer[:size]


class MergedSample:
    """The positives and negatives of one example, merged and sorted."""

    def __init__(self, pos: np.ndarray, neg: np.ndarray):
        values = np.concatenate([pos, neg])
        order = np.argsort(values, kind="stable")
        self.values = values[order]
        self.n_pos, self.n_neg = len(pos), len(neg)
        pos_below = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(order < len(pos), out=pos_below[1:])
        # key of "m values below, p of them positive" = p * n_neg + m
        self.key_by_count = (pos_below * self.n_neg + np.arange(len(values) + 1)).astype(np.int32)

    @property
    def key_all(self) -> int:
        """Key of a threshold above every value: idx = key_all - key_below(t) is rule x >= t."""
        return int(self.key_by_count[-1])

    def key_at_most(self, thresholds: np.ndarray) -> np.ndarray:
        return self.key_by_count[np.searchsorted(self.values, thresholds, side="right")]

    def key_below(self, thresholds: np.ndarray) -> np.ndarray:
        """Key of the values strictly below each threshold, by binary search."""
        return self.key_by_count[np.searchsorted(self.values, thresholds, side="left")]

    def bucket_lookup(self, lo: float, hi: float) -> tuple[float, np.ndarray]:
        """(scale, lookup) so that a threshold t in [lo, hi] whose bucket
        floor((t - lo) * scale) holds a non-negative lookup entry has exactly that key;
        entries of -1 mark buckets within _GUARD of a sample value, to be searched."""
        scale = _BUCKETS / (hi - lo) if hi > lo else 0.0
        reach = _GUARD + 1  # values are clipped to just outside the grid, so counts stay right
        value_bucket = np.clip(np.floor((self.values - lo) * scale), -reach, _BUCKETS + reach).astype(np.int64)
        per_bucket = np.bincount(value_bucket + reach, minlength=_BUCKETS + 2 * reach + 1)
        below = np.concatenate([[0], np.cumsum(per_bucket)])[reach : reach + _BUCKETS + 2]
        window = np.ones(2 * _GUARD + 1, dtype=np.int64)
        near = np.convolve(per_bucket, window, mode="same")[reach : reach + _BUCKETS + 2] > 0
        return scale, np.where(near, -1, self.key_by_count[below]).astype(np.int32)


def key_below_linspaces(sample: MergedSample, starts: np.ndarray, stops: np.ndarray, num: int) -> np.ndarray:
    """Keys below every threshold of np.linspace(starts, stops, num, axis=-1), shape [K, num].

    The thresholds are never materialised: their buckets come from the affine
    formula (off by at most a rounding error, which the guard buckets absorb),
    and only thresholds near a sample value are computed exactly, the way
    numpy's linspace computes them (j * step + start, the last one = stop), and
    searched. A test holds this to np.linspace and searchsorted. The result
    is a per-thread scratch buffer (see `scratch`).
    """
    if len(starts) == 0:  # an empty grid (a range lost to rounding, e.g. values near 1e30) has no rules
        return np.zeros((0, num), dtype=np.int32)
    steps = (stops - starts) / (num - 1)
    shared = _shared_grid(starts, stops, steps, num)
    if shared is not None:
        return _keys_on_shared_grid(sample, starts, stops, steps, *shared)
    lo, hi = float(starts.min()), float(stops.max())
    scale, lookup = sample.bucket_lookup(lo, hi)
    shape = (len(starts), num)
    position = scratch("position", len(starts) * num, np.float64).reshape(shape)
    np.multiply(np.arange(num, dtype=np.float64), (steps * scale)[:, None], out=position)
    position += ((starts - lo) * scale)[:, None]
    np.clip(position, 0, _BUCKETS + 1, out=position)
    bucket = scratch("bucket", position.size, np.int32)
    np.copyto(bucket.reshape(shape), position, casting="unsafe")  # truncation = floor, positions are >= 0
    keys = np.take(lookup, bucket, out=scratch("keys", bucket.size, np.int32))
    near = np.flatnonzero(np.less(keys, 0, out=scratch("near", keys.size, bool)))
    rows, cols = np.divmod(near, num)
    keys[near] = sample.key_below(_exact_linspace(starts, stops, steps, num, rows, cols))
    return keys.reshape(len(starts), num)


def _shared_grid(starts: np.ndarray, stops: np.ndarray, steps: np.ndarray, num: int) -> tuple[np.ndarray, float] | None:
    """(grid, tolerance): the grid [len(starts) + num - 1] whose point i + j lies within `tolerance` of every row's
    threshold j (rows start one step apart, each with that step), or None where the rows are not so placed, or
    where the values are so large that rounding could move a threshold past a sample value.

    Checked, not assumed: every row's start, stop and step is held within a quarter of the tolerance (a
    millionth of a millionth of the magnitude, against numpy's rounding of a few 1e-16) of the grid's, so
    that a row's threshold, rounded once more by numpy, stays within the tolerance of its grid point.
    """
    rows = len(starts)
    magnitude = max(abs(float(starts[0])), abs(float(stops[-1]))) + 1.0
    if rows < 2 or num < 2 or not magnitude < _SHARED_GRID_MAGNITUDE:
        return None
    tolerance = _SHARED_GRID_TOLERANCE * magnitude
    step = (starts[-1] - starts[0]) / (rows - 1)
    grid = starts[0] + np.arange(rows + num - 1) * step
    placed = (np.all(np.abs(steps - step) * (num - 1) <= tolerance / 4)
              and np.all(np.abs(starts - grid[:rows]) <= tolerance / 4)
              and np.all(np.abs(stops - grid[num - 1 :]) <= tolerance / 4))
    return (grid, tolerance) if placed else None


def _keys_on_shared_grid(sample: MergedSample, starts: np.ndarray, stops: np.ndarray, steps: np.ndarray, grid: np.ndarray,
                         tolerance: float) -> np.ndarray:
    """`key_below_linspaces` for rows on one shared grid: row i is the window of the grid's keys from point i; the
    thresholds of a grid point with a sample value within `tolerance` are searched as numpy computes them."""
    rows, num = len(starts), len(grid) - len(starts) + 1
    keys = scratch("keys", rows * num, np.int32).reshape(rows, num)
    np.copyto(keys, sliding_window_view(sample.key_below(grid), num))
    near = np.flatnonzero(np.searchsorted(sample.values, grid - tolerance) < np.searchsorted(sample.values, grid + tolerance, side="right"))
    if len(near):
        first, last = np.maximum(0, near - num + 1), np.minimum(rows - 1, near)
        row = np.concatenate([np.arange(a, b + 1) for a, b in zip(first, last, strict=True)])
        col = np.repeat(near, last - first + 1) - row
        keys[row, col] = sample.key_below(_exact_linspace(starts, stops, steps, num, row, col))
    return keys


def _exact_linspace(starts: np.ndarray, stops: np.ndarray, steps: np.ndarray, num: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Thresholds (rows, cols) of np.linspace(starts, stops, num, axis=-1), computed as numpy does: col * step + start,
    the last one = stop."""
    exact = cols * steps[rows] + starts[rows]
    last = cols == num - 1
    exact[last] = stops[rows[last]]
    return exact
