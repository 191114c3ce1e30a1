"""Runs that failed for a reason that may not repeat (a timeout, a worker crash) run again on the next
score, up to failures.MAX_ATTEMPTS attempts, each kept in the ledger; a failure the file repeats never
does. Real ledgers on disk; the end-to-end tests score a real file twice."""

from dataclasses import asdict

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import SUBMISSIONS, cli_spec, run_ledgers
from harness.running import failures
from harness.running.failure_policy import not_started_note, standing_failure
from harness.running.ledger import RunLedger, RunRecord
from reference_models.files import read_table, sha256_bytes

SLEEPS = SUBMISSIONS / "sleeps_two_seconds.py"
SHA = "ab" * 32


def _record(run_id: int, failure_class: str | None) -> RunRecord:
    status = "ok" if failure_class is None else failures.STATUS[failure_class]
    measured = [0.5] if failure_class is None else None
    accuracy = 1.0 if failure_class is None else None
    return RunRecord(run_id=run_id, seed=run_id, status=status, failure_class=failure_class, message="", unlearn_seconds=0.1, wall_seconds=0.1,
                     retain_accuracy=accuracy, test_accuracy=accuracy, forget_accuracy=accuracy, forget_statistic=measured,
                     test_statistic=measured, retain_statistic=measured)


def _ledger(root, sha256: str = SHA, key: str = "key") -> RunLedger:
    ledger = RunLedger(root, sha256, key)
    ledger.path.parent.mkdir(parents=True, exist_ok=True)
    return ledger


@pytest.mark.parametrize("failure_class", [failures.TIMEOUT, failures.WORKER_CRASH])
def test_a_failure_that_may_not_repeat_runs_again_on_the_next_opening_with_every_attempt_kept(tmp_path, failure_class):
    ledger = _ledger(tmp_path)
    ledger.append(_record(0, failure_class))
    ledger.append(_record(1, None))
    assert ledger.pending(2) == [] and ledger.again(2) == []  # not within the same score
    with pytest.raises(ValueError, match="already in the ledger"):
        ledger.append(_record(0, None))

    again = _ledger(tmp_path)
    assert again.pending(2) == [0] and again.again(2) == [0]
    again.append(_record(0, None))
    assert [(r.status, r.attempt) for r in again.finished(2)] == [("ok", 2), ("ok", 1)]
    again.compact()
    rows = read_table(again.path).to_pylist()
    assert [(row["run_id"], row["attempt"], row["failure_class"]) for row in rows] == [(0, 1, failure_class), (1, 1, None), (0, 2, None)]
    assert _ledger(tmp_path).first(2) == again.first(2) and _ledger(tmp_path).pending(2) == []


@pytest.mark.parametrize("failure_class", sorted(failures.REPEATS))
def test_a_failure_the_file_repeats_never_runs_again(tmp_path, failure_class):
    _ledger(tmp_path).append(_record(0, failure_class))
    ledger = _ledger(tmp_path)
    assert ledger.pending(3) == [1, 2] and standing_failure(ledger, 3) == ledger.records[0]
    with pytest.raises(ValueError, match="already in the ledger"):
        ledger.append(_record(0, None))
    reason = not_started_note(3, ledger.finished(3)).reason
    assert "fix the failure: this file fails the same way again" in reason and "score again" not in reason


def test_attempts_stop_at_the_maximum_and_the_failure_then_stands(tmp_path):
    for attempt in range(1, failures.MAX_ATTEMPTS + 1):
        ledger = _ledger(tmp_path)
        assert ledger.pending(2) == [0, 1] and standing_failure(ledger, 2) is None
        ledger.append(_record(0, failures.TIMEOUT))
        assert ledger.records[0].attempt == attempt
        assert ("score again to resume" in not_started_note(2, ledger.finished(2)).reason) == (attempt < failures.MAX_ATTEMPTS)
    ledger = _ledger(tmp_path)
    assert ledger.pending(2) == [1] and ledger.again(2) == [] and standing_failure(ledger, 2) == ledger.records[0]
    reason = not_started_note(2, ledger.finished(2)).reason
    assert f"attempt {failures.MAX_ATTEMPTS}" in reason and f"at most {failures.MAX_ATTEMPTS} attempts" in reason and "score again" not in reason
    ledger.compact()
    assert len(read_table(ledger.path)) == failures.MAX_ATTEMPTS


def test_a_ledger_written_before_attempts_were_counted_still_loads(tmp_path):
    """No attempt column: every row is a first attempt, and a timeout among them runs again."""
    old = [{key: value for key, value in asdict(_record(run_id, failure_class)).items() if key not in ("attempt", "import_seconds")}
           for run_id, failure_class in [(0, failures.TIMEOUT), (1, None)]]
    ledger = _ledger(tmp_path)
    pq.write_table(pa.Table.from_pylist(old), ledger.path)
    ledger = _ledger(tmp_path)
    assert [r.attempt for r in ledger.finished(2)] == [1, 1] and ledger.pending(2) == [0]
    ledger.append(_record(0, None))
    ledger.compact()
    assert read_table(ledger.path)["attempt"].to_pylist() == [1, 1, 2]


def test_a_timed_out_run_runs_again_on_the_next_score_and_the_entry_ends_scored(score_cli, tmp_path):
    """The Done-when of the issue: a host too slow once (here, a timeout too short) does not fail the file for good."""
    result, document = score_cli(SLEEPS, "--timeout", "1", "--jobs", "1", n_models=4)
    assert result.returncode == 3 and document["runs"]["timeout"] == 1 and document["runs"]["not started"] == 3
    assert "score again to resume" in document["not_started"]["reason"] and "score again to resume" in result.stdout

    result, document = score_cli(SLEEPS, "--timeout", "30", n_models=4, quiet=False)
    assert result.returncode == 0, result.stderr
    assert document["status"] == "scored" and document["runs"]["ok"] == 4 and document["not_started"] is None
    assert "4 to run, 1 of them again after a timeout or a worker crash" in result.stderr
    assert document["runs_retried"] == 1 and "retried          1 run(s) counted from a later attempt" in result.stdout
    [path] = run_ledgers(tmp_path / "ledgers")
    rows = read_table(path).to_pylist()
    assert [(row["attempt"], row["status"]) for row in rows if row["run_id"] == 0] == [(1, "timeout"), (2, "ok")]


def test_a_run_that_times_out_on_its_last_attempt_stands(score_cli, reference_cache, tmp_path):
    for _ in range(failures.MAX_ATTEMPTS - 1):  # the earlier attempts, as earlier scores left them
        with RunLedger.open(tmp_path / "ledgers", sha256_bytes(SLEEPS.read_bytes()), cli_spec(reference_cache).key()) as ledger:
            ledger.append(_record(0, failures.TIMEOUT))
    result, document = score_cli(SLEEPS, "--timeout", "1", "--jobs", "1", n_models=4)
    assert result.returncode == 3 and document["runs"]["timeout"] == 1 and document["runs"]["not started"] == 3
    reason = document["not_started"]["reason"]
    assert f"attempt {failures.MAX_ATTEMPTS}" in reason and "fix the failure" in reason and "score again" not in reason

    again, rescored = score_cli(SLEEPS, "--timeout", "30", n_models=4)
    assert again.returncode == 3 and rescored["runs"] == document["runs"]
    assert "no run is started until the file changes" in again.stderr
