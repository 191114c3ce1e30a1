"""KLoM (scoring.klom) on populations whose answer is known: 0 for the same margins, growing as they part,
near ln(1 / 1e-5) for disjoint ones; and each example as the binned KL of its own two samples."""

import math

import numpy as np
import pytest
from scipy import stats

from scoring.klom import BINS, CLIP, FLOOR, klom

# 64 margins spread as a normal's quantiles: the same draw every time, so that a shift alone changes KLoM
SPREAD = stats.norm.ppf((np.arange(64) + 0.5) / 64)


def _columns(*samples: np.ndarray) -> np.ndarray:
    return np.stack(samples, axis=1)


def test_the_same_margins_give_zero_and_a_shift_gives_more_the_larger_it_is():
    shifts = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    values = klom(_columns(*[SPREAD] * len(shifts)), _columns(*[SPREAD + shift for shift in shifts]))
    assert values[0] == 0.0
    assert all(later > earlier for earlier, later in zip(values, values[1:], strict=False)), values


def test_disjoint_margins_reach_the_floor_s_ceiling_and_order_does_not_matter():
    apart = klom(_columns(SPREAD * 0.01), _columns(SPREAD + 50.0))  # the unlearned margins in one bin, the retrained far off
    assert apart[0] == pytest.approx(math.log(1 / FLOOR), abs=1e-3)  # that bin's whole share against a floored 0
    assert 0 < klom(_columns(SPREAD), _columns(SPREAD + 50.0))[0] < apart[0]  # spread over a few bins: less by their entropy
    shuffled = np.random.default_rng(0).permutation(SPREAD)
    assert klom(_columns(shuffled), _columns(SPREAD + 1.0)) == pytest.approx(klom(_columns(SPREAD), _columns(SPREAD + 1.0)))


def test_each_example_is_the_binned_kl_of_its_own_samples():
    """Restated from the definition: shares in 20 equal bins over the joint range (the last bin closed), the
    retrained share floored where the unlearned one is not 0, KL(unlearned || retrained)."""
    rng = np.random.default_rng(7)
    unlearned, retrained = rng.normal(0.0, 1.0, (40, 5)), rng.normal(0.3, 1.4, (50, 5))
    expected = []
    for u, r in zip(unlearned.T, retrained.T, strict=True):
        edges = np.linspace(min(u.min(), r.min()), max(u.max(), r.max()), BINS + 1)
        p = np.histogram(u, edges)[0] / len(u)
        q = np.histogram(r, edges)[0] / len(r)
        q = np.where(p > 0, np.maximum(q, FLOOR), q)
        q = q / q.sum()
        expected.append(float(np.sum(p[p > 0] * np.log(p[p > 0] / q[p > 0]))))
    assert klom(unlearned, retrained) == pytest.approx(expected)


def test_margins_beyond_the_clip_count_as_at_it_and_constant_ones_as_one_bin():
    assert klom(_columns(SPREAD * 1e4), _columns(np.clip(SPREAD * 1e4, -CLIP, CLIP))) == pytest.approx([0.0])
    assert klom(np.full((8, 1), 3.0), np.full((8, 1), 3.0)) == pytest.approx([0.0])
    with pytest.raises(ValueError, match="same E"):
        klom(np.zeros((4, 3)), np.zeros((4, 2)))
