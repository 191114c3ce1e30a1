"""The sandbox worker: the only process that imports participant code.

Started by `harness.sandbox` as `python -m harness.worker` (inside the
namespaces of `harness.isolation` where possible). It reads one setup message
(the submission's source, the original weights, retain, forget and validation
data: never the test set or the references), limits its own address space,
runs the submission's source, then serves run requests one after another:
each run gets a fresh copy of the original model and loaders seeded for that
run, and answers with the returned weights.

The protocol runs over private duplicates of stdin and stdout; the
participant's prints go to stderr, which the harness keeps as a log.
"""

from dataclasses import dataclass
import os
import pickle
import random
import resource
import sys
from types import ModuleType
from typing import Callable

import numpy as np
import torch
from torch import nn

from harness import kit, protocol, tracebacks
from harness.failures import EXCEPTION, INVALID_OUTPUT
from reference_models.architectures import build_model
from reference_models.tensors import LabelledTensors
from reference_models.files import load_state_dict_bytes, state_dict_bytes
from reference_models.loaders import make_loader
from reference_models.spec import BenchmarkSpec

_NOTED: set[str] = set()  # notes already written to the log by this worker


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker may know: sent once, by the trusted parent."""

    submission: str  # the file's path, for tracebacks; its folder may be hidden
    source: str
    spec: BenchmarkSpec
    original_weights: bytes
    retain: LabelledTensors
    forget: LabelledTensors
    validation: LabelledTensors
    threads: int = 1
    memory_bytes: int = 8 << 30  # on the CPU only: CUDA maps more address space than any sensible cap
    device: str = "cpu"  # the net is handed over on it; batches stay on the CPU, as in the competition


def load_submission(path: str, source: str) -> Callable:
    """Run the submission's source as module `submission`; its `unlearning`, signature checked."""
    module = ModuleType("submission")
    module.__file__ = path
    sys.modules["submission"] = module
    tracebacks.register_source(path, source)
    exec(compile(source, path, "exec"), module.__dict__)
    unlearning = getattr(module, "unlearning", None)
    if not callable(unlearning):
        raise AttributeError(f"{path} defines no function unlearning(net, retain, forget, validation)")
    problem = tracebacks.arity_problem(unlearning, path)
    if problem:
        raise TypeError(problem)
    return unlearning


def _limit_memory(extra_bytes: int) -> None:
    """Cap the address space at what the worker maps now (torch alone maps ~3 GiB) plus `extra_bytes`."""
    with open("/proc/self/status") as status:
        mapped_kib = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = mapped_kib * 1024 + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_once(setup: WorkerSetup, unlearning: Callable, seed: int, run_id: int | None = None) -> tuple[dict, bytes]:
    """One unlearning run: (answer header, weights payload)."""
    _seed_everything(seed)
    net = build_model(setup.spec)
    net.load_state_dict(load_state_dict_bytes(setup.original_weights))
    net.to(setup.device)
    batch = setup.spec.loader_batch_size
    fresh = [data.clone() for data in (setup.retain, setup.forget, setup.validation)]
    loaders = [make_loader(data, batch, shuffle=True, seed=seed + i) for i, data in enumerate(fresh)]  # a run may mutate its data
    try:
        result = unlearning(net, *loaders)
    except (Exception, SystemExit) as error:
        print(tracebacks.full_traceback(error, f"run {run_id}"), file=sys.stderr, flush=True)
        return {"class": EXCEPTION, "message": "unlearning raised:\n" + tracebacks.participant_traceback(error, setup.submission)}, b""
    if result is None:  # Kaggle's driver saved the net it passed in and ignored what unlearning returned
        if "none" not in _NOTED:
            print("[harness: unlearning returned None; the net it was given is taken as the unlearned model, as on Kaggle]", file=sys.stderr, flush=True)
            _NOTED.add("none")
        result = net
    if not isinstance(result, nn.Module):
        return {"class": INVALID_OUTPUT, "message": f"unlearning returned {type(result).__name__}, not a torch.nn.Module"}, b""
    try:
        state = {name: tensor.detach().cpu() for name, tensor in result.state_dict().items()}
        weights = state_dict_bytes(state)
    except Exception as error:
        return {"class": INVALID_OUTPUT, "message": f"the returned model's weights cannot be saved: {error}"}, b""
    return {"class": "ok", "message": ""}, weights


def main() -> None:
    channel_in = os.fdopen(os.dup(0), "rb", buffering=0)
    channel_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)

    _, payload = protocol.receive(channel_in.fileno())
    setup: WorkerSetup = pickle.loads(payload)
    torch.set_num_threads(setup.threads)
    if setup.device == "cpu":
        _limit_memory(setup.memory_bytes)
    kit.use_benchmark(setup.spec)
    try:
        unlearning = load_submission(setup.submission, setup.source)
    except BaseException as error:
        print(tracebacks.full_traceback(error, "import"), file=sys.stderr, flush=True)
        protocol.send(channel_out, {"type": "setup-failed", "message": tracebacks.participant_traceback(error, setup.submission)})
        return
    protocol.send(channel_out, {"type": "ready"})
    while True:
        try:
            request, _ = protocol.receive(channel_in.fileno())
        except protocol.ChannelClosed:
            return
        answer, weights = run_once(setup, unlearning, request["seed"], request["run_id"])
        sys.stdout.flush()
        protocol.send(channel_out, {"type": "result", "run_id": request["run_id"], **answer}, weights)


if __name__ == "__main__":
    main()
