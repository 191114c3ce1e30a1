"""`python -m harness stability`: a folder ranked at each N by subsampling the largest N's runs."""

import json
import math

import numpy as np
import pyarrow.csv
import pytest

from conftest import CACHED_YARDSTICK, NO_REPORT, ONE_WORKER, ROOT, run_cli, small_folder
from scoring.stability import rank_agreement, ranks

N_MODELS = (4, 8, 16)
NOISE = '''"""Seeded Gaussian noise on the weights: forgets a little, differently on every run."""

import torch


def unlearning(net, retain, forget, validation):
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.02 * torch.randn_like(parameter))
    return net
'''


@pytest.fixture(scope="module")
def sweep(reference_cache, tmp_path_factory):
    """Three scored submissions and one failing, ranked at N = 4, 8 and 16."""
    tmp = tmp_path_factory.mktemp("stability")
    folder = small_folder(tmp / "submissions")
    (folder / "noise.py").write_text(NOISE)
    out = tmp / "stability"
    result = run_cli(
        "stability", str(folder), "--n-models", ",".join(map(str, N_MODELS)), "--cache-dir", str(reference_cache),
        "--ledger-dir", str(tmp / "ledgers"), "--out", str(out), "--bootstrap", "0", "--mia-models", "2", "--quiet", *CACHED_YARDSTICK, *ONE_WORKER, *NO_REPORT,
    )
    assert result.returncode == 0, result.stderr
    return out, result, folder, tmp / "ledgers"


def _csv(path) -> list[dict]:
    return pyarrow.csv.read_csv(path).to_pylist()


