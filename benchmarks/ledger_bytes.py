"""Bytes the run ledger writes per run, against the number of runs before it.

Appends N synthetic runs to a fresh ledger (harness.running.ledger, opened and closed as a score does)
with the statistics' lengths of a benchmark, and counts the bytes this process writes (`wchar` of
/proc/self/io): the appends, each run a journal file of its own, and the compaction when the ledger
closes. Before issue 42 the whole Parquet file was rewritten after every run, so run k wrote k rows;
that line is computed from the measured size of a row, for comparison. digits-mlp: 144 forget, 180
test and 144 retain examples; cifar10: 5,000 forget, 5,000 test and 5,000 retain.

    .venv/bin/python benchmarks/ledger_bytes.py [--n-models 64,128,256,512]
"""

import argparse
import hashlib
from pathlib import Path
import sys
import tempfile

from harness.running.ledger import RunLedger, RunRecord

SIZES = {"digits-mlp": (144, 180, 144), "cifar10": (5000, 5000, 5000)}


def _written() -> int:
    """Bytes this process has written so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/io has no wchar line")


def _measure(n_runs: int, sizes: tuple[int, int, int], folder: Path) -> tuple[float, int]:
    """(bytes per append, bytes of the compaction) for n_runs runs into a fresh ledger."""
    forget, test, retain = ([0.25] * size for size in sizes)
    with RunLedger.open(folder, hashlib.sha256(str(n_runs).encode()).hexdigest(), "benchmark") as ledger:
        before = _written()
        for run_id in range(n_runs):
            ledger.append(RunRecord(run_id, run_id, "ok", None, "", 0.1, 0.2, 1.0, 0.9, 0.8, forget, test, retain))
        appended = _written() - before
        before = _written()
    compacted = _written() - before
    return appended / n_runs, compacted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-models", default="64,128,256,512", help="numbers of runs, comma-separated")
    args = parser.parse_args()
    counts = [int(n) for n in args.n_models.split(",")]
    print("| benchmark | N | bytes per run appended | compaction at the end | all bytes per run | rewriting after every run (before), per run |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as scratch:
        for name, sizes in SIZES.items():
            for n_runs in counts:
                per_run, compaction = _measure(n_runs, sizes, Path(scratch) / name)
                row = compaction / n_runs  # the Parquet file's bytes per row
                before = row * (n_runs + 1) / 2  # run k rewrote k rows: the mean of 1..N rows per run
                print(f"| {name} | {n_runs} | {per_run:,.0f} | {compaction:,} | {per_run + compaction / n_runs:,.0f} | {before:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
