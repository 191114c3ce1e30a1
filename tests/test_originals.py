"""A study of originals (--originals K): K originals from K seeds, run i unlearning from original i mod K, the score per
original and the heterogeneity test that says whether the original drawn matters (issue 43)."""

import json

import numpy as np
import pyarrow.csv
import pytest

from conftest import ROOT, cli_spec, run_ledgers, small_folder
from harness.running.ledger import RunLedger
from reference_models.cache import ReferenceCache
from reference_models.files import sha256_bytes
from reference_models.seeds import model_seed
from scoring.originals import heterogeneity, heterogeneity_note
from scoring.stability import originals_agreement


def test_scores_that_differ_by_chance_alone_are_found_heterogeneous_about_five_percent_of_the_time():
    """Under the null (every original's true score the same, each score off by its own standard error), Cochran's Q is
    chi-squared: its p-value falls under 0.05 in about 5% of studies, and tau is 0 in most."""
    generator = np.random.default_rng(7)
    errors = np.array([0.004, 0.006, 0.005, 0.008])
    results = [heterogeneity(0.03 + errors * generator.standard_normal(4), errors) for _ in range(4000)]
    significant = np.mean([result.p_value < 0.05 for result in results])
    assert 0.04 < significant < 0.06
    assert np.mean([result.between_sd == 0 for result in results]) > 0.5


def test_originals_that_matter_are_found_and_their_spread_measured():
    """True scores spread with sd 0.02 across originals, each measured to 0.002: p is tiny and tau near 0.02."""
    generator = np.random.default_rng(3)
    errors = np.full(8, 0.002)
    taus, ps = [], []
    for _ in range(200):
        truth = 0.05 + 0.02 * generator.standard_normal(8)
        result = heterogeneity(truth + errors * generator.standard_normal(8), errors)
        taus.append(result.between_sd)
        ps.append(result.p_value)
    assert np.mean(np.array(ps) < 0.05) > 0.95
    assert 0.016 < np.median(taus) < 0.024


def test_no_spread_is_claimed_without_each_score_s_own_uncertainty():
    assert heterogeneity(np.array([0.1, 0.2]), np.array([0.01, 0.0])) is None  # a score with no standard error
    assert heterogeneity(np.array([0.1, np.nan]), np.array([0.01, 0.01])) is None  # an original not scored
    assert heterogeneity(np.array([0.1]), np.array([0.01])) is None  # one original
    assert "no spread can be told from chance" in heterogeneity_note(None, 4)
    matters = heterogeneity(np.array([0.01, 0.05, 0.09]), np.full(3, 0.001))
    assert matters is not None and "the original drawn matters" in heterogeneity_note(matters, 3)


def test_originals_agreement_counts_the_pairs_some_original_reorders():
    scores = np.array([
        [0.9, 0.8, 0.9],  # a: first from every original
        [0.5, 0.6, 0.4],  # b and c swap under original 1
        [0.4, 0.7, 0.3],
        [np.nan, 0.1, 0.1],  # unscored from original 0: left out
    ])
    agreement = originals_agreement(scores)
    assert (agreement.compared, agreement.pairs, agreement.pairs_reordered, agreement.winners) == (3, 3, 1, 1)
    assert agreement.min_kendall_tau == pytest.approx(1 / 3) and agreement.mean_kendall_tau == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)


