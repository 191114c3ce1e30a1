"""`python -m harness score` end to end: real subprocesses, real training, small N."""

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import CACHED_YARDSTICK, N_SMALL, NO_REPORT, ROOT, SUBMISSIONS, runs_recorded
from harness.sandbox.isolation import available as namespaces_available
from harness.sandbox.isolation import outermost

FINETUNE = ROOT / "baselines" / "finetune.py"
REQUIRED_KEYS = {
    "benchmark", "benchmark_key", "submission", "submission_sha256", "n_models", "runs",
    "forget_quality", "retain_accuracy", "test_accuracy", "final_score", "time_budget",
}

# Fields that depend on the clock rather than on the runs.
TIMING = {"time_budget"}


def _numbers(document: dict) -> dict:
    return {k: v for k, v in document.items() if k not in TIMING}


def test_finetune_is_scored(score_cli, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.html").write_text("an earlier score's report")
    result, document = score_cli(FINETUNE, bootstrap=20, out=tmp_path / "out")  # with --no-report
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "out" / "report.html").exists() and "report.html      not written (--no-report)" in result.stdout
    assert REQUIRED_KEYS <= document.keys()
    assert document["n_models"] == N_SMALL and document["runs"] == {"ok": N_SMALL, "timeout": 0, "error": 0, "invalid": 0}
    assert 0 <= document["forget_quality"] <= 1
    for pair in ("retain_accuracy", "test_accuracy"):
        assert set(document[pair]) == {"unlearned", "retrained"}
        assert document[pair]["retrained"] >= 0.95  # the recipe reaches 95% test accuracy
    assert document["original_model"]["test_accuracy"] >= 0.95
    budget = document["time_budget"]
    assert set(budget) >= {"fraction", "unlearn_median_s", "retrain_median_s", "ratio", "verdict"}
    assert budget["verdict"] in ("pass", "borderline", "fail") and budget["fraction"] == 0.2
    low, high = budget["ratio_ci"]
    assert low <= budget["ratio"] <= high and 0 < budget["ratio_ci_coverage"] <= 1
    assert "time budget" in result.stdout and "final score" in result.stdout
    assert document["isolation"]["mechanism"] == ("bubblewrap" if namespaces_available() else "none")

    low, high = document["forget_quality_ci95"]  # a realistic case: the interval holds its estimate
    assert 0 <= low <= document["forget_quality"] <= high <= 1
    assert (document["interval_method"], document["interval_replicates"]) == ("half-sampling", 20)
    assert document["final_score_ci95"][0] <= document["final_score"] <= document["final_score_ci95"][1]
    assert set(document["epsilon_by_attack"]) == {"interval", "single-threshold"}
    assert set(document["simple_mia"]) == {"original", "unlearned", "retrained"}
    assert 0 <= document["simple_mia"]["unlearned"]["mean"] <= 1
    examples = pq.read_table(tmp_path / "out" / "examples.parquet")
    assert examples.num_rows == 144
    columns = {"example", "epsilon", "epsilon_interval", "epsilon_single-threshold", "points", "median_unlearned", "median_retrained"}
    assert columns <= set(examples.column_names)
    points = np.array(examples["points"])
    assert abs(points.mean() - document["forget_quality"]) < 1e-12


def test_the_ceiling_lies_above_finetune(score_cli, tmp_path):
    """--ceiling scores a second population of retrained models as if it were a submission: the best F
    reachable at this N. (That identity scores 0 and retrain the most is test_baselines' job.)"""
    result, document = score_cli(FINETUNE, "--ceiling", out=tmp_path / "finetune")
    assert result.returncode == 0, result.stderr
    assert document["forget_quality_ceiling"] > document["forget_quality"] > 0


def test_failures_are_recorded_and_policy_applies(score_cli, tmp_path):
    """Without --allow-failures the runs stop at the first failure; with it, the same ledger resumes to all N."""
    result, document = score_cli(SUBMISSIONS / "flaky.py")
    assert result.returncode == 3
    runs = document["runs"]
    assert runs["not started"] > 0 and sum(runs.values()) == N_SMALL and runs["error"] + runs["invalid"] > 0
    assert "were not started" in document["not_started"]["reason"] and "not started" in result.stdout
    assert document["final_score"] is None

    result, allowed = score_cli(SUBMISSIONS / "flaky.py", "--allow-failures")
    assert result.returncode == 0, result.stderr
    runs = allowed["runs"]
    assert sum(runs.values()) == N_SMALL and runs["error"] > 0 and runs["invalid"] > 0 and runs["ok"] > 0 and allowed["not_started"] is None
    assert "deliberate failure" in allowed["failures"]["exception"]["first_message"]
    invalid = allowed["failures"]["invalid-output"]
    assert invalid["count"] == runs["invalid"]
    assert "returned Tensor" in invalid["first_message"] or "NaN" in invalid["first_message"]
    assert allowed["status"] == "scored-with-failures" and allowed["n_models_scored"] == runs["ok"]


