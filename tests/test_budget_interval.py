"""The budget ratio's interval and its three-valued verdict (harness.timing.budget): coverage checked by
simulation on skewed timings, the verdict's cases, and how each is ranked and shown."""

import math

import numpy as np
import pytest

from harness.running.runs import SUBMISSION, Task, TaskQueue, schedule
from harness.timing.budget import COVERAGE, EACH_COVERAGE, EARLY_RUNS, early_warning, median_interval, ratio_interval, time_budget, verdict_of
from harness.timing.yardstick import MEASUREMENTS, Yardstick
from rendering.pages import ratio_text, verdict_text
from rendering.tables import leaderboard_cells
from score_documents import budget, scored
from scoring.document import ScoreDocument
from scoring.leaderboard import rank, row_from_document

# Charged seconds are right-skewed (a worker's first call pays torch's warm-up): lognormal stands for them.
SIGMA = 0.4


def _coverage(trials: int, hit) -> float:
    rng = np.random.default_rng(7)
    return float(np.mean([hit(rng) for _ in range(trials)]))


@pytest.mark.parametrize("n", [MEASUREMENTS["retrain"], 32, 257])
def test_the_median_interval_covers_the_true_median_as_claimed(n):
    target = EACH_COVERAGE
    _, _, claimed = median_interval(np.arange(n, dtype=float), target)
    assert claimed >= target

    def hit(rng: np.random.Generator) -> bool:
        low, high, _ = median_interval(rng.lognormal(0.0, SIGMA, n), target)
        return low <= 1.0 <= high  # the lognormal's median is exp(0) = 1

    trials = 4000
    assert _coverage(trials, hit) >= claimed - 3 * math.sqrt(claimed * (1 - claimed) / trials)


def test_too_few_values_give_the_extremes_and_say_their_coverage():
    low, high, coverage = median_interval(np.array([3.0, 1.0, 2.0, 5.0, 4.0]), 0.975)
    assert (low, high) == (1.0, 5.0) and coverage == pytest.approx(1 - 2 / 32)


def test_the_ratio_interval_covers_the_true_ratio_at_95_percent():
    """Runs, retrainings and the floor's identity runs all vary: the interval holds the ratio of the true
    medians at least 95% of the time."""
    n_runs, n_retrain, n_floor = 32, MEASUREMENTS["retrain"], MEASUREMENTS["identity"]
    true_ratio = (0.3 - 0.1) / (2.0 - 0.1)  # medians 0.3 s, 2.0 s and a floor of 0.1 s (lognormal scaled)

    def hit(rng: np.random.Generator) -> bool:
        samples = (0.3 * rng.lognormal(0, SIGMA, n_runs), 2.0 * rng.lognormal(0, SIGMA, n_retrain), 0.1 * rng.lognormal(0, SIGMA, n_floor))
        (low, high), _ = ratio_interval(*samples)
        return low <= true_ratio <= high

    trials = 4000
    assert _coverage(trials, hit) >= COVERAGE - 3 * math.sqrt(COVERAGE * (1 - COVERAGE) / trials)


def test_the_verdict_says_where_the_interval_lies():
    assert verdict_of((0.10, 0.19), 0.2) == "pass"
    assert verdict_of((0.21, 0.30), 0.2) == "fail"
    assert verdict_of((0.18, 0.22), 0.2) == "borderline"
    assert verdict_of((0.05, None), 0.2) == "borderline"  # unbounded above: never a pass
    assert verdict_of((0.25, None), 0.2) == "fail"


def _yardstick(retrain_s: float) -> Yardstick:
    rng = np.random.default_rng(3)
    return Yardstick(kind="cached", measure="cpu", seconds=tuple(retrain_s * rng.lognormal(0, 0.1, MEASUREMENTS["retrain"])),
                     wall_seconds=(retrain_s,) * MEASUREMENTS["retrain"], floor_seconds=(0.0,) * MEASUREMENTS["identity"], load_average=(0.0, 0.0), hardware={})


@pytest.mark.parametrize(("borderline", "policy", "eligible"), [("pass", "eligible", True), ("fail", "eligible", False), ("fail", "rank-all", True)])
def test_a_borderline_entry_is_ranked_as_the_organiser_chose(borderline, policy, eligible):
    runs = np.random.default_rng(5).lognormal(np.log(0.2), 0.3, 32)  # median at the limit of a 1 s retraining
    budget = time_budget(runs, runs, _yardstick(1.0), 0.2, policy, 0.0, borderline)
    assert budget.verdict == "borderline" and budget.ratio_ci[0] < 0.2 < budget.ratio_ci[1]
    assert budget.eligible is eligible


def test_clear_cases_ignore_the_borderline_setting():
    fast = np.full(32, 0.05) * np.random.default_rng(1).lognormal(0, 0.1, 32)
    slow = fast * 10
    for borderline in ("pass", "fail"):
        assert time_budget(fast, fast, _yardstick(1.0), 0.2, "eligible", 0.0, borderline).verdict == "pass"
        verdict = time_budget(slow, slow, _yardstick(1.0), 0.2, "eligible", 0.0, borderline)
        assert verdict.verdict == "fail" and not verdict.eligible