@pytest.mark.parametrize(("arguments", "says"), [
    (("--originals", "3", "--n-models", "16"), "must be a multiple of K"),
    (("--originals", "4", "--n-models", "12"), "at least 4 runs"),
    (("--originals", "0"), "K >= 1"),
])
def test_a_study_that_cannot_split_its_runs_is_refused_before_anything_is_built(in_process, tmp_path, arguments, says):
    result = in_process("score", str(ROOT / "baselines" / "identity.py"), "--cache-dir", str(tmp_path / "cache"), *arguments)
    assert result.returncode == 2 and says in result.stderr
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("adaptive", [(), ("--adaptive",)])
def test_a_board_refuses_to_rank_pooled_scores(in_process, tmp_path, adaptive):
    """A pooled score is no measure of a method (identity scores well above 0 pooled), so no leaderboard ranks by it."""
    folder = small_folder(tmp_path / "entries")
    result = in_process("leaderboard", str(folder), *adaptive, "--originals", "2", "--n-models", "8", "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 2 and "stability --originals" in result.stderr
    assert not (tmp_path / "cache").exists()


def test_each_run_unlearns_from_its_original(score_cli, reference_cache, tmp_path):
    """Judged from outside the harness: identity returns the net it was given, so run i's outputs in the ledger are
    those the cache recorded for original i mod 2, a model of its own seed; the competition's original is untouched."""
    cache = ReferenceCache(reference_cache, cli_spec(reference_cache))
    before = sha256_bytes((cache.dir / "original.pt").read_bytes())
    result, document = score_cli(ROOT / "baselines" / "identity.py", "--originals", "2", n_models=8, bootstrap=4)
    assert result.returncode == 0, result.stderr
    cache = ReferenceCache(reference_cache, cli_spec(reference_cache))
    assert sha256_bytes((cache.dir / "original.pt").read_bytes()) == before
    rows = cache.rows["original"]
    assert [rows[k]["seed"] for k in (0, 1)] == [model_seed(cache.spec, "original", k) for k in (0, 1)]
    assert not np.allclose(rows[0]["forget_statistic"], rows[1]["forget_statistic"])
    [ledger] = run_ledgers(tmp_path / "ledgers")
    assert ledger.parent.name == RunLedger.runs_key(cache.spec.key(), 2)  # kept apart from the competition's runs
    records = RunLedger(tmp_path / "ledgers", ledger.stem, ledger.parent.name).first(8)
    for record in records:
        np.testing.assert_allclose(record.forget_statistic, rows[record.run_id % 2]["forget_statistic"], rtol=1e-6)
    assert "POOLED over 2 originals" in result.stdout
    study = document["originals"]
    assert [s["final_score"] for s in study["per_original"]] == [0.0, 0.0]  # each original's runs are copies of it
    assert study["count"] == 2 and [s["index"] for s in study["per_original"]] == [0, 1]
    assert all(s["n_models_scored"] == 4 and s["standard_error"] is not None for s in study["per_original"])
    assert study["per_original"][1]["original_model"]["test_accuracy"] == pytest.approx(rows[1]["test_accuracy"])


def test_stability_ranks_the_folder_by_each_original(in_process, reference_cache, seed_yardstick, tmp_path):
    """`stability --originals 2`: the per-original table, its CSV (each score that of the entry's score.json) and the figure."""
    folder = small_folder(tmp_path / "entries")
    out = tmp_path / "out"
    result = in_process("stability", str(folder), "--n-models", "8", "--originals", "2", "--bootstrap", "4", "--mia-models", "2",
                        "--cache-dir", str(reference_cache), "--ledger-dir", str(tmp_path / "ledgers"), "--out", str(out),
                        "--yardstick", "cached", "--jobs", "1", "--no-report", "--quiet")
    assert result.returncode == 0, result.stderr
    markdown = (out / "stability.md").read_text()
    for text in ("Do the originals agree?", "original 1", "sd from the runs alone", "originals.png"):
        assert text in markdown
    assert (out / "originals.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    rows = pyarrow.csv.read_csv(out / "stability_scores.csv").to_pylist()
    assert len(rows) == 3 * 2
    # by the mean per-original score: identity scores 0 from each original (pooled, well above 0), the failure last
    assert [row["submission"] for row in rows[::2]] == ["finetune", "identity", "a_failure"]
    assert json.loads((out / "identity" / "score.json").read_text())["final_score"] > 0
    for row in rows:
        document = json.loads((out / row["submission"] / "score.json").read_text())
        if row["submission"] == "a_failure":
            assert row["final_score"] is None and document["originals"] is None
        else:
            assert row["final_score"] == document["originals"]["per_original"][row["original"]]["final_score"]


def test_the_notes_of_a_study_say_its_pooled_scores_measure_no_method():
    """The notes of a study's pages (stability --originals) say what its scores.json's pooled scores are."""
    from harness.boards.leaderboard import provenance
    from harness.settings import ScoreSettings

    study = " ".join(provenance("python -m harness stability entries --originals 4", ScoreSettings(n_models=64, originals=4), {}))
    assert "A study of 4 originals" in study and "no measure of a method" in study
    assert "originals" not in " ".join(provenance("python -m harness stability entries", ScoreSettings(n_models=64), {}))
