"""Atomic file writes, snapshot reads and checksums, so that a kill or a concurrent
writer never leaves, or shows, half a file."""

import hashlib
import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import torch


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_table_atomic(path: Path, table: pa.Table) -> None:
    """Uncompressed and without dictionaries: these tables are small, rewritten often,
    and mostly hold float64 statistics that compress poorly anyway."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="none", use_dictionary=False)
    write_atomic(path, sink.getvalue())


def read_table(path: Path, schema: pa.Schema | None = None) -> pa.Table:
    """Read the file's bytes once, then parse them: pyarrow's own path reader takes the
    size first and the pages later, so a writer's rename in between gives a torn read."""
    return pq.read_table(pa.BufferReader(Path(path).read_bytes()), schema=schema)


def write_csv_atomic(path: Path, table: pa.Table) -> None:
    """A table as CSV, for spreadsheets and people."""
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink)
    write_atomic(path, sink.getvalue().to_pybytes())


def state_dict_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def load_state_dict_bytes(data: bytes) -> dict[str, torch.Tensor]:
    """Load weights without executing any pickled code (weights_only)."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
