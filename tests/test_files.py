"""Atomic writes and snapshot reads: a reader beside a busy writer never sees half a table."""

from pathlib import Path
import threading

import pyarrow as pa

from reference_models.files import read_table, write_table_atomic


def test_reads_beside_a_writer_are_never_torn(tmp_path: Path):
    """A ledger is rewritten after every run while a second harness or a test may read it;
    pyarrow's own path reader fails here about one read in three."""
    path = tmp_path / "ledger.parquet"
    write_table_atomic(path, pa.table({"value": [0.0]}))
    stop = threading.Event()

    def rewrite() -> None:
        rows = 1
        while not stop.is_set():
            rows = rows % 40 + 1
            write_table_atomic(path, pa.table({"value": [float(i) for i in range(rows)]}))

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        sizes = {read_table(path).num_rows for _ in range(1500)}
    finally:
        stop.set()
        writer.join()
    assert len(sizes) > 1, "the writer never ran while the reader read"
    assert sizes <= set(range(1, 41))
