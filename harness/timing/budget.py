"""The time budget: unlearning must cost a small fraction of retraining from scratch.

The competition rejected algorithms slower than about 20% of the time it
takes to retrain, and on Kaggle a notebook over its time limit got no score.
Both sides are measured the same way (harness.timing.yardstick): the median
charged seconds of the runs against those of the retrain baseline run as a
submission, by default among the runs themselves. By default (`eligible`), a submission over budget is ranked
after every submission within it, as on Kaggle; `rank-all` ranks by score
alone, for studies.

All three medians (the runs', retraining's and the floor's) are estimates,
so the ratio carries a 95% interval and the verdict has three values:
`pass` when the whole interval lies within the limit, `fail` when it lies
beyond, `borderline` when it holds the limit. Each median's interval is the
distribution-free order-statistic interval (the binomial confidence
interval for a quantile, as in Conover's Practical Nonparametric
Statistics), at a coverage of 0.95^(1/3) each, so that the three hold
together with probability >= 95%: the runs, the retrainings and the
identity runs are independent samples. The ratio is monotone in each
median, so its interval is the range of its values at the corners of the
three intervals. A borderline verdict counts as `pass` by default (a
verdict that costs a team its place must be shown, not suspected);
`--borderline fail` counts it as over budget; `--borderline more-runs`
times twice as many runs (and measures retraining twice as often) while the
verdict stays borderline, up to a maximum, and counts one still borderline
then as a pass. Every timed run is scored too, against as many references:
a run that is timed but never scored is one a file could leave undone.
"""

from dataclasses import replace
import os

import numpy as np
from scipy import stats

from harness.timing.yardstick import Yardstick
from rendering.pages import ratio_text
from scoring.document import TimeBudget

MORE_RUNS = 4  # --borderline more-runs times at most this many times N runs, unless --max-runs says otherwise
COVERAGE = 0.95  # of the ratio's interval: the three medians' intervals together
EACH_COVERAGE = COVERAGE ** (1 / 3)  # of each median's interval (the runs', retraining's, the floor's)
_TIMEOUT_BUDGETS = 10.0
_TIMEOUT_FLOOR_S = 10.0
_MEASURES = {"cpu": "CPU time of the run's process tree (import, threads and children included)", "wall": "wall-clock time of the run's process tree"}


