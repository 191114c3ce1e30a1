"""The time budget's yardstick: retraining measured among each submission's own runs and kept beside its
ledger, a failed measurement, one cached figure for both splits, and more runs for a borderline verdict."""

import hashlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import N_SMALL, ROOT, run_ledgers
from harness.benchmarks import get_benchmark, split_benchmark
from harness.commands.errors import YardstickUnmeasured
from harness.running.ledger import MeasurementLedger, RunLedger
from harness.running.runs import Beside, RunPlan, run_submission
from harness.timing.yardstick import MEASUREMENTS, paired_count, yardstick_key
from reference_models.secret import sealed


def test_the_yardstick_is_retrained_among_the_runs_and_kept_for_a_resume(score_cli, tmp_path):
    """By default retraining is measured among the submission's own runs, in its workers: at N = 16, 11
    retrainings and 11 runs of the identity baseline (the floor), kept beside the run ledger, so that a
    second score of the same file makes no new measurement and gives the same ratio."""
    finetune, ledgers = ROOT / "baselines" / "finetune.py", tmp_path / "ledgers"
    result, document = score_cli(finetune, ledger=ledgers, yardstick="paired")
    assert result.returncode == 0, result.stderr
    budget = document["time_budget"]
    count = paired_count(N_SMALL)
    assert count == MEASUREMENTS["retrain"] and budget["yardstick"] == "paired" and budget["retrain_runs"] == count
    assert "retrainings made among them" in result.stdout
    [path] = ledgers.glob("*/*.yardstick.parquet")
    rows = pq.read_table(path).to_pylist()
    assert sorted((row["baseline"], row["index"]) for row in rows) == [(name, i) for name in ("identity", "retrain") for i in range(count)]
    floor = np.median([row["charged_seconds"] for row in rows if row["baseline"] == "identity"])
    retrain = np.median([row["charged_seconds"] for row in rows if row["baseline"] == "retrain"])
    assert budget["floor_s"] == pytest.approx(floor) and budget["retrain_median_s"] == pytest.approx(retrain - floor)
    low, high = budget["retrain_median_ci"]  # the yardstick's own spread, beside the ratio's
    assert low < retrain < high and budget["floor_median_ci"][0] < floor < budget["floor_median_ci"][1]
    assert f"--- run {count - 1} ---" in (tmp_path / "out" / "yardstick-retrain.log").read_text()
    stored = path.read_bytes()
    again, rescored = score_cli(finetune, ledger=ledgers, out=tmp_path / "again", yardstick="paired", quiet=False)
    assert again.returncode == 0 and f"{N_SMALL} of {N_SMALL} runs kept" in again.stderr, again.stderr
    assert path.read_bytes() == stored and rescored["time_budget"]["ratio"] == budget["ratio"]


@pytest.mark.sandbox
def test_a_failed_measurement_stops_the_score_and_a_resume_makes_only_what_is_missing(sandbox_inputs, worker_setup, tmp_path):
    """A retraining that fails beside the runs leaves no yardstick: YardstickUnmeasured names the baseline
    and its log, once the submission's runs are done and in their ledger; the next attempt makes the
    missing measurements only."""
    cache, data, _ = sandbox_inputs
    spec = get_benchmark("digits-mlp")
    finetune = ROOT / "baselines" / "finetune.py"
    ledger = RunLedger(tmp_path / "ledgers", hashlib.sha256(finetune.read_bytes()).hexdigest(), spec.key())
    plan = RunPlan(4, 2, 30.0, spec, hidden=(cache, tmp_path / "ledgers"))

    def beside(retrain: Path) -> Beside:
        setups = {"retrain": worker_setup(retrain), "identity": worker_setup(ROOT / "baselines" / "identity.py")}
        return Beside(setups, 3, 60.0, MeasurementLedger(ledger), tmp_path)

    with pytest.raises(YardstickUnmeasured, match=r"the retrain baseline.*yardstick-retrain\.log"):
        run_submission(worker_setup(finetune), data, ledger, plan, tmp_path / "submission.log", progress=False,
                       beside=beside(ROOT / "tests" / "hostile" / "returns_tensor.py"))
    assert [record.status for record in ledger.finished(4)] == ["ok"] * 4
    measured = MeasurementLedger(ledger)
    assert measured.pending(["retrain", "identity"], 3) == [("retrain", 0), ("retrain", 1), ("retrain", 2)]
    run_submission(worker_setup(finetune), data, ledger, plan, tmp_path / "submission.log", progress=False,
                   beside=beside(ROOT / "baselines" / "retrain.py"))
    assert MeasurementLedger(ledger).pending(["retrain", "identity"], 3) == []


def test_one_yardstick_serves_both_splits_on_one_machine():
    """The public and private forget sets differ only by seed: one stored retrain figure for both."""
    spec = sealed(get_benchmark("digits-mlp"), "ab" * 32)
    assert yardstick_key(spec, "cpu") == yardstick_key(split_benchmark(spec, "private"), "cpu")
    assert yardstick_key(spec, "cpu") != yardstick_key(get_benchmark("cifar10-cnn-small"), "cpu")


def test_max_runs_without_more_runs_is_a_usage_error(in_process, tmp_path):
    refused = in_process("score", str(ROOT / "baselines" / "identity.py"), "--max-runs", "8",
                         "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    assert refused.returncode == 2 and "--max-runs needs --borderline more-runs" in refused.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_more_runs_time_a_borderline_entry_again_and_score_every_timed_run(score_cli, tmp_path):
    """Half the runs (drawn by the run's seeded `random`) work 0.3 s, the others return at once: the
    median's interval spans both, so the ratio's holds the limit however many runs are timed.
    --borderline more-runs times 4, 8 then 16 runs (--max-runs 16), counts the verdict still borderline
    as a pass, and scores all 16 runs against 16 references: a run timed but never scored could be left undone."""
    path = tmp_path / "sometimes_slow.py"
    path.write_text("""
import random
import time


def unlearning(net, retain, forget, validation):
    if random.random() < 0.5:
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
    return net
""")
    ledgers = tmp_path / "ledgers"
    result, document = score_cli(path, "--borderline", "more-runs", "--max-runs", "16", n_models=4, ledger=ledgers, quiet=False)
    assert result.returncode == 0, result.stderr
    budget = document["time_budget"]
    assert budget["verdict"] == "borderline" and budget["borderline"] == "more-runs" and budget["eligible"], budget
    assert budget["runs_timed"] == 16 and document["n_models_scored"] == 16 and document["runs"]["ok"] == 16
    assert "timing 8 runs" in result.stderr and "timing 16 runs" in result.stderr
    assert "counted as pass, after more runs" in result.stdout
    [ledger] = run_ledgers(ledgers)
    assert pq.read_table(ledger).num_rows == 16