def _document(name: str, score: float, ratio: float, ci: tuple, verdict: str, eligible: bool) -> ScoreDocument:
    return scored(submission=name, final_score=score, final_score_ci95=(score - 0.01, score + 0.01), forget_quality=score,
                  time_budget=budget(ratio=ratio, ratio_ci=ci, verdict=verdict, eligible=eligible))


def test_the_leaderboard_shows_the_interval_and_ranks_a_borderline_fail_after_those_within():
    rows = [row_from_document("strict_borderline", _document("strict_borderline", 0.5, 0.21, (0.18, 0.25), "borderline", False)),
            row_from_document("kind_borderline", _document("kind_borderline", 0.3, 0.21, (0.18, None), "borderline", True)),
            row_from_document("fast", _document("fast", 0.2, 0.05, (0.04, 0.06), "pass", True))]
    assert [row.submission for _, row in rank(rows)] == ["kind_borderline", "fast", "strict_borderline"]
    header, cells = leaderboard_cells(rows)
    by_name = {line[header.index("submission")]: line for line in cells}
    ratio, verdict = header.index("budget ratio (95% CI)"), header.index("verdict")
    assert by_name["fast"][ratio] == "0.050 (0.040 to 0.060)" and by_name["fast"][verdict] == "pass"
    assert by_name["kind_borderline"][ratio] == "0.210 (0.180 to unbounded)" and by_name["kind_borderline"][verdict] == "borderline"
    assert by_name["strict_borderline"][verdict] == "borderline: ranked as over budget"


def test_no_verdict_claims_to_be_over_budget_without_a_measurement():
    assert verdict_text("unknown", False) == "unknown"
    assert verdict_text("fail", False) == "fail: over budget"
    assert ratio_text(0.1, None, None) == "0.100"


def test_the_early_warning_waits_for_enough_runs_and_a_clear_case():
    yardstick = _yardstick(1.0)
    slow = np.random.default_rng(2).lognormal(np.log(0.5), 0.1, EARLY_RUNS)
    assert early_warning(slow[:-1], yardstick, 0.2) is None  # too few runs to say
    assert early_warning(slow * 0.4, yardstick, 0.2) is None  # at the limit: borderline, no warning
    message = early_warning(slow, yardstick, 0.2)
    assert message is not None and f"first {EARLY_RUNS} runs are over budget" in message


def test_measurements_beside_the_runs_are_spread_evenly_among_them():
    """Every stretch of the runs has its share of the yardstick, so that a load that comes and goes
    weighs on both sides of the ratio alike; without runs to go beside, the measurements run alone."""
    runs = list(range(64))
    measurements = [Task(name, index) for index in range(4) for name in ("retrain", "identity")]
    order = schedule(runs, measurements)
    assert sorted(order, key=lambda task: (task.program, task.index)) == sorted(
        [Task(SUBMISSION, i) for i in runs] + measurements, key=lambda task: (task.program, task.index))
    assert [task.index for task in order if task.program == SUBMISSION] == runs
    before = [sum(1 for task in order[:order.index(measurement)] if task.program == SUBMISSION) for measurement in measurements]
    assert before == [4, 12, 20, 28, 36, 44, 52, 60]  # one of every 8 runs, each in the middle of its stretch
    assert schedule([], measurements) == measurements
    assert schedule(runs, []) == [Task(SUBMISSION, i) for i in runs]


def test_one_thread_makes_the_measurements_while_runs_are_left_then_every_thread_does():
    """The threads that do not measure take the submission's runs past the measurements, so that no baseline's worker
    starts in them; every task is taken once, the measurements in their place in the schedule by the measuring
    thread, and those left once the runs are gone (or alone, on a resume) by any thread."""
    order = schedule(list(range(16)), [Task(name, index) for index in range(2) for name in ("retrain", "identity")])
    queue = TaskQueue(order)
    taken: dict[bool, list[Task]] = {True: [], False: []}
    for measuring in [False, True] * 6:  # two threads in turn, the runs running out before the measurements
        taken[measuring].append(queue.take(measuring))
    assert all(task.program == SUBMISSION for task in taken[False])
    assert taken[True] == [task for task in order if task not in taken[False]][:6]
    rest = [queue.take(False) for _ in range(9)]
    assert rest[-1] is None and queue.take(True) is None
    assert sorted(map(str, taken[True] + taken[False] + rest[:-1])) == sorted(map(str, order))
    alone = TaskQueue([Task("retrain", 0), Task("identity", 0)])
    assert [alone.take(False), alone.take(False), alone.take(False)] == [Task("retrain", 0), Task("identity", 0), None]


def test_the_reproducibility_benchmark_counts_flips_and_contained_ratios():
    from benchmarks.budget_reproducibility import containment, flips

    results = {"near": [(0.19, 0.18, 0.20, "pass"), (0.21, 0.205, 0.22, "fail")],
               "wide": [(0.10, 0.05, None, "borderline"), (0.30, 0.25, 0.35, "fail")]}
    assert flips(results) == ["near"]  # borderline against fail is no flip
    assert containment(results) == (1, 4)  # only 0.30 lies in another's interval, the unbounded one
