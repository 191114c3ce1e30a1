"""The weights a run hands back: how they cross the sandbox, and the parent's checks before it trusts them.

They cross as raw arrays behind a JSON index, not as a torch.save archive:
torch.load inflates deflated zip records and builds as many objects as its
pickle asks for, so a 262 kB archive whose six tensor records shared one
deflated stream of zeros (David Fifield's overlapping-file zip bomb) became
1.5 GiB in the parent (issue 35). Read here, every tensor is a copy of its
own slice of the bytes received, the slices tile the answer exactly, and the
index is capped: whatever the answer, the parent holds at most its bytes
twice (refused from its length beyond `WorkerSetup.max_answer_bytes`) and a
few MiB of index. Every tensor read so is dense and on the CPU, of a dtype
the index names from a short list.
"""

import io
import json
import struct
import warnings

import torch
from torch import nn

from reference_models.architectures import build_model
from reference_models.spec import BenchmarkSpec


class InvalidWeights(ValueError):
    """The returned weights cannot stand for a model of the benchmark's architecture."""


def _names(keys) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:5])
    return shown + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_DTYPES = {str(dtype).removeprefix("torch."): dtype for dtype in (*FLOAT_DTYPES, torch.int64)}  # int64: batch norm's counter
_INDEX_LENGTH = struct.Struct("<Q")
# ResNet-18's index takes 6 kB; json.loads of 256 KiB builds at most about 6 MiB of objects ("[]," is 64 bytes of list)
MAX_INDEX_BYTES = 256 << 10


def answer_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """What a run sends: the length of a JSON index of [name, dtype, shape], the index, then each tensor's
    bytes in the index's order (native byte order: the worker is the parent's own child, on its machine)."""
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in state.items()}
    index = json.dumps([[name, str(tensor.dtype).removeprefix("torch."), list(tensor.shape)] for name, tensor in tensors.items()]).encode()
    return b"".join([_INDEX_LENGTH.pack(len(index)), index, *(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() for tensor in tensors.values())])


def _entry(entry, answer_size: int) -> tuple[str, torch.dtype, list[int], int]:
    """One entry of the index: name, dtype, shape and its size in bytes, never more than the answer's
    (the product stops there, so that no shape of huge dimensions costs time)."""
    if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str) and isinstance(entry[1], str)
            and isinstance(entry[2], list) and all(type(size) is int and size >= 0 for size in entry[2])):
        raise InvalidWeights("its index is not a list of [name, dtype, shape]")
    name, dtype_name, shape = entry
    dtype = _DTYPES.get(dtype_name)
    if dtype is None:
        raise InvalidWeights(f"{name} has dtype {dtype_name[:40]}, expected one of {', '.join(_DTYPES)}")
    nbytes = dtype.itemsize
    for size in shape:
        nbytes *= size
        if nbytes > answer_size:
            raise InvalidWeights(f"{name} of shape {shape[:8]} would take more bytes than the answer holds")
    return name, dtype, shape, nbytes


def answer_tensors(answer: bytes) -> dict[str, torch.Tensor]:
    """The tensors of a run's answer (see `answer_bytes`), or InvalidWeights: each is copied from its own
    slice of the answer, and the slices must tile it, so nothing read here takes more than the answer's size."""
    if len(answer) < _INDEX_LENGTH.size:
        raise InvalidWeights(f"an answer of {len(answer)} bytes holds no index")
    (length,) = _INDEX_LENGTH.unpack_from(answer)
    start = _INDEX_LENGTH.size + length
    if length > MAX_INDEX_BYTES or start > len(answer):
        raise InvalidWeights(f"its index of {length} bytes is longer than {MAX_INDEX_BYTES} or than the answer")
    try:
        index = json.loads(answer[_INDEX_LENGTH.size : start])
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        raise InvalidWeights("its index is not JSON") from None
    if not isinstance(index, list):
        raise InvalidWeights("its index is not a list of [name, dtype, shape]")
    with warnings.catch_warnings():  # only read: each tensor is a copy of its slice
        warnings.simplefilter("ignore")
        raw = torch.frombuffer(answer, dtype=torch.uint8)
    tensors = {}
    for entry in index:
        name, dtype, shape, nbytes = _entry(entry, len(answer))
        if name in tensors:
            raise InvalidWeights(f"{name} is in its index twice")
        if start + nbytes > len(answer):
            raise InvalidWeights(f"its index names more bytes than the {len(answer)} it holds")
        tensors[name] = raw[start : start + nbytes].clone().view(dtype).reshape(shape)
        start += nbytes
    if start != len(answer):
        raise InvalidWeights(f"{len(answer) - start} of its bytes belong to no tensor of its index")
    return tensors


def _check_dtype(name: str, tensor: torch.Tensor, reference: torch.Tensor) -> None:
    """Float weights of any float type, but integer buffers (batch norm's counter) of their own type only."""
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
        _check_dtype(name, tensor, reference)
        if tensor.shape != reference.shape:
            raise InvalidWeights(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(reference.shape)}")
        tensor = tensor.to(reference.dtype)  # no copy needed: answer_tensors gave each tensor its own storage
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise InvalidWeights(f"{name} contains NaN or Inf")
        checked[name] = tensor
    return checked


def model_from_weights(spec: BenchmarkSpec, weights: bytes) -> nn.Module:
    """A fresh model of the spec's architecture holding the checked returned weights (a run's answer, `answer_bytes`)."""
    model = build_model(spec)
    try:
        returned = answer_tensors(weights)
    except Exception as error:  # any unreadable payload is the submission's fault
        raise InvalidWeights(f"the returned weights could not be read: {error}") from None
    state = checked_state(returned, model.state_dict())
    try:
        model.load_state_dict(state)
    except Exception as error:
        raise InvalidWeights(f"the returned weights could not be loaded: {error}") from None
    return model.eval()


def checkpoint_state(checkpoint: bytes) -> dict[str, torch.Tensor]:
    """The state dict in a participant's checkpoint file (torch.save of net.state_dict(), as Kaggle's
    notebook wrote each run's), for a sandbox worker to hand back as a run's answer (answer_bytes).

    torch.load's weights_only unpickler builds tensors and plain containers only, so a pickle that
    would run code is refused, not run; the worker's memory cap bounds one that inflates. The parent
    then checks the answer as any run's (model_from_weights). InvalidWeights says what is wrong.
    """
    try:
        state = torch.load(io.BytesIO(checkpoint), map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable checkpoint is the participant's
        raise InvalidWeights(f"it is not a checkpoint torch.load reads with weights_only=True: {error}") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise InvalidWeights(f"it holds a {type(state).__name__}, not a state_dict of named tensors: save net.state_dict()")
    return dict(state)
