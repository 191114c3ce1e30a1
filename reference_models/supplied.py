"""An original model supplied as a checkpoint, as the NeurIPS 2023 organisers handed out theirs, instead of
trained here: read without running pickled code, and checked against the competition's model."""

import hashlib
from pathlib import Path
import pickle

import torch

from reference_models.architectures import build_model
from reference_models.errors import InputError
from reference_models.spec import BenchmarkSpec


def checkpoint_digest(path: Path) -> str:
    """A short sha256 of the checkpoint's bytes: the content key follows the weights, not where they lie."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def load_original(spec: BenchmarkSpec) -> dict[str, torch.Tensor]:
    """The supplied original's state dict, every key and shape the spec's model has; ValueError naming the
    file and the first key that does not fit."""
    path = Path(spec.original_file)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as error:
        raise InputError(f"model.original {path}: not a checkpoint torch.load can read with weights_only: {error}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training script's checkpoint around the weights
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise InputError(f"model.original {path}: holds a {type(state).__name__}, not a state dict (names to tensors); save model.state_dict()")
    expected = build_model(spec).state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        first = f"lacks the key {missing[0]!r}" if missing else f"has the key {unexpected[0]!r}"
        raise InputError(f"model.original {path}: its keys do not fit {spec.architecture}: it {first} "
                         f"({len(missing)} missing, {len(unexpected)} unexpected); save the state dict of the model the file declares")
    for name, tensor in expected.items():
        if state[name].shape != tensor.shape:
            raise InputError(f"model.original {path}: the key {name!r} has shape {list(state[name].shape)}, "
                             f"and {spec.architecture} has {list(tensor.shape)} for {spec.num_classes or 'its'} classes")
    return {name: state[name].to(tensor.dtype) for name, tensor in expected.items()}
