"""The official preset equals the organisers' scorer on every fixture case."""

from pathlib import Path

import numpy as np
import pytest

from scoring.epsilon import official_epsilon
from scoring.quality import forgetting_quality

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "official_metric_cases.npz"


def _cases() -> list[str]:
    assert FIXTURES.exists(), f"fixtures not found at {FIXTURES}: clone the project beside shared/"
    with np.load(FIXTURES) as data:
        return sorted({name.split("__")[0] for name in data.files})


@pytest.mark.parametrize("case", _cases())
def test_matches_organisers_scorer(case):
    with np.load(FIXTURES) as data:
        unlearned, retrained = data[f"{case}__U"], data[f"{case}__R"]
        expected_eps, expected_f = data[f"{case}__eps"], float(data[f"{case}__score"])
    estimate = official_epsilon(unlearned, retrained)
    np.testing.assert_allclose(estimate.epsilon, expected_eps.astype(np.float32), rtol=0, atol=1e-5)
    assert abs(forgetting_quality(estimate.epsilon, unlearned.shape[0]) - expected_f) <= 1e-12


def test_fixture_set_is_complete():
    assert set(_cases()) >= {"same_dist", "shifted", "separated", "narrower", "peaky", "discrete_ties", "wide_range", "n100"}
