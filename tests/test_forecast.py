"""The shake-up forecast (scoring.forecast) on boards whose private outcome is drawn from a known model."""

import numpy as np
import pytest

from benchmarks.forecast_calibration import calibrate, read_standings, table
from harness.outputs.results import write_score
from score_documents import scored
from scoring.document import PanelEntry
from scoring.forecast import COVERAGE, NO_SPREAD, ForgetSetSpread, Standing, forget_set_spread, likely_ranks, reversal_probability, standard_error


def _board(true: np.ndarray, error: np.ndarray, kappa: float, rng: np.random.Generator) -> list[Standing]:
    """One split's scores drawn from the forecast's model: the true score moved by the forget set and by sampling."""
    scores = true * (1 + kappa * rng.standard_normal(len(true))) + error * rng.standard_normal(len(true))
    return [Standing(f"e{i}", float(score), float(se), True) for i, (score, se) in enumerate(zip(scores, error, strict=True))]


def test_entries_with_the_same_score_reverse_half_the_time_and_far_apart_ones_almost_never():
    spread = ForgetSetSpread(kappa=0.1, shift=0.0, entries=10)
    same, other = Standing("a", 0.04, 0.002, True), Standing("b", 0.04, 0.002, True)
    assert reversal_probability(same, other, spread) == pytest.approx(0.5)
    far = Standing("c", 0.005, 0.0005, True)
    assert reversal_probability(same, far, spread) < 1e-3
    assert reversal_probability(same, Standing("d", 0.038, 0.002, True), spread) > reversal_probability(same, Standing("e", 0.03, 0.002, True), spread)
    assert reversal_probability(Standing("x", 0.5, 0.0, True), Standing("y", 0.5, 0.0, True), NO_SPREAD) == 0.5


def test_reversal_probabilities_are_calibrated_on_boards_drawn_from_the_model():
    """Forecasts made from a public board and kappa estimated on an earlier pair of splits, against private boards drawn."""
    rng = np.random.default_rng(0)
    forecast, happened = [], []
    for _ in range(300):
        true = np.sort(rng.uniform(0.001, 0.05, 12))[::-1]
        error = 0.03 * true + 0.0005
        spread = forget_set_spread(_board(true, error, 0.15, rng), [_board(true, error, 0.15, rng)])
        public, private = _board(true, error, 0.15, rng), _board(true, error, 0.15, rng)
        ranked = sorted(public, key=lambda entry: -entry.score)
        private_score = {entry.name: entry.score for entry in private}
        for upper, lower in zip(ranked, ranked[1:], strict=False):
            forecast.append(reversal_probability(upper, lower, spread))
            happened.append(private_score[lower.name] > private_score[upper.name])
    forecast, happened = np.array(forecast), np.array(happened)
    for low, high in [(0.0, 0.1), (0.1, 0.3), (0.3, 0.5)]:
        chosen = (forecast >= low) & (forecast < high)
        assert chosen.sum() > 100
        assert abs(happened[chosen].mean() - forecast[chosen].mean()) < 0.07, (low, high, happened[chosen].mean(), forecast[chosen].mean())


def test_the_spread_is_estimated_beyond_sampling_error_and_is_zero_where_sampling_explains_all():
    rng = np.random.default_rng(1)
    true = np.linspace(0.002, 0.05, 40)
    error = 0.02 * true
    estimates = [forget_set_spread(_board(true, error, 0.2, rng), [_board(true, error, 0.2, rng)]).kappa for _ in range(200)]
    assert np.median(estimates) == pytest.approx(0.2 * np.sqrt(2), rel=0.15)  # two draws of the forget set: sqrt(2) kappa between them
    none = [forget_set_spread(_board(true, error, 0.0, rng), [_board(true, error, 0.0, rng)]).kappa for _ in range(200)]
    assert np.median(none) < 0.01
    pooled = [forget_set_spread(_board(true, error, 0.2, rng), [_board(true, error, 0.2, rng) for _ in range(3)]) for _ in range(200)]
    assert pooled[0].entries == 3 * 40 and np.std([spread.kappa for spread in pooled]) < 0.8 * np.std(estimates)  # more forget sets, less noise


def test_likely_ranks_cover_the_private_rank_and_put_entries_over_budget_last():
    rng = np.random.default_rng(2)
    true = np.array([0.05, 0.048, 0.03, 0.01, 0.009, 0.2])
    error = np.full(6, 0.001)
    public = [Standing(f"e{i}", float(score), 0.001, i != 5) for i, score in enumerate(true)]
    spread = ForgetSetSpread(kappa=0.1 * np.sqrt(2), shift=0.0, entries=6)
    ranges = likely_ranks(public, spread)
    assert ranges["e5"] == (6, 6)  # over budget: last whatever its score
    covered = total = 0
    for _ in range(400):
        drawn = _board(true, error, 0.1, rng)
        order = sorted(range(5), key=lambda i: -drawn[i].score)
        for rank, i in enumerate(order, start=1):
            low, high = ranges[f"e{i}"]
            covered += low <= rank <= high
            total += 1
    assert covered / total >= COVERAGE - 0.05


def test_a_standard_error_comes_from_the_half_samples():
    assert standard_error((), 32) == 0.0
    assert standard_error((0.1, 0.3), 32) == pytest.approx(np.std([0.1, 0.3], ddof=1))


def test_the_calibration_benchmark_reads_boards_and_counts_reversals(tmp_path):
    """Three boards of four entries on disk: every pair of boards is forecast from and checked, in sample and held out."""
    rng = np.random.default_rng(3)
    for board, shift in (("a", 0.0), ("b", 0.002), ("c", -0.002)):
        for i, score in enumerate((0.05, 0.04, 0.0395, 0.01)):
            value = score + shift * (i % 2)
            entry = PanelEntry(value, None, "higher", "s", "w", replicates=tuple(value + 0.001 * rng.standard_normal(8)))
            (tmp_path / board / f"e{i}").mkdir(parents=True)
            write_score(tmp_path / board / f"e{i}", scored(final_score=value, forget_quality=value, panel={"official": entry}))
    held_out, in_sample = calibrate([read_standings(tmp_path / board) for board in "abc"])
    assert sum(len(pairs) for pairs in held_out.forecast.values()) == 6 * 3  # 6 (public, second) choices, 3 neighbour pairs each
    assert sum(len(pairs) for pairs in in_sample.forecast.values()) == 6 * 3 and held_out.entries == 6 * 4
    text = table(held_out, in_sample)
    assert text.startswith("| forecast P(next overtakes)") and "Ranks within the 90% range" in text