def test_import_error_fails_the_first_runs_with_the_reason(score_cli):
    result, document = score_cli(SUBMISSIONS.parent / "hostile" / "syntax_error.py", n_models=4)
    assert result.returncode == 3
    runs = document["runs"]
    assert 1 <= runs["error"] <= 2 and runs["error"] + runs["not started"] == 4  # one import error per worker started
    assert document["failures"]["import-error"]["count"] == runs["error"]
    message = document["failures"]["import-error"]["first_message"]
    assert "SyntaxError" in message and "syntax_error.py\", line" in message
    assert "fix the failure" in document["not_started"]["reason"] and "score again" not in document["not_started"]["reason"]

    again, rescored = score_cli(SUBMISSIONS.parent / "hostile" / "syntax_error.py", n_models=4)
    assert again.returncode == 3 and rescored["runs"] == runs  # a syntax error repeats: the unchanged file starts no run
    assert "no run is started until the file changes" in again.stderr


def test_a_timeout_may_not_repeat_and_is_offered_a_rerun(score_cli):
    result, document = score_cli(SUBMISSIONS / "sleepy.py", "--timeout", "3", "--jobs", "1", n_models=6)
    assert result.returncode == 3 and document["runs"]["timeout"] == 1
    assert "score again to resume" in document["not_started"]["reason"]


def test_hard_timeout_stops_a_runaway_and_the_others_go_on(score_cli):
    result, document = score_cli(SUBMISSIONS / "sleepy.py", "--timeout", "3", "--allow-failures", n_models=6)
    runs = document["runs"]
    assert runs["timeout"] > 0 and runs["ok"] > 0 and runs["timeout"] + runs["ok"] == 6
    assert "hard timeout" in document["failures"]["timeout"]["first_message"]


def test_missing_submission_is_a_usage_error(in_process, tmp_path):
    result = in_process("score", str(tmp_path / "nope.py"), "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


KILLED_N = 8  # runs 3 to 7 leave a window of about two seconds to kill the harness in


def _score_args(submission: Path, cache: Path, ledger: Path, out: Path, jobs: int) -> list[str]:
    return [
        sys.executable, "-m", "harness", "score", str(submission), "--n-models", str(KILLED_N),
        "--cache-dir", str(cache), "--ledger-dir", str(ledger), "--out", str(out), "--jobs", str(jobs), "--quiet",
        "--bootstrap", "10", "--mia-models", "4", *CACHED_YARDSTICK, *NO_REPORT,
    ]


def test_killed_run_resumes_to_the_same_numbers(reference_cache, tmp_path):
    submission = SUBMISSIONS / "slow_noise.py"
    uninterrupted = subprocess.run(_score_args(submission, reference_cache, tmp_path / "l1", tmp_path / "o1", 2), cwd=ROOT, capture_output=True, text=True)
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    ledger_dir = tmp_path / "l2"
    process = subprocess.Popen(_score_args(submission, reference_cache, ledger_dir, tmp_path / "o2", 1), cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not 3 <= runs_recorded(ledger_dir) < KILLED_N:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = runs_recorded(ledger_dir)
    assert 3 <= done_before < KILLED_N, "the harness was not interrupted part-way"
    assert not (tmp_path / "o2" / "score.json").exists()

    resumed = subprocess.run(_score_args(submission, reference_cache, ledger_dir, tmp_path / "o2", 1), cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    first = json.loads((tmp_path / "o1" / "score.json").read_text())
    second = json.loads((tmp_path / "o2" / "score.json").read_text())
    assert _numbers(first) == _numbers(second)
    assert 0 < first["forget_quality"] < 1


def test_outputs_inside_the_submission_folder(score_cli, tmp_path):
    """The sandbox hides the submission's folder; the ledgers and results inside it must not break that."""
    folder = tmp_path / "mine"
    folder.mkdir()
    submission = folder / "finetune.py"
    submission.write_bytes(FINETUNE.read_bytes())
    result, document = score_cli(submission, n_models=4, out=folder / "out", ledger=folder / "ledgers")
    assert result.returncode == 0, result.stderr
    assert document["runs"]["ok"] == 4


def test_a_bug_inside_the_pipeline_is_not_a_usage_error(in_process, monkeypatch, tmp_path):
    """Exit 2 says the command line or its input was wrong. A ValueError raised by the harness's own code
    (here, from inside score) must reach the interpreter, which prints its traceback and exits 1."""
    def broken(*args, **kwargs):
        raise ValueError("a bug in the harness")

    monkeypatch.setattr("harness.commands.cli.score", broken)
    with pytest.raises(ValueError, match="a bug in the harness"):
        in_process("score", str(FINETUNE), "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"), "--no-sandbox")


def test_only_outermost_folders_are_covered(tmp_path):
    inner, other = tmp_path / "a" / "b", tmp_path / "c"
    assert outermost([inner, tmp_path / "a", other, inner]) == [tmp_path / "a", other]


def test_too_few_successful_runs_get_no_score_even_when_failures_are_allowed(score_cli, tmp_path):
    """No good run of four: the metric needs three models, so no score, and no crash."""
    submission = tmp_path / "always_fails.py"
    submission.write_text("def unlearning(net, retain, forget, validation):\n    raise ValueError('tired')\n")
    result, document = score_cli(submission, "--allow-failures", "--jobs", "1", n_models=4)
    assert result.returncode == 3, result.stderr
    assert document["status"] == "failed" and document["runs"]["ok"] == 0 and document["final_score"] is None

