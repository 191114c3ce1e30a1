"""The run ledger appends each run as a journal file of its own and compacts the journal when it closes
(harness.running.ledger): a run's bytes do not grow with the runs before it, and a process killed at any
moment, in the middle of a write included, loses no run that had finished."""

import os
from pathlib import Path
import signal
import subprocess
import sys

import pytest

from conftest import ROOT
from harness.running.ledger import RunLedger, RunRecord
from reference_models.files import read_table

SHA = "cd" * 32
KILLS = 4


def _record(run_id: int, values: int = 1000) -> RunRecord:
    statistic = [float(run_id)] * values
    return RunRecord(run_id, run_id, "ok", None, "", 0.1, 0.2, 1.0, 0.9, 0.8, statistic, statistic, statistic)


def test_each_run_writes_as_many_bytes_however_many_came_before(tmp_path):
    with RunLedger.open(tmp_path, SHA, "key") as ledger:
        for run_id in range(200):
            ledger.append(_record(run_id))
        sizes = {path.stat().st_size for path in ledger.journal.iterdir()}
        journal = ledger.journal
    assert len(sizes) == 1, sizes  # the 200th row's file is the first one's size
    assert not journal.exists()  # compacted on closing
    assert read_table(ledger.path)["run_id"].to_pylist() == list(range(200))


def test_a_kill_between_compaction_and_the_journal_removal_counts_each_run_once(tmp_path):
    ledger = RunLedger(tmp_path, SHA, "key")
    for run_id in range(3):
        ledger.append(_record(run_id, 4))
    kept = list(ledger.journal.iterdir())
    copies = {path: path.read_bytes() for path in kept}
    ledger.compact()  # the Parquet file written, and the journal removed
    ledger.journal.mkdir()
    for path, data in copies.items():  # as a kill right after the Parquet file's rename would have left it
        path.write_bytes(data)
    (ledger.journal / ".00000003.parquet.99.tmp").write_bytes(b"half a row")  # a write the kill cut short
    again = RunLedger(tmp_path, SHA, "key")
    assert [record.run_id for record in again.finished(5)] == [0, 1, 2] and again.pending(4) == [3]
    with RunLedger.open(tmp_path, SHA, "key") as opened:
        assert not opened.journal.exists()
        opened.append(_record(3, 4))
    assert read_table(ledger.path)["run_id"].to_pylist() == [0, 1, 2, 3]


# Appends runs 0, 1, ... of large rows (each file write takes a while), saying after each append returns.
_WRITER = """
import sys
from pathlib import Path
from harness.running.ledger import RunLedger, RunRecord
statistic = [0.5] * 20_000
with RunLedger.open(Path(sys.argv[1]), sys.argv[2], "key") as ledger:
    run_id = len(ledger.records)
    while True:
        ledger.append(RunRecord(run_id, run_id, "ok", None, "", 0.1, 0.2, 1.0, 0.9, 0.8, statistic, statistic, statistic))
        print(run_id, flush=True)
        run_id += 1
"""


@pytest.mark.cli
def test_a_process_killed_while_writing_keeps_every_finished_run(tmp_path):
    """Killed right after a run is reported, while it writes the next one, again and again: every reported run is
    in the ledger each time it is opened, numbered once, and the runs resume after the last one."""
    reported: list[int] = []
    for _ in range(KILLS):
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), SHA], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert writer.stdout is not None
        reported += [int(writer.stdout.readline()) for _ in range(3)]
        writer.send_signal(signal.SIGKILL)  # in the middle of the next run's write, or about to start it
        writer.wait()
        ledger = RunLedger(tmp_path, SHA, "key")
        assert set(reported) <= set(ledger.records)
        assert sorted(ledger.records) == list(range(len(ledger.records)))  # no run lost in between, none twice
    with RunLedger.open(tmp_path, SHA, "key") as ledger:
        pass
    rows = read_table(ledger.path)["run_id"].to_pylist()
    assert rows == list(range(len(rows))) and len(rows) >= len(reported) == 3 * KILLS
    assert not ledger.journal.exists() and not list(Path(ledger.path.parent).glob(".*.tmp"))


def test_a_failed_compaction_does_not_hide_the_error_that_ended_the_block_and_keeps_the_runs(tmp_path, monkeypatch):
    def broken(self: RunLedger) -> None:
        raise OSError("No space left on device")

    with pytest.raises(KeyboardInterrupt):
        with RunLedger.open(tmp_path, SHA, "key") as ledger:
            ledger.append(_record(0, 4))
            monkeypatch.setattr(RunLedger, "compact", broken)
            raise KeyboardInterrupt  # Ctrl-C while the disk is full: the interrupt is what the command reports
    monkeypatch.undo()
    with RunLedger.open(tmp_path, SHA, "key") as again:
        assert list(again.records) == [0]  # the journal's run, compacted on the next opening
    with pytest.raises(OSError, match="No space"):  # a block that ended well still reports a failed compaction
        with RunLedger.open(tmp_path, SHA, "key"):
            monkeypatch.setattr(RunLedger, "compact", broken)
