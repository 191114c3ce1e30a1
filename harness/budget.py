"""The time budget: unlearning must cost a small fraction of retraining from scratch.

The competition rejected algorithms slower than about 20% of the time it
takes to retrain, and on Kaggle a notebook over its time limit got no score.
Both sides are measured the same way (harness.yardstick): the median
charged seconds of the runs against those of the retrain baseline run as a
submission. By default (`eligible`), a submission over budget is ranked
after every submission within it, as on Kaggle; `rank-all` ranks by score
alone, for studies.
"""

from dataclasses import asdict, dataclass
import os

import numpy as np

from harness.yardstick import Yardstick

DEFAULT_FRACTION = 0.2
POLICIES = ("eligible", "rank-all")
_TIMEOUT_BUDGETS = 10.0
_TIMEOUT_FLOOR_S = 10.0
_MEASURES = {"cpu": "CPU time of the run's process tree (import, threads and children included)", "wall": "wall-clock time of the run's process tree"}


@dataclass(frozen=True)
class TimeBudget:
    fraction: float
    measure: str  # how both sides were measured, in words
    floor_s: float  # the harness's own cost of a run (the identity baseline's), taken off both medians
    unlearn_median_s: float | None  # charged to the runs, the floor taken off
    retrain_median_s: float
    ratio: float | None
    verdict: str  # pass, fail, or unknown when no run finished
    policy: str  # eligible or rank-all
    eligible: bool  # ranked among the submissions within budget (always True under rank-all)
    unlearn_wall_median_s: float | None
    retrain_wall_median_s: float
    retrain_runs: int
    load_average: dict  # the machine's 1-minute load while the runs and the yardstick were measured

    def to_dict(self) -> dict:
        return asdict(self)


def time_budget(unlearn_seconds: np.ndarray, unlearn_wall: np.ndarray, retrain: Yardstick, fraction: float, policy: str, runs_load: float) -> TimeBudget:
    """Verdict `pass` when the runs' median charged time <= fraction x the yardstick's, the harness's
    floor taken off both."""
    unlearn = max(0.0, float(np.median(unlearn_seconds)) - retrain.floor_s) if len(unlearn_seconds) else None
    retrain_s = retrain.median_s - retrain.floor_s
    ratio = None if unlearn is None else unlearn / retrain_s
    verdict = "unknown" if ratio is None else "pass" if ratio <= fraction else "fail"
    return TimeBudget(
        fraction=fraction,
        measure=_MEASURES[retrain.measure],
        floor_s=retrain.floor_s,
        unlearn_median_s=unlearn,
        retrain_median_s=retrain_s,
        ratio=ratio,
        verdict=verdict,
        policy=policy,
        eligible=policy == "rank-all" or verdict == "pass",
        unlearn_wall_median_s=float(np.median(unlearn_wall)) if len(unlearn_wall) else None,
        retrain_wall_median_s=retrain.wall_median_s,
        retrain_runs=len(retrain.seconds),
        load_average={"runs": runs_load, "yardstick": list(retrain.load_average)},
    )


def hard_timeout(retrain_wall_median_s: float, fraction: float) -> float:
    """Wall-clock seconds after which a run is stopped: ten budgets, and never under ten seconds."""
    return max(_TIMEOUT_FLOOR_S, _TIMEOUT_BUDGETS * fraction * retrain_wall_median_s)


def load_average() -> float:
    """The machine's 1-minute load average now."""
    return os.getloadavg()[0]
