"""The parent's checks on returned weights."""

import pytest
import torch

from harness.benchmarks import get_benchmark
from harness.sandbox.weights import InvalidWeights, checked_state, model_from_weights
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


def test_round_trip_through_bytes(expected):
    model = model_from_weights(get_benchmark("digits-mlp"), state_dict_bytes(expected))
    assert not model.training
