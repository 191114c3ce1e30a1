"""Checks on the weights a submission hands back, before the parent trusts them."""

import torch
from torch import nn

from reference_models.architectures import build_model
from reference_models.files import load_state_dict_bytes
from reference_models.spec import BenchmarkSpec


class InvalidWeights(ValueError):
    """The returned weights cannot stand for a model of the benchmark's architecture."""


def _names(keys) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:5])
    return shown + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _plain(name: str, tensor: torch.Tensor, reference: torch.Tensor) -> None:
    """Only dense CPU tensors of the float types (or the reference's own integer type) are read further:
    sparse, meta, quantized or exotic tensors would make the parent's own code fail."""
    if tensor.layout != torch.strided or tensor.device.type != "cpu" or tensor.is_quantized:
        raise InvalidWeights(f"{name} is a {tensor.layout} tensor on {tensor.device}; return dense CPU tensors")
    allowed = FLOAT_DTYPES if reference.is_floating_point() else (reference.dtype,)
    if tensor.dtype not in allowed:
        raise InvalidWeights(f"{name} has dtype {tensor.dtype}, expected one of {', '.join(map(str, allowed))}")


def checked_state(returned: dict, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The returned state cast to the expected dtypes, or InvalidWeights saying what is wrong.

    Half-precision weights are accepted and cast to float32, as the
    competition accepted an fp16 model from a top entry.
    """
    if not isinstance(returned, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in returned.items()):
        raise InvalidWeights("the returned model's state_dict does not hold named tensors only")
    missing = expected.keys() - returned.keys()
    extra = returned.keys() - expected.keys()
    if missing or extra:
        parts = ([f"missing keys: {_names(missing)}"] if missing else []) + ([f"unexpected keys: {_names(extra)}"] if extra else [])
        raise InvalidWeights("the returned model is not the benchmark's architecture (" + "; ".join(parts) + ")")
    checked = {}
    for name, reference in expected.items():
        tensor = returned[name]
        _plain(name, tensor, reference)
        if tensor.shape != reference.shape:
            raise InvalidWeights(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(reference.shape)}")
        tensor = tensor.to(reference.dtype).clone()  # its own storage, whatever the returned one held
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise InvalidWeights(f"{name} contains NaN or Inf")
        checked[name] = tensor
    return checked


def model_from_weights(spec: BenchmarkSpec, weights: bytes) -> nn.Module:
    """A fresh model of the spec's architecture holding the checked returned weights."""
    model = build_model(spec)
    try:
        returned = load_state_dict_bytes(weights)
    except Exception as error:  # any unreadable payload is the submission's fault
        raise InvalidWeights(f"the returned weights could not be read: {error}") from None
    state = checked_state(returned, model.state_dict())
    try:
        model.load_state_dict(state)
    except Exception as error:
        raise InvalidWeights(f"the returned weights could not be loaded: {error}") from None
    return model.eval()
