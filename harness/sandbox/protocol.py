"""What crosses the sandbox: the worker's setup and the framing of the messages between the harness and its worker.

A message is a JSON header and an optional binary payload, each preceded by
its length. JSON keeps the worker's answers inert: the parent never unpickles
anything the worker sends, and reads returned weights as raw arrays (harness.sandbox.weights).
"""

from dataclasses import dataclass
import json
import os
import select
import struct
import time
from typing import Any, BinaryIO

from reference_models.spec import BenchmarkSpec
from reference_models.tensors import LabelledTensors


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker may know: sent once, by the trusted parent."""

    submission: str  # the file's path, for tracebacks; its folder is not in the sandbox
    source: str
    spec: BenchmarkSpec  # without its seeds or data folder: see reference_models.secret.public_view
    original_weights: tuple[bytes, ...]  # the original; under a study of originals, original k of K (a run's request names k)
    retain: LabelledTensors
    forget: LabelledTensors
    validation: LabelledTensors
    threads: int = 1
    memory_bytes: int = 8 << 30  # address space a run may map on the CPU (CUDA maps more than any sensible cap)
    device: str = "cpu"  # the net is handed over on it; batches stay on the CPU, as in the competition
    max_answer_bytes: int = 1 << 30  # a run's answer beyond this is refused unread
    sandboxed: bool = True  # False only with --no-sandbox: the worker runs as a plain process
    checkpoints: bool = False  # True: each run loads the checkpoint its request carries (score-checkpoints); no code is imported


_LENGTHS = struct.Struct("<QQ")
MAX_HEADER_BYTES = 64 << 10  # headers carry a class, a run id, timings and a message cut to a few kB


class ChannelClosed(Exception):
    """The other side closed its end (it exited or crashed)."""


class ChannelTimeout(Exception):
    """No complete message arrived before the deadline."""


def send(stream: BinaryIO, header: dict[str, Any], payload: bytes = b"") -> None:
    encoded = json.dumps(header).encode()
    stream.write(_LENGTHS.pack(len(encoded), len(payload)) + encoded + payload)
    stream.flush()


def _read_exactly(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, remaining = [], n
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise ChannelTimeout
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise ChannelClosed
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def receive(fd: int, deadline: float | None = None, max_payload: int = 1 << 34) -> tuple[dict[str, Any], bytes]:
    """Read one message from a raw file descriptor, giving up at `deadline` (monotonic).

    An oversized message is refused from its lengths, before anything of it is read.
    """
    header_len, payload_len = _LENGTHS.unpack(_read_exactly(fd, _LENGTHS.size, deadline))
    if header_len > MAX_HEADER_BYTES or payload_len > max_payload:
        raise ChannelClosed(f"message of {header_len} + {payload_len} bytes is larger than allowed")
    try:
        header = json.loads(_read_exactly(fd, header_len, deadline))
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        header = None
    if not isinstance(header, dict):
        raise ChannelClosed("the header is not a JSON object")
    return header, _read_exactly(fd, payload_len, deadline)