def median_interval(seconds: np.ndarray, coverage: float) -> tuple[float, float, float]:
    """(low, high, achieved coverage) of the order-statistic interval for the median: the k-th smallest
    and k-th largest of n values cover the median with probability 1 - 2 P(Binomial(n, 1/2) < k), for
    any continuous distribution. k is the largest that reaches `coverage`; where even the extremes do not
    (n < 7 at 98.3%), the interval is the extremes and the coverage says what they achieve."""
    ordered = np.sort(np.asarray(seconds, dtype=float))
    n = len(ordered)
    achieved = 1 - 2 * stats.binom.cdf(np.arange(max(1, n // 2)), n, 0.5)  # for k = 1, 2, ...: decreasing
    k = max(1, int(np.sum(achieved >= coverage)))
    return float(ordered[k - 1]), float(ordered[n - k]), max(0.0, float(achieved[k - 1]))


def ratio_interval(unlearn_seconds: np.ndarray, retrain_seconds: np.ndarray, floor_seconds: np.ndarray) -> tuple[tuple[float, float | None], float]:
    """The interval of (median unlearn - median floor) / (median retrain - median floor) and its coverage (at
    least the product of the three medians' coverages, the samples being independent); unbounded above
    (None) where retraining's interval reaches down to the floor's."""
    u_low, u_high, u_coverage = median_interval(unlearn_seconds, EACH_COVERAGE)
    r_low, r_high, r_coverage = median_interval(retrain_seconds, EACH_COVERAGE)
    f_low, f_high, f_coverage = median_interval(floor_seconds, EACH_COVERAGE)
    corners = [(u, r, f) for u in (u_low, u_high) for r in (r_low, r_high) for f in (f_low, f_high)]
    ratios = [max(0.0, u - f) / (r - f) for u, r, f in corners if r > f]
    low = min(ratios) if ratios else 0.0
    high = max(ratios) if len(ratios) == len(corners) else None
    return (low, high), u_coverage * r_coverage * f_coverage


def verdict_of(interval: tuple[float, float | None], fraction: float) -> str:
    """pass: the whole interval within the limit; fail: wholly beyond it; borderline: it holds the limit."""
    low, high = interval
    return "pass" if high is not None and high <= fraction else "fail" if low > fraction else "borderline"


def _unlearn_s(charged_s: np.ndarray, retrain: Yardstick) -> float:
    """The runs' median charged seconds, the harness's floor taken off."""
    return max(0.0, float(np.median(charged_s)) - retrain.floor_s)


EARLY_RUNS = 16  # runs after which a score that is clearly over budget says so, rather than at the end


def early_warning(charged_s: np.ndarray, retrain: Yardstick, fraction: float) -> str | None:
    """A warning once the first EARLY_RUNS runs' ratio interval lies wholly beyond the limit: a score at
    N = 512 over budget would otherwise run for minutes before its verdict appears. None otherwise."""
    if len(charged_s) < EARLY_RUNS:
        return None
    (low, high), _ = ratio_interval(charged_s, np.array(retrain.seconds), np.array(retrain.floor_seconds))
    if low <= fraction:
        return None
    ratio = _unlearn_s(charged_s, retrain) / (retrain.median_s - retrain.floor_s)
    return (f"time budget: the first {len(charged_s)} runs are over budget, ratio {ratio_text(ratio, low, high)} against a limit "
            f"of {fraction:g}; the verdict will most likely be fail. The runs go on (Ctrl-C stops them; those done are kept).")


IMPORT_DOMINATES = 0.5  # an import share above this earns a hint on the console


def import_part(import_seconds: np.ndarray, charged_seconds: np.ndarray) -> tuple[float | None, float | None]:
    """(median import seconds, median share of the charged seconds) over the runs that reported their import
    (NaN where a run did not); (None, None) if none did."""
    reported = ~np.isnan(import_seconds)
    if not reported.any():
        return None, None
    shares = import_seconds[reported] / np.maximum(charged_seconds[reported], 1e-12)
    return float(np.median(import_seconds[reported])), float(np.median(shares))


def time_budget(unlearn_seconds: np.ndarray, unlearn_wall: np.ndarray, retrain: Yardstick, fraction: float, policy: str, runs_load: float,
                borderline: str = "pass", import_seconds: np.ndarray | None = None) -> TimeBudget:
    """The runs' median charged time against fraction x the yardstick's, the harness's floor taken off both,
    with the ratio's interval deciding the verdict; `import_seconds` (NaN where not reported) only informs."""
    unlearn = _unlearn_s(unlearn_seconds, retrain) if len(unlearn_seconds) else None
    retrain_s = retrain.median_s - retrain.floor_s
    ratio = None if unlearn is None else unlearn / retrain_s
    interval, coverage = (ratio_interval(unlearn_seconds, np.array(retrain.seconds), np.array(retrain.floor_seconds)) if len(unlearn_seconds)
                          else (None, None))
    verdict = "unknown" if interval is None else verdict_of(interval, fraction)
    import_s, share = import_part(np.full(len(unlearn_seconds), np.nan) if import_seconds is None else import_seconds, unlearn_seconds)
    return TimeBudget(
        fraction=fraction,
        measure=_MEASURES[retrain.measure],
        floor_s=retrain.floor_s,
        unlearn_median_s=unlearn,
        retrain_median_s=retrain_s,
        ratio=ratio,
        ratio_ci=interval,
        ratio_ci_coverage=coverage,
        verdict=verdict,
        borderline=borderline,
        runs_timed=len(unlearn_seconds),
        policy=policy,
        eligible=policy == "rank-all" or verdict == "pass" or (verdict == "borderline" and borderline != "fail"),
        unlearn_wall_median_s=float(np.median(unlearn_wall)) if len(unlearn_wall) else None,
        import_median_s=import_s,
        import_share=share,
        retrain_wall_median_s=retrain.wall_median_s,
        retrain_median_ci=median_interval(np.array(retrain.seconds), EACH_COVERAGE)[:2],
        floor_median_ci=median_interval(np.array(retrain.floor_seconds), EACH_COVERAGE)[:2],
        retrain_runs=len(retrain.seconds),
        yardstick=retrain.kind,
        load_average={"runs": runs_load, "yardstick": tuple(retrain.load_average)},
    )


def reported_budget(seconds: np.ndarray, hardware: str, retrain: Yardstick, fraction: float, policy: str, borderline: str) -> TimeBudget:
    """The budget of checkpoints made elsewhere, from the seconds the participant reports for each `unlearning`
    call (measured on `hardware`) against retraining timed here. A reported call stands for a run charged that
    much beyond the harness's own floor, which the verdict then takes off again."""
    budget = time_budget(seconds + retrain.floor_s, seconds, retrain, fraction, policy, load_average(), borderline)
    return replace(budget, measure=f"seconds each unlearning call took, as the participant reports them, measured on {hardware}; "
                                   f"retraining: {budget.measure}, here", reported_on=hardware)


def hard_timeout(retrain_wall_median_s: float, fraction: float) -> float:
    """Wall-clock seconds after which a run is stopped: ten budgets, and never under ten seconds."""
    return max(_TIMEOUT_FLOOR_S, _TIMEOUT_BUDGETS * fraction * retrain_wall_median_s)


def load_average() -> float:
    """The machine's 1-minute load average now."""
    return os.getloadavg()[0]
