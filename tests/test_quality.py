"""Forgetting quality buckets and the final score."""

import numpy as np
import pytest

from scoring.quality import accuracy_restored, bucket_points, example_points, final_score, forgetting_quality


def test_buckets_for_the_competition_size():
    right_ends, points = bucket_points(512)  # max epsilon ceil(ln 511) = 7
    assert right_ends[-1] == 7.0 and len(right_ends) == 14
    assert points[0] == 1.0 and points[1] == 0.5 and points[-1] == 2.0**-13


def test_points_at_bucket_edges():
    eps = np.array([0.0, 0.49, 0.5, 1.2, 6.99, 7.0, 50.0], dtype=np.float32)
    np.testing.assert_allclose(example_points(eps, 512), [1, 1, 0.5, 0.25, 2.0**-13, 0, 0])


def test_forgetting_quality_is_the_mean_of_points():
    assert forgetting_quality(np.array([0.1, 0.7, 50.0]), 64) == pytest.approx((1 + 0.5 + 0) / 3)


def test_final_score_scales_by_accuracy_ratios():
    assert final_score(0.5, 0.9, 1.0, 0.8, 0.8) == pytest.approx(0.45)


def test_too_few_models_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 3"):
        bucket_points(2)


def test_accuracy_restored():
    assert accuracy_restored(before=0.8, after=0.9, clean=1.0) == pytest.approx(0.5)
    assert accuracy_restored(before=0.8, after=0.8, clean=1.0) == 0.0
    assert accuracy_restored(before=0.9, after=0.95, clean=0.9) is None  # poisoning cost nothing: nothing to restore
