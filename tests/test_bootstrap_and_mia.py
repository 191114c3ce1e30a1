"""Bootstrap intervals and the starting kit's population attack."""

import numpy as np
import pytest

from scoring.bootstrap import Accuracies, bootstrap
from scoring.epsilon import estimate_epsilon
from scoring.mia import losses_from_statistic, mia_accuracy, population_mia


def _epsilon(u, r):
    return estimate_epsilon(u, r).epsilon


def test_bootstrap_is_seeded_and_brackets_plausible_values():
    rng = np.random.default_rng(0)
    u, r = rng.normal(0, 1, (32, 10)), rng.normal(0, 1, (32, 10))
    accuracies = Accuracies(np.full(32, 0.9), np.full(32, 0.8))
    first = bootstrap(u, r, _epsilon, accuracies, accuracies, replicates=8, seed=3)
    again = bootstrap(u, r, _epsilon, accuracies, accuracies, replicates=8, seed=3)
    assert first == again
    low, high = first.forget_quality_ci95
    assert 0 <= low <= high <= 1
    assert first.final_score_ci95 == pytest.approx(first.forget_quality_ci95)  # accuracy ratios are 1


def test_bootstrap_needs_two_replicates():
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap(np.zeros((4, 1)), np.zeros((4, 1)), _epsilon, replicates=1)


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
    assert result["n_models"] == 4 and 0 <= result["mean"] <= 1 and result["std"] >= 0
