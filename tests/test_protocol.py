"""The parent's reading of worker messages: anything out of shape is a closed channel, never a crash."""

import json
import os
import struct
import time

import pytest

from harness.sandbox import protocol


def _pipe_with(data: bytes) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    return read_end


def _frame(header: bytes, payload: bytes = b"") -> bytes:
    return struct.pack("<QQ", len(header), len(payload)) + header + payload


def test_round_trip():
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as stream:
        protocol.send(stream, {"type": "result", "run_id": 3}, b"weights")
    assert protocol.receive(read_end, time.monotonic() + 5) == ({"type": "result", "run_id": 3}, b"weights")


@pytest.mark.parametrize("header", [b"{not json", json.dumps([1, 2]).encode(), b"\xff\xfe"])
def test_a_malformed_header_is_a_closed_channel(header):
    with pytest.raises(protocol.ChannelClosed):
        protocol.receive(_pipe_with(_frame(header)), time.monotonic() + 5)


def test_an_oversized_message_is_refused_before_reading_it():
    with pytest.raises(protocol.ChannelClosed, match="larger than allowed"):
        protocol.receive(_pipe_with(struct.pack("<QQ", 1 << 40, 0)), time.monotonic() + 5)


def test_a_partial_message_times_out():
    read_end, write_end = os.pipe()
    os.write(write_end, struct.pack("<QQ", 10, 0) + b"{")
    with pytest.raises(protocol.ChannelTimeout):
        protocol.receive(read_end, time.monotonic() + 0.3)
    os.close(write_end)
