"""The run ledger: one Parquet row per finished attempt of a run of one submission on one benchmark.

Keyed by (submission content hash, benchmark key) so that editing the
submission or the benchmark starts a new ledger. Each finished attempt is
appended as a file of its own in a journal folder beside the ledger, written
atomically, so that a killed harness loses at most the run in flight and a run
costs the bytes of its own row, however many came before; the journal is
compacted into the Parquet file (rows in finishing order) when the ledger is
closed, or when it is next opened after a crash. A restarted harness skips
every run already recorded, but for a run whose failure may not repeat
(harness.running.failures.runs_again): it runs again, and its new attempt is a
row of its own, after the earlier ones, which stay (a ledger written before
attempts were counted reads as first attempts). A run's latest attempt is the
one that counts. An "ok" row whose outputs are not finite (an older harness
checked only some) is read as the invalid-output run it was, so that no such
ledger can crash scoring. Beside it, the time budget's baselines measured
among those runs have a table of their own (`MeasurementLedger`), a few rows
a score, rewritten after each.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
import logging
import os
from pathlib import Path
import threading
import time

from filelock import FileLock
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.running import failures
from reference_models.files import read_table, write_table_atomic

log = logging.getLogger(__name__)

STATUSES = ("ok", "timeout", "error", "invalid")
MEASURED = ("retain_accuracy", "test_accuracy", "forget_accuracy", "forget_statistic", "test_statistic", "retain_statistic")


@dataclass(frozen=True)
class RunRecord:
    run_id: int
    seed: int
    status: str
    failure_class: str | None  # see harness.running.failures; None for ok
    message: str
    unlearn_seconds: float | None  # charged to the run: CPU time of its process tree (wall time on a GPU)
    wall_seconds: float | None  # from the fork of the run's process to its answer
    retain_accuracy: float | None
    test_accuracy: float | None
    forget_accuracy: float | None
    forget_statistic: list[float] | None
    test_statistic: list[float] | None
    retain_statistic: list[float] | None  # on the retain sample, see reference_models.evaluation
    import_seconds: float | None = None  # of unlearn_seconds, the run's start and the submission's import (reported by the run; older ledgers: None)
    attempt: int = 1  # of this run, counted from 1; numbered by the ledger as it appends


_SCHEMA = pa.schema(
    [
        ("run_id", pa.int64()),
        ("seed", pa.int64()),
        ("status", pa.string()),
        ("failure_class", pa.string()),
        ("message", pa.string()),
        ("unlearn_seconds", pa.float64()),
        ("wall_seconds", pa.float64()),
        ("retain_accuracy", pa.float64()),
        ("test_accuracy", pa.float64()),
        ("forget_accuracy", pa.float64()),
        ("forget_statistic", pa.list_(pa.float64())),
        ("test_statistic", pa.list_(pa.float64())),
        ("retain_statistic", pa.list_(pa.float64())),
        ("import_seconds", pa.float64()),
        ("attempt", pa.int64()),
    ]
)


def not_finite(row: Mapping) -> list[str]:
    """The measured fields of a row that are missing or hold NaN or Inf: any one of them
    would make the metric (the collateral-privacy attacks among it) fail on the population."""
    return [name for name in MEASURED if row[name] is None or not np.isfinite(np.asarray(row[name], dtype=np.float64)).all()]


def _trusted(record: RunRecord) -> RunRecord:
    """An "ok" record as scoring may use it: one with outputs that are not finite, written by a harness
    that checked only some of them, is read as the invalid-output run it was."""
    bad = not_finite({name: getattr(record, name) for name in MEASURED}) if record.status == "ok" else []  # asdict would copy each float
    if not bad:
        return record
    what = f"the returned model's {', '.join(bad)} are missing or not finite (NaN or Inf), recorded as ok by an older harness"
    empty = dict.fromkeys(MEASURED)
    return replace(record, status=failures.STATUS[failures.INVALID_OUTPUT], failure_class=failures.INVALID_OUTPUT,
                   message=failures.message(failures.INVALID_OUTPUT, record.run_id, what), **empty)


def _attempts(table: pa.Table) -> list[tuple[int, int]]:
    return list(zip(table["run_id"].to_pylist(), table["attempt"].to_pylist(), strict=True))


def _not_compacted(journal: pa.Table, ledger: pa.Table) -> pa.Table:
    """The journal's rows that the Parquet file does not hold yet: a kill between a compaction's write and its
    journal's removal leaves them in both."""
    compacted = set(_attempts(ledger))
    new = [index for index, attempt in enumerate(_attempts(journal)) if attempt not in compacted]
    return journal if len(new) == journal.num_rows else journal.take(pa.array(new, type=pa.int64()))


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class RunLedger:
    """Finished runs, kept in memory and on disk; safe to append from several threads. `records` holds
    each run's latest attempt. A run is tried at most once per ledger opened, so that one score never
    retries its own failures: the next one does."""

    @staticmethod
    def runs_key(benchmark_key: str, originals: int) -> str:
        """Where a benchmark's runs are kept: a study of K originals unlearns other models than the competition's one, so its
        runs are kept apart, by K."""
        return benchmark_key if originals == 1 else f"{benchmark_key}-originals-{originals}"

    def __init__(self, root: Path, submission_sha256: str, benchmark_key: str):
        self.path = self.location(root, submission_sha256, benchmark_key)
        self.journal = self.path.with_suffix(".journal")  # one file per attempt appended since the last compaction
        self._lock = threading.Lock()
        table = self._stored()
        self._rows = table.num_rows
        self.records = {row["run_id"]: _trusted(RunRecord(**row)) for row in table.to_pylist()}  # the last row of a run is its latest
        self._tried: set[int] = set()  # runs appended since the ledger was opened
        self.write_seconds = 0.0  # spent appending and compacting since it was opened (-v prints it)

    @staticmethod
    def location(root: Path, submission_sha256: str, benchmark_key: str) -> Path:
        return Path(root) / benchmark_key / f"{submission_sha256[:32]}.parquet"

    @classmethod
    @contextmanager
    def open(cls, root: Path, submission_sha256: str, benchmark_key: str) -> Iterator["RunLedger"]:
        """The ledger, read and held under its lock: a second harness scoring the same submission waits, then
        finds the first one's runs done. Its journal is compacted on opening (what a killed harness left) and
        on closing, however the block ends; where the block raised, a compaction that fails too is logged, not
        raised over the block's error (Ctrl-C stays Ctrl-C), and the journal waits for the next opening."""
        path = cls.location(root, submission_sha256, benchmark_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            ledger = cls(root, submission_sha256, benchmark_key)
            ledger.compact()
            try:
                yield ledger
            except BaseException:
                try:
                    ledger.compact()
                except Exception as error:
                    log.warning(f"the ledger's journal {ledger.journal} was not compacted ({error}); its runs are kept, and the next score compacts it")
                raise
            ledger.compact()
            log.debug(f"ledger: {len(ledger._tried)} runs appended, {ledger.write_seconds:.1f} s of writes with the compaction")

    def _journal_files(self) -> list[Path]:
        """The journal's finished files, in the order they were appended (their names count the rows before them)."""
        return sorted(self.journal.glob("*.parquet")) if self.journal.is_dir() else []

    def _stored(self) -> pa.Table:
        """The ledger's rows then its journal's, each in the order written, each attempt once."""
        ledger = read_table(self.path, schema=_SCHEMA) if self.path.exists() else _SCHEMA.empty_table()
        ledger = ledger.set_column(ledger.schema.get_field_index("attempt"), "attempt", pc.fill_null(ledger["attempt"], 1))
        journal = [read_table(path, schema=_SCHEMA) for path in self._journal_files()]
        if not journal:
            return ledger
        return pa.concat_tables([ledger, _not_compacted(pa.concat_tables(journal), ledger)]).combine_chunks()

    def compact(self) -> None:
        """Fold the journal into the Parquet file, then remove it. Held under the file lock: a kill in between
        leaves rows in both, which the next reader counts once (`_not_compacted`)."""
        files = self._journal_files()
        if not files and not self.journal.exists():
            return
        start = time.perf_counter()
        if files:
            write_table_atomic(self.path, self._stored())
            _sync_folder(self.path.parent)  # the rename reaches the disk before the journal is removed
        for path in self.journal.iterdir():  # the journal's files, and a write a kill left half done
            path.unlink()
        self.journal.rmdir()
        self.write_seconds += time.perf_counter() - start

    def pending(self, n_runs: int) -> list[int]:
        """The runs among 0..n-1 to run: those never run, and those to run again."""
        return [i for i in range(n_runs) if i not in self.records or self._again(i)]

    def again(self, n_runs: int) -> list[int]:
        """The runs among 0..n-1 that failed in a way that may not repeat, to run again."""
        return [i for i in range(n_runs) if i in self.records and self._again(i)]

    def _again(self, run_id: int) -> bool:
        latest = self.records[run_id]
        return run_id not in self._tried and failures.runs_again(latest.failure_class, latest.attempt)

    def append(self, record: RunRecord) -> None:
        """Record a run's attempt (its first, or the next after one that may be run again) as a journal file of
        its own: the bytes written do not grow with the runs before it."""
        if record.status not in STATUSES:
            raise ValueError(f"unknown run status {record.status!r}")
        with self._lock:
            previous = self.records.get(record.run_id)
            if previous is not None and not self._again(record.run_id):
                raise ValueError(f"run {record.run_id} is already in the ledger")
            record = replace(record, attempt=previous.attempt + 1 if previous else 1)
            start = time.perf_counter()
            row = {field.name: getattr(record, field.name) for field in fields(record)}  # not asdict, which copies each float
            write_table_atomic(self.journal / f"{self._rows:08d}.parquet", pa.Table.from_pylist([row], schema=_SCHEMA))
            self.write_seconds += time.perf_counter() - start
            self._rows += 1
            self.records[record.run_id] = record
            self._tried.add(record.run_id)

    def finished(self, n_runs: int) -> list[RunRecord]:
        """Latest attempts of the runs among 0..n-1 that finished, in order (runs not started after a failure are absent)."""
        return [self.records[i] for i in range(n_runs) if i in self.records]

    def first(self, n_runs: int) -> list[RunRecord]:
        """Latest attempts of runs 0..n-1, in order; all of them must be finished."""
        return [self.records[i] for i in range(n_runs)]


_MEASUREMENT_SCHEMA = pa.schema([("baseline", pa.string()), ("index", pa.int64()), ("charged_seconds", pa.float64()), ("wall_seconds", pa.float64())])


class MeasurementLedger:
    """The time budget's baselines measured beside one submission's runs (harness.timing.yardstick): one row per
    baseline run that ended ok, rewritten atomically after each, beside the run ledger and held under its
    lock, so that a resumed score reuses them as it reuses the runs."""

    def __init__(self, runs: RunLedger):
        self.path = runs.path.with_suffix(".yardstick.parquet")
        self._lock = threading.Lock()
        self._table = read_table(self.path, schema=_MEASUREMENT_SCHEMA) if self.path.exists() else _MEASUREMENT_SCHEMA.empty_table()
        self.rows = {(row["baseline"], row["index"]): row for row in self._table.to_pylist()}

    def pending(self, baselines: list[str], count: int) -> list[tuple[str, int]]:
        """(baseline, index) of each measurement among the first `count` of each baseline not yet made, by index."""
        return [(name, index) for index in range(count) for name in baselines if (name, index) not in self.rows]

    def append(self, baseline: str, index: int, charged_seconds: float, wall_seconds: float) -> None:
        row = {"baseline": baseline, "index": index, "charged_seconds": charged_seconds, "wall_seconds": wall_seconds}
        with self._lock:
            if (baseline, index) in self.rows:
                raise ValueError(f"measurement {index} of the {baseline} baseline is already in the ledger")
            self.rows[(baseline, index)] = row
            self._table = pa.concat_tables([self._table, pa.Table.from_pylist([row], schema=_MEASUREMENT_SCHEMA)]).combine_chunks()
            write_table_atomic(self.path, self._table)

    def seconds(self, baseline: str, count: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(charged, wall) seconds of those of the baseline's first `count` measurements that were made, in order."""
        rows = [self.rows[(baseline, index)] for index in range(count) if (baseline, index) in self.rows]
        return tuple(row["charged_seconds"] for row in rows), tuple(row["wall_seconds"] for row in rows)
