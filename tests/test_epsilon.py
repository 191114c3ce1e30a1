"""Each step of the vectorised metric against a literal, rule-by-rule reading of the spec."""

import math

import numpy as np
import torch

from scoring.epsilon import (
    example_epsilon,
    interval_rule_counts,
    official_epsilon,
    rule_epsilon_table,
    threshold_rule_counts,
)


def _literal_rule_epsilon(tpr, fnr, fpr, tnr, delta=1e-5):
    """Step 6 for one rule, scalar float32, exactly as worded; None when discarded."""
    f32 = np.float32
    tpr, fnr, fpr, tnr = f32(tpr), f32(fnr), f32(fpr), f32(tnr)
    if fpr + fnr == 0 and tpr + tnr == 2:
        return math.inf
    if fpr * fnr == 0:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        sides = [np.log(f32(1) - f32(delta) - fpr) - np.log(fnr), np.log(f32(1) - f32(delta) - fnr) - np.log(fpr)]
    sides = [s for s in sides if not np.isnan(s)]
    return None if not sides else max(float(max(sides)), 0.0)


def test_rule_table_matches_literal_rule():
    n = 12
    table = rule_epsilon_table(n, n)
    for a in range(n + 1):
        for b in range(n + 1):
            literal = _literal_rule_epsilon(a / n, (n - a) / n, b / n, (n - b) / n)
            expected = -math.inf if literal is None else literal
            assert table[a, b] == np.float32(expected), (a, b)


def test_rule_table_special_cases():
    table = rule_epsilon_table(8, 8)
    assert table[8, 0] == np.inf  # every positive in, every negative out
    assert table[0, 0] == -np.inf  # FPR = 0 and FNR = 1: one error rate zero, discarded
    assert table[4, 4] == 0.0  # chance level


def _literal_interval_counts(pos, neg):
    width = pos.max() - pos.min()
    lo, hi = pos.min() + width - 2, pos.max() + 2
    counts = []
    for right in np.linspace(lo, hi, math.ceil((hi - lo) * 100)):
        for left in np.linspace(right - width - 2, right - width + 2, 400):
            counts.append((((pos >= left) & (pos <= right)).sum(), ((neg >= left) & (neg <= right)).sum()))
    return np.array(counts).T


def test_interval_counts_match_literal_loop():
    rng = np.random.default_rng(0)
    pos = np.sort(rng.normal(0, 0.3, 10))
    neg = np.sort(rng.normal(0.5, 1.0, 10))
    a, b = interval_rule_counts(pos, neg)
    expected_a, expected_b = _literal_interval_counts(pos, neg)
    np.testing.assert_array_equal(a, expected_a)
    np.testing.assert_array_equal(b, expected_b)


def test_threshold_counts_match_literal_loop_with_ties():
    pos = np.sort(np.array([0.0, 0.5, 0.5, 1.0, 2.0]))
    neg = np.sort(np.array([-1.0, 0.5, 1.0, 1.0, 1.5]))
    a, b = threshold_rule_counts(pos, neg)
    both = np.concatenate([pos, neg])
    grid = torch.linspace(both.min(), both.max(), math.ceil((both.max() - both.min()) * 100), dtype=torch.float64).numpy()
    np.testing.assert_array_equal(a, [(pos >= t).sum() for t in grid])
    np.testing.assert_array_equal(b, [(neg >= t).sum() for t in grid])


def test_identical_constant_samples_are_undetermined_not_an_error():
    eps, peaky, undetermined = example_epsilon(np.full(16, 3.0), np.full(16, 3.0))
    assert (eps, peaky, undetermined) == (0.0, False, True)


def test_constant_unlearned_population_is_peaky():
    rng = np.random.default_rng(1)
    eps, peaky, _ = example_epsilon(np.full(32, 2.0), rng.normal(size=32))
    assert (eps, peaky) == (50.0, True)


def test_separated_populations_reach_the_cap():
    rng = np.random.default_rng(2)
    estimate = official_epsilon(rng.normal(10, 1, (32, 3)), rng.normal(0, 1, (32, 3)))
    np.testing.assert_array_equal(estimate.epsilon, np.float32(50))


def test_rejects_mismatched_shapes():
    try:
        official_epsilon(np.zeros((4, 3)), np.zeros((4, 2)))
    except ValueError as error:
        assert "same E" in str(error)
    else:
        raise AssertionError("mismatched shapes were accepted")
