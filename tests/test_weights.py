"""The parent's checks on returned weights, and the format they cross the sandbox in."""

import collections
import io
import json
import pickle
import struct
import subprocess
import sys
import zlib

import pytest
import torch

from harness.benchmarks import get_benchmark
from harness.sandbox.weights import MAX_INDEX_BYTES, InvalidWeights, answer_bytes, checked_state, model_from_weights
from reference_models.architectures import build_model
from reference_models.files import state_dict_bytes


@pytest.fixture
def expected():
    return build_model(get_benchmark("digits-mlp")).state_dict()


def test_accepts_the_architecture(expected):
    state = {k: v.clone() for k, v in expected.items()}
    assert all(torch.equal(checked_state(state, expected)[k], v) for k, v in expected.items())


def test_half_precision_is_cast_to_float32(expected):
    state = {k: v.half() for k, v in expected.items()}
    assert all(t.dtype == torch.float32 for t in checked_state(state, expected).values())


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("1.weight"), "missing keys: 1.weight"),
        (lambda s: s.update(extra=torch.zeros(1)), "unexpected keys: extra"),
        (lambda s: s.update({"1.weight": torch.zeros(3, 3)}), "1.weight has shape"),
        (lambda s: s["1.bias"].fill_(float("nan")), "NaN or Inf"),
        (lambda s: s.update({"1.bias": s["1.bias"].long()}), "expected one of torch.float16"),
    ],
)
def test_rejects_with_a_named_reason(expected, change, message):
    state = {k: v.clone() for k, v in expected.items()}
    change(state)
    with pytest.raises(InvalidWeights, match=message):
        checked_state(state, expected)


def test_unreadable_payload_is_invalid():
    with pytest.raises(InvalidWeights, match="could not be read"):
        model_from_weights(get_benchmark("digits-mlp"), b"not a torch file")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_round_trip_through_bytes(expected, dtype):
    model = model_from_weights(get_benchmark("digits-mlp"), answer_bytes({k: v.to(dtype) for k, v in expected.items()}))
    assert not model.training
    assert all(torch.equal(model.state_dict()[k], v.to(dtype).float()) for k, v in expected.items())


def test_an_answer_holds_each_tensors_own_bytes_only():
    """A view of a huge storage crosses as its own elements, not its storage (as torch.save would send)."""
    big = torch.zeros(1 << 24)
    assert len(answer_bytes({"view": big[:4]})) < 100


def zip_bomb(names: list[str], numel: int) -> bytes:
    """A torch.save-shaped archive whose tensor records all point at one deflated stream of `numel` float32
    zeros (David Fifield's overlapping-file construction, https://www.bamsoftware.com/hacks/zipbomb/):
    six names of 2**26 elements are 262 kB, which torch.load inflates to 1.5 GiB."""

    class Key(str):
        pass

    class Tensor:
        def __init__(self, key: str):
            self.key = Key(key)

        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (self.key, 0, (numel,), (1,), False, collections.OrderedDict())

    pickled = io.BytesIO()
    pickler = pickle.Pickler(pickled, protocol=2)
    pickler.persistent_id = lambda obj: ("storage", torch.FloatStorage, str(obj), "cpu", numel) if isinstance(obj, Key) else None
    pickler.dump({name: Tensor(str(i)) for i, name in enumerate(names)})
    size, zeros, squeeze, crc = 4 * numel, bytes(1 << 20), zlib.compressobj(9, zlib.DEFLATED, -15), 0
    stream = b"".join(squeeze.compress(zeros) for _ in range(size >> 20)) + squeeze.flush()
    for _ in range(size >> 20):
        crc = zlib.crc32(zeros, crc)
    small = [(f"archive/{name}", 0, data, zlib.crc32(data), len(data))
             for name, data in (("data.pkl", pickled.getvalue()), ("byteorder", b"little"), ("version", b"3"))]
    bomb = ("archive/data/0", 8, stream, crc, size)
    body, offsets = b"", {}
    for name, method, data, checksum, usize in [*small, bomb]:  # the local records
        offsets[name] = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, checksum, len(data), usize, len(name), 0) + name.encode() + data
    central = b""
    entries = [*small, *((f"archive/data/{i}", *bomb[1:]) for i in range(len(names)))]
    for name, method, data, checksum, usize in entries:  # every tensor's record at the one deflated local record
        offset = offsets.get(name, offsets[bomb[0]])
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, checksum, len(data), usize, len(name), 0, 0, 0, 0, 0, offset)
        central += name.encode()
    return body + central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(body), 0)