def test_writes_the_tables_the_figure_and_each_score(sweep):
    out, result, _, _ = sweep
    markdown = (out / "stability.md").read_text()
    assert markdown in result.stdout
    for text in ("Versions:", "Hardware:", "subsampling", "Agreement with the largest N", "![", "stability.png"):
        assert text in markdown
    assert (out / "stability.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    for name in ("identity", "finetune", "noise", "a_failure"):
        assert (out / name / "score.json").is_file()


def test_the_largest_n_agrees_with_itself(sweep):
    out, _, _, _ = sweep
    agreements = _csv(out / "stability.csv")
    assert [row["n_models"] for row in agreements] == list(N_MODELS)
    assert all(row["compared"] == 3 for row in agreements)  # the failing submission has no score to compare
    assert agreements[-1]["kendall_tau"] == 1.0 and agreements[-1]["spearman_rho"] == 1.0


def test_scores_at_the_largest_n_are_those_of_score_json(sweep):
    out, _, _, _ = sweep
    largest = {row["submission"]: row for row in _csv(out / "stability_scores.csv") if row["n_models"] == max(N_MODELS)}
    for name, row in largest.items():
        document = json.loads((out / name / "score.json").read_text())
        assert document["n_models"] == max(N_MODELS)
        assert row["final_score"] == document["final_score"] and row["forget_quality"] == document["forget_quality"], name


def test_a_smaller_n_is_what_scoring_at_that_n_gives(sweep, reference_cache, tmp_path):
    """Subsampling claims to equal a run at the smaller N: score the first N runs directly and compare."""
    out, _, folder, ledgers = sweep
    smaller = {row["submission"]: row for row in _csv(out / "stability_scores.csv") if row["n_models"] == N_MODELS[1]}
    for name in ("finetune", "noise"):
        result = run_cli(
            "score", str(folder / f"{name}.py"), "--n-models", str(N_MODELS[1]), "--cache-dir", str(reference_cache),
            "--ledger-dir", str(ledgers), "--out", str(tmp_path / name), "--bootstrap", "0", "--mia-models", "2", "--quiet", *CACHED_YARDSTICK, *ONE_WORKER,
            *NO_REPORT,
        )
        assert result.returncode == 0, result.stderr
        document = json.loads((tmp_path / name / "score.json").read_text())
        assert smaller[name]["final_score"] == document["final_score"], name
    assert smaller["noise"]["final_score"] != _csv(out / "stability_scores.csv")[-1]["final_score"]


def test_a_failing_submission_is_listed_last_unranked(sweep):
    out, _, _, _ = sweep
    rows = _csv(out / "stability_scores.csv")
    failed = [row for row in rows if row["submission"] == "a_failure"]
    assert [row["n_models"] for row in failed] == list(N_MODELS)
    assert all(row["rank"] is None and row["final_score"] is None for row in failed)
    table = [line for line in (out / "stability.md").read_text().splitlines() if line.startswith("| `")]
    assert table[-1] == "| `a_failure` | n/a | n/a | n/a |"
    assert table[0].startswith("| `finetune` |") or table[0].startswith("| `noise` |")


@pytest.mark.parametrize(
    ("value", "message"),
    [("4,two", "'two' is not an integer"), ("2,8", "at least 3"), ("8,8", "different Ns")],
)
def test_bad_n_models_are_refused(in_process, tmp_path, value, message):
    result = in_process("stability", str(tmp_path), "--n-models", value)
    assert result.returncode == 2
    assert "argument --n-models" in result.stderr and message in result.stderr


@pytest.mark.parametrize(("arguments", "message"), [
    (("--n-models", "16"), "two or more different Ns"),  # nothing to compare the one ranking with
    (("--n-models", "16,32", "--originals", "2"), "give one --n-models"),  # each original's ranking is at one N
])
def test_the_ns_must_fit_the_comparison(in_process, tmp_path, arguments, message):
    result = in_process("stability", str(small_folder(tmp_path / "entries")), *arguments, "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "cache").exists()


def test_rank_agreement_on_known_rankings():
    largest = np.array([0.9, 0.5, 0.3, 0.1])
    scores = np.column_stack([largest[::-1], [0.3, 0.2, 0.2, 0.1], largest])  # reversed, one tie, the same
    agreements = rank_agreement(scores, [4, 8, 16])
    assert [a.n_models for a in agreements] == [4, 8, 16]
    assert agreements[0].kendall_tau == pytest.approx(-1.0) and agreements[0].spearman_rho == pytest.approx(-1.0)
    assert 0.8 < agreements[1].kendall_tau < 1.0 and 0.9 < agreements[1].spearman_rho < 1.0  # tau-b: a tie is no disagreement
    assert agreements[2].kendall_tau == pytest.approx(1.0) and agreements[2].spearman_rho == pytest.approx(1.0)


def test_rank_agreement_compares_submissions_scored_at_every_n():
    scores = np.array([[0.3, 0.9], [0.2, 0.5], [np.nan, 0.4], [0.0, 0.0]])  # the third has no score at the first N
    agreements = rank_agreement(scores, [8, 16])
    assert [a.compared for a in agreements] == [3, 3]
    assert agreements[0].kendall_tau == pytest.approx(1.0)
    one_tie = rank_agreement(np.array([[0.0, 0.3], [0.0, 0.1]]), [8, 16])[0]
    assert math.isnan(one_tie.kendall_tau) and math.isnan(one_tie.spearman_rho)


def test_ranks_share_ties_and_skip_the_unscored():
    result = ranks(np.array([[0.1], [0.5], [0.1], [np.nan]]))
    np.testing.assert_array_equal(result[:3, 0], [2, 1, 2])
    assert math.isnan(result[3, 0])


@pytest.mark.references
@pytest.mark.sandbox  # stability checks that a sandbox can be built before it scores anything
def test_an_entry_refused_before_any_run_is_listed_unscored(in_process, reference_cache, tmp_path):
    """A link is refused before any run, so it has no ledger: it is listed without a score, not a crash."""
    folder = tmp_path / "entries"
    folder.mkdir()
    (folder / "linked.py").symlink_to(ROOT / "baselines" / "identity.py")
    out = tmp_path / "stability"
    result = in_process("stability", str(folder), "--n-models", "3,4", "--cache-dir", str(reference_cache), "--ledger-dir", str(tmp_path / "l"),
                        "--out", str(out), "--bootstrap", "0", "--quiet", *CACHED_YARDSTICK, *ONE_WORKER)
    assert result.returncode == 0, result.stderr
    assert [(row["submission"], row["final_score"]) for row in _csv(out / "stability_scores.csv")] == [("linked", None), ("linked", None)]
