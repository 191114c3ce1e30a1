"""The time budget: unlearning must cost a small fraction of retraining from scratch.

The competition rejected algorithms slower than about 20% of the time it
takes to retrain; we compare medians measured on the same machine.
"""

from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_FRACTION = 0.2
_TIMEOUT_BUDGETS = 10.0
_TIMEOUT_FLOOR_S = 10.0


@dataclass(frozen=True)
class TimeBudget:
    fraction: float
    unlearn_median_s: float | None
    retrain_median_s: float
    ratio: float | None
    verdict: str  # pass, fail, or unknown when no run finished
    retrain_timed: str  # "with the references" or "re-timed on this machine"

    def to_dict(self) -> dict:
        return asdict(self)


def time_budget(unlearn_seconds: np.ndarray, retrain_seconds: np.ndarray, fraction: float, retrain_timed: str) -> TimeBudget:
    """Verdict `pass` when median unlearning time <= fraction x median retrain time."""
    retrain = float(np.median(retrain_seconds))
    if len(unlearn_seconds) == 0:
        return TimeBudget(fraction, None, retrain, None, "unknown", retrain_timed)
    unlearn = float(np.median(unlearn_seconds))
    ratio = unlearn / retrain
    return TimeBudget(fraction, unlearn, retrain, ratio, "pass" if ratio <= fraction else "fail", retrain_timed)


def hard_timeout(retrain_median_s: float, fraction: float) -> float:
    """Seconds after which a run is stopped: ten budgets, and never under ten seconds."""
    return max(_TIMEOUT_FLOOR_S, _TIMEOUT_BUDGETS * fraction * retrain_median_s)
