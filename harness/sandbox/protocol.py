"""Framing of the messages between the harness and its sandbox worker.

A message is a JSON header and an optional binary payload, each preceded by
its length. JSON keeps the worker's answers inert: the parent never unpickles
anything the worker sends, and loads returned weights with weights_only.
"""

import json
import os
import select
import struct
import time
from typing import BinaryIO

_LENGTHS = struct.Struct("<QQ")
MAX_HEADER_BYTES = 64 << 10  # headers carry a class, a run id, timings and a message cut to a few kB


class ChannelClosed(Exception):
    """The other side closed its end (it exited or crashed)."""


class ChannelTimeout(Exception):
    """No complete message arrived before the deadline."""


def send(stream: BinaryIO, header: dict, payload: bytes = b"") -> None:
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


def receive(fd: int, deadline: float | None = None, max_payload: int = 1 << 34) -> tuple[dict, bytes]:
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
