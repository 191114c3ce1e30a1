"""Half-sampling intervals and the starting kit's population attack."""

import numpy as np
import pytest

from scoring.epsilon import estimate_epsilon
from scoring.intervals import Accuracies, half_draws, intervals, normal_interval, variance_factor
from scoring.mia import losses_from_statistic, mia_accuracy, population_mia
from scoring.quality import forgetting_quality


def _epsilon(u, r):
    return estimate_epsilon(u, r).epsilon


def test_intervals_are_seeded_and_contain_their_estimates():
    rng = np.random.default_rng(0)
    u, r = rng.normal(0, 1, (32, 10)), rng.normal(0, 1, (32, 10))
    accuracies = Accuracies(np.full(32, 0.9), np.full(32, 0.8))
    quality = forgetting_quality(_epsilon(u, r), 32)
    first = intervals(u, r, _epsilon, quality, quality, accuracies, accuracies, replicates=8, seed=3)
    again = intervals(u, r, _epsilon, quality, quality, accuracies, accuracies, replicates=8, seed=3)
    assert first == again and first.method == "half-sampling"
    low, high = first.forget_quality_ci95
    assert 0 <= low < quality < high <= 1
    assert first.final_score_ci95 == pytest.approx(first.forget_quality_ci95)  # accuracy ratios are 1


def test_halves_are_without_replacement():
    draws = half_draws(20, 4, 5, np.random.default_rng(0))
    for u, r in draws:
        assert (len(u), len(r)) == (10, 3) and len(set(u)) == 10 and len(set(r)) == 3  # never under the metric's 3
    assert (variance_factor(20), variance_factor(4)) == (1.0, 3.0)
    with pytest.raises(ValueError, match="at least 4 models"):
        half_draws(3, 40, 2, np.random.default_rng(0))


def test_half_sampling_gives_the_standard_error_of_a_mean():
    """For a mean, random halves without replacement spread by sigma / sqrt(n), not sqrt(2) times more."""
    rng = np.random.default_rng(1)
    x = rng.normal(5, 1, 400)  # away from 0, where the interval is clipped
    halves = np.array([x[u].mean() for u, _ in half_draws(400, 400, 400, rng)])
    low, high = normal_interval(x.mean(), halves)
    assert (high - low) / (2 * 1.966) == pytest.approx(x.std() / np.sqrt(400), rel=0.15)


def test_intervals_need_two_replicates():
    with pytest.raises(ValueError, match="at least 2"):
        intervals(np.zeros((8, 1)), np.zeros((8, 1)), _epsilon, 1.0, replicates=1)


def test_losses_from_statistic_is_cross_entropy():
    p = np.array([0.1, 0.5, 0.99])
    np.testing.assert_allclose(losses_from_statistic(np.log(p) - np.log1p(-p)), -np.log(p))


def test_mia_separates_remembered_from_unseen():
    rng = np.random.default_rng(1)
    assert mia_accuracy(rng.exponential(0.01, 200), 1 + rng.exponential(1.0, 200)) > 0.9
    assert 0.35 < mia_accuracy(rng.exponential(1.0, 200), rng.exponential(1.0, 200)) < 0.65


def test_population_mia_summarises_up_to_max_models():
    rng = np.random.default_rng(2)
    result = population_mia(rng.normal(0, 1, (10, 60)), rng.normal(0, 1, (10, 80)), max_models=4)
    assert result.n_models == 4 and 0 <= result.mean <= 1 and result.std >= 0