def raw_answer(index, data: bytes = b"") -> bytes:
    """An answer of the harness's format around any index (JSON-encoded unless bytes) and data."""
    encoded = index if isinstance(index, bytes) else json.dumps(index).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


BOMB_NAMES = ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"]
HOSTILE = {
    "a torch.save archive": (lambda state: state_dict_bytes(state), "is longer than"),
    "a zip bomb": (lambda state: zip_bomb(BOMB_NAMES, 1 << 26), "is longer than"),
    "too short": (lambda state: b"[]", "holds no index"),
    "an index past the answer's end": (lambda state: struct.pack("<Q", 100) + b"[]", "is longer than"),
    "an index past the cap": (lambda state: raw_answer(b" " * (MAX_INDEX_BYTES + 1)), "is longer than"),
    "a nested index": (lambda state: raw_answer(b"[" * 100_000 + b"]" * 100_000), "not JSON"),
    "an index that is no list": (lambda state: raw_answer({"1.weight": "float32"}), "not a list"),
    "a negative dimension": (lambda state: raw_answer([["1.bias", "float32", [-1]]]), "not a list"),
    "a boolean dimension": (lambda state: raw_answer([["1.bias", "float32", [True]]], bytes(4)), "not a list"),
    "an unknown dtype": (lambda state: raw_answer([["1.bias", "float4_e2m1fn_x2", [4]]], bytes(4)), "dtype float4_e2m1fn_x2"),
    "shapes beyond the answer": (lambda state: raw_answer([[name, "float32", [1 << 26]] for name in BOMB_NAMES], bytes(262_000)),
                                 "would take more bytes than the answer"),
    "tensors past the answer's end": (lambda state: answer_bytes(state)[:-1], "more bytes than the"),
    "bytes beyond its tensors": (lambda state: answer_bytes(state) + bytes(4), "4 of its bytes belong to no tensor"),
    "one name twice": (lambda state: raw_answer([["1.bias", "float32", [1]]] * 2, bytes(8)), "1.bias is in its index twice"),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_hostile_answers_are_invalid(expected, attack):
    make, words = HOSTILE[attack]
    with pytest.raises(InvalidWeights, match="could not be read") as raised:
        model_from_weights(get_benchmark("digits-mlp"), make(expected))
    assert words in str(raised.value)


# The parent's reading of an answer, alone in a fresh process; prints that process's peak resident memory in KiB.
PEAK = """
import resource, sys
from harness.benchmarks import get_benchmark
from harness.sandbox.weights import InvalidWeights, model_from_weights
answer = open(sys.argv[1], "rb").read()
try:
    model_from_weights(get_benchmark("digits-mlp"), answer)
except InvalidWeights:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_a_hostile_answer_costs_the_parent_no_more_memory_than_an_honest_one(tmp_path, expected):
    """The issue's 262 kB archive that torch.load inflated to 6 x 256 MiB, and an index that claims as much."""

    def peak_kib(answer: bytes) -> int:
        path = tmp_path / "answer"
        path.write_bytes(answer)
        return int(subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, check=True).stdout)

    honest = peak_kib(answer_bytes(expected))
    for attack in ("a zip bomb", "shapes beyond the answer"):
        assert peak_kib(HOSTILE[attack][0](expected)) - honest < 100 << 10, attack
