"""The metric panel (scoring.panel, scoring.lira) on populations whose answer is known: identical ones at each
metric's floor, disjoint ones at its ceiling, values growing with the separation; the same numbers whatever
the number of worker processes."""

import math

import numpy as np
import pytest
from scipy import stats

from scoring import intervals
from scoring.epsilon import MAX_EPSILON, estimate_epsilon
from scoring.intervals import Accuracies, normal_interval
from scoring.klom import FLOOR
from scoring.lira import CONFIDENCE, lira_epsilon
from scoring.panel import STRONG_ATTACKS, panel, per_example
from scoring.quality import forgetting_quality
from scoring.tables import clopper_pearson_table

N = 64
SPREAD = stats.norm.ppf((np.arange(N) + 0.5) / N)  # a normal's quantiles: the same sample every time
SHIFTS = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]


def _columns(sample: np.ndarray, shifts: list[float]) -> np.ndarray:
    return np.stack([sample + shift for shift in shifts], axis=1)


def _lira_ceiling(n: int) -> float:
    """The largest epsilon one rule can show with n models a population: every model told apart, bounded at 95%."""
    return float(clopper_pearson_table(n, n, CONFIDENCE).reshape(n + 1, n + 1)[n, 0])


def test_lira_is_zero_for_identical_populations_and_its_ceiling_for_disjoint_ones():
    same = _columns(SPREAD, [0.0] * 3)
    assert np.all(lira_epsilon(same, same.copy()) == 0.0)
    apart = lira_epsilon(_columns(SPREAD, [0.0] * 3), _columns(SPREAD, [50.0] * 3))
    assert np.allclose(apart, _lira_ceiling(N)) and 0 < _lira_ceiling(N) < MAX_EPSILON
    assert math.isclose(_lira_ceiling(N), math.log(N / 3), rel_tol=0.05)  # about ln(N / 3), as its docstring says


def test_lira_grows_with_the_separation():
    values = lira_epsilon(_columns(SPREAD, [0.0] * len(SHIFTS)), _columns(SPREAD, SHIFTS))
    assert values[0] == 0.0 and values[-1] <= _lira_ceiling(N)
    assert all(later >= earlier for earlier, later in zip(values, values[1:], strict=False)), values
    assert values[5] > values[4] > values[3] > 0.0  # 4, 2 and 1 standard deviations apart


def test_lira_is_scored_out_of_sample():
    """Two populations drawn alike but not identical: an in-sample rule would find a gap, the held-out test finds none."""
    rng = np.random.default_rng(3)
    unlearned, retrained = rng.normal(size=(N, 200)), rng.normal(size=(N, 200))
    assert forgetting_quality(lira_epsilon(unlearned, retrained), N) > 0.95
    assert forgetting_quality(estimate_epsilon(unlearned, retrained, attacks="gaussian-lr").epsilon, N) < 0.95


def test_strong_epsilons_are_those_of_the_strong_preset_without_running_its_grids():
    rng = np.random.default_rng(5)
    unlearned, retrained = rng.normal(0, 1.5, (32, 40)), rng.normal(0.4, 1.0, (32, 40))
    assert STRONG_ATTACKS != "strong"
    np.testing.assert_array_equal(per_example(unlearned, retrained)["strong"], estimate_epsilon(unlearned, retrained, attacks="strong").epsilon)


def _accuracies(n: int) -> Accuracies:
    return Accuracies(np.full(n, 0.9), np.full(n, 0.8))


def test_the_panel_of_identical_populations_is_at_every_floor_and_of_disjoint_ones_at_every_ceiling():
    same = _columns(SPREAD, [0.0] * 8)
    floor = panel(same, same.copy(), _accuracies(N), _accuracies(N), replicates=0, seed=0)
    assert floor.values == {"strong": 1.0, "lira": 1.0, "klom": 0.0}
    apart = panel(_columns(SPREAD * 0.01, [0.0] * 8), _columns(SPREAD, [50.0] * 8), _accuracies(N), _accuracies(N), replicates=0, seed=0)
    assert apart.values["strong"] == 0.0  # every example at the cap
    assert apart.values["lira"] == forgetting_quality(np.full(8, _lira_ceiling(N)), N)
    assert apart.values["klom"] == pytest.approx(math.log(1 / FLOOR), abs=1e-3)
    assert all(interval is None for interval in apart.ci95.values())  # no replicates asked for


def test_attack_values_carry_the_kept_accuracies_like_the_final_score():
    same = _columns(SPREAD, [0.0] * 8)
    worse = Accuracies(np.full(N, 0.45), np.full(N, 0.8))  # half the retain accuracy of the references
    result = panel(same, same.copy(), worse, _accuracies(N), replicates=0, seed=0)
    assert result.values["strong"] == pytest.approx(0.5) and result.forget_quality["strong"] == 1.0
    assert result.values["klom"] == 0.0  # KLoM is the margins' distance alone


def test_intervals_hold_the_estimates_and_do_not_depend_on_worker_processes(monkeypatch):
    rng = np.random.default_rng(11)
    unlearned, retrained = rng.normal(0, 1.3, (24, 30)), rng.normal(0.3, 1.0, (24, 30))
    one = panel(unlearned, retrained, _accuracies(24), _accuracies(24), replicates=12, seed=4, jobs=1)
    monkeypatch.setattr(intervals, "PROCESS_WORK", 0)  # send even this small case to worker processes
    two = panel(unlearned, retrained, _accuracies(24), _accuracies(24), replicates=12, seed=4, jobs=2)
    assert one.values == two.values and one.ci95 == two.ci95
    for name, (low, high) in one.ci95.items():
        assert low <= one.values[name] <= high, name
        assert len(one.replicates[name]) == 12 and (low, high) == normal_interval(one.values[name], np.array(one.replicates[name]))
    assert all(one.ci95[name][1] > one.ci95[name][0] for name in ("strong", "klom"))  # LiRA's F is 1 on every half here
