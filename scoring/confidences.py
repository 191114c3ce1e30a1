"""Per-example statistic of the competition metric (official-metric.md, step 1)."""

import numpy as np

_TINY = 1e-45


def logit_scaled_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """log(p_y) - log(1 - p_y) for each row, computed as the organisers do.

    The softmax is taken in float64 after subtracting the row max, and the
    "other classes" mass is summed explicitly rather than taken as 1 - p_y, so
    that confident predictions keep their precision.
    """
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    probs = np.exp(z)
    probs /= probs.sum(axis=1, keepdims=True)
    rows = np.arange(len(z))
    p = probs[rows, labels]
    others = probs.copy()
    others[rows, labels] = 0.0
    q = others.sum(axis=1)
    return np.log(p + _TINY) - np.log(q + _TINY)
