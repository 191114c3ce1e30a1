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


def checked_state(returned: dict, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The returned state cast to the expected dtypes, or InvalidWeights saying what is wrong.

    Half-precision weights are accepted and cast to float32, as the
    competition accepted an fp16 model from a top entry.
    """
    if not isinstance(returned, dict) or not all(isinstance(v, torch.Tensor) for v in returned.values()):
        raise InvalidWeights("the returned model's state_dict does not hold tensors only")
    missing = expected.keys() - returned.keys()
    extra = returned.keys() - expected.keys()
    if missing or extra:
        parts = ([f"missing keys: {_names(missing)}"] if missing else []) + ([f"unexpected keys: {_names(extra)}"] if extra else [])
        raise InvalidWeights("the returned model is not the benchmark's architecture (" + "; ".join(parts) + ")")
    checked = {}
    for name, reference in expected.items():
        tensor = returned[name]
        if tensor.shape != reference.shape:
            raise InvalidWeights(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(reference.shape)}")
        if reference.is_floating_point() and not tensor.is_floating_point():
            raise InvalidWeights(f"{name} has dtype {tensor.dtype}, expected a floating point type")
        tensor = tensor.to(reference.dtype)
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
    model.load_state_dict(checked_state(returned, model.state_dict()))
    return model.eval()
