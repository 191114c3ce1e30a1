"""Forgetting quality buckets, the final score, and references it cannot divide by."""

from types import SimpleNamespace

import numpy as np
import pytest

from harness.benchmarks import get_benchmark
from harness.boards import entries
from harness.session import ReferencesUnusable
from harness.settings import ScoreSettings
from scoring.quality import accuracy_restored, bucket_points, example_points, final_score, forgetting_quality, undefined_final_score


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


def test_references_of_no_accuracy_are_named_before_the_score_divides_by_them():
    """A recipe that trains nothing (a competition at one epoch of tiny images) left every retrained reference at test
    accuracy 0, and the final score stopped with ZeroDivisionError in every entry of a board."""
    assert undefined_final_score(0.9, 0.1, 8) is None
    message = undefined_final_score(0.9, 0.0, 8)
    assert message is not None and "8 retrained references classify no test example correctly" in message and "training" in message
    assert "no retain and no test example" in undefined_final_score(0.0, 0.0, 8)


def test_a_board_stops_at_references_that_no_entry_can_be_scored_against(monkeypatch, tmp_path):
    """Unlike an entry's own failure, which costs its row only, unusable references are every entry's: the board stops."""
    def unusable(*args, **kwargs):
        raise ReferencesUnusable("the 3 retrained references classify no test example correctly")

    monkeypatch.setattr(entries, "score", unusable)
    session = SimpleNamespace(spec=get_benchmark("digits-mlp"), settings=ScoreSettings())
    entry = tmp_path / "entry.py"
    entry.write_text("def unlearning(net, retain, forget, validation):\n    return net\n")
    with pytest.raises(ReferencesUnusable, match="no test example"):
        entries.score_entry(entry, tmp_path / "board", session, 3)
    assert not (tmp_path / "board" / "entry" / "score.json").exists()


def test_too_few_models_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 3"):
        bucket_points(2)


def test_accuracy_restored():
    assert accuracy_restored(before=0.8, after=0.9, clean=1.0) == pytest.approx(0.5)
    assert accuracy_restored(before=0.8, after=0.8, clean=1.0) == 0.0
    assert accuracy_restored(before=0.9, after=0.95, clean=0.9) is None  # poisoning cost nothing: nothing to restore
