"""The sandbox worker: a zygote that forks one fresh process per run.

Started by `harness.sandbox.parent` inside the sandbox of
`harness.sandbox.isolation`, as process 1 of its pid namespace. It reads one
setup message (the submission's source, the original weights, retain, forget
and validation data: never the test set, the references or their seeds),
imports torch and those of the competition's common packages that the
submission imports, and then serves run requests.

Each run is a child forked from this process, which has never imported the
submission: the child imports it, runs `unlearning` on a fresh copy of the
original model with loaders seeded for that run, and writes its answer on a
pipe. When the answer is in (or the run's time is up), every other process
of the sandbox is killed and reaped, so the run's CPU time is that of its
whole process tree (import, threads, children that outlived the call), and
the scratch folders and IPC objects are wiped, so that no state carries
over to the next run; a worker whose folders are not back as it found them
answers so and exits, and the harness starts a new one for the next run.
As process 1 that ignores SIGINT the worker is immune to the signals of the
processes it starts, and it is not dumpable, so they cannot trace it.

The protocol to the parent runs over private duplicates of stdin and
stdout; what the submission prints goes to stderr, which the harness keeps
as submission.log.
"""

import ast
from collections.abc import Callable
import ctypes
import importlib
import os
from pathlib import Path
import pickle
import random
import resource
import signal
import sys
import time
import traceback
from types import ModuleType
from typing import BinaryIO

import numpy as np
import torch
from torch import nn

from harness import kit
from harness.running.failures import EXCEPTION, IMPORT_ERROR, INVALID_OUTPUT, WORKER_CRASH, describe_exit, inert
from harness.sandbox import protocol, tracebacks
from harness.sandbox.limits import limit_run
from harness.sandbox.log_lines import MARKER
from harness.sandbox.protocol import WorkerSetup
from harness.sandbox.scratch import Scratch, wipe_all, writable_folders
from harness.sandbox.weights import InvalidWeights, answer_bytes, checkpoint_state
from reference_models.architectures import build_model
from reference_models.files import load_state_dict_bytes
from reference_models.loaders import make_loader

# The packages the competition's image had besides torch: those a submission imports are imported once by the
# worker, so that no run pays for them. torchvision among them (every Kaggle notebook imports it for resnet18):
# its import makes no CUDA call, so a forked run can still initialise the GPU (tests/test_time_budget.py).
_COMMON_PACKAGES = frozenset({"numpy", "pandas", "scipy", "sklearn", "matplotlib", "tqdm", "PIL", "requests", "torchvision"})
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_RETURNED_NONE = "[harness: unlearning returned None; the net it was given is taken as the unlearned model, as on Kaggle]"
_notes_given: set[str] = set()  # notes this worker has written to the log, each once


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


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _weights_of(result: nn.Module) -> bytes:
    """The returned model's tensors as the parent reads them (harness.sandbox.weights), each tensor's own bytes
    only, whatever storage it views."""
    return answer_bytes(result.state_dict())


def load_once(checkpoint: bytes) -> tuple[dict, bytes]:
    """One run of a checkpoints worker: the checkpoint the request carried, unpickled here, in the run's
    own process in the sandbox (weights_only), and answered as a run's returned weights."""
    try:
        return {"class": "ok", "message": ""}, answer_bytes(checkpoint_state(checkpoint))
    except InvalidWeights as error:
        return {"class": INVALID_OUTPUT, "message": f"the checkpoint cannot be loaded: {error}"}, b""


def run_once(setup: WorkerSetup, seed: int, original: int, started: float) -> tuple[dict, bytes]:
    """One unlearning run of original `original` (0 but in a study of originals), from the submission's import to its
    weights: (answer header, payload).

    A run that returns None is answered with the net it was given, as Kaggle's
    driver saved that net and ignored the return value; the header says so.
    The header of a run that ends ok also says what its start and the
    submission's import cost (this process's CPU time, and the wall time since
    `started`, the fork), so that a participant sees the import's share.
    """
    try:
        unlearning = load_submission(setup.submission, setup.source)
        imported = {"import_cpu_seconds": time.process_time(), "import_wall_seconds": time.monotonic() - started}
    except BaseException as error:
        print(tracebacks.full_traceback(error, "import"), file=sys.stderr, flush=True)
        return {"class": IMPORT_ERROR, "message": "the submission could not be imported:\n" + tracebacks.participant_traceback(error, setup.submission)}, b""
    _seed_everything(seed)
    net = build_model(setup.spec)
    net.load_state_dict(load_state_dict_bytes(setup.original_weights[original]))
    net.to(setup.device)
    batch = setup.spec.loader_batch_size
    data = (setup.retain, setup.forget, setup.validation)
    loaders = [make_loader(part, batch, shuffle=True, seed=seed + i) for i, part in enumerate(data)]
    try:
        result = unlearning(net, *loaders)
    except (Exception, SystemExit) as error:
        print(tracebacks.full_traceback(error, "unlearning"), file=sys.stderr, flush=True)
        return {"class": EXCEPTION, "message": "unlearning raised:\n" + tracebacks.participant_traceback(error, setup.submission)}, b""
    returned_none = result is None
    if returned_none:
        result = net
    if not isinstance(result, nn.Module):
        return {"class": INVALID_OUTPUT, "message": f"unlearning returned {type(result).__name__}, not a torch.nn.Module"}, b""
    try:
        weights = _weights_of(result)
    except Exception as error:
        return {"class": INVALID_OUTPUT, "message": f"the returned model's weights cannot be saved: {error}"}, b""
    return {"class": "ok", "message": "", "returned_none": returned_none, **imported}, weights


def _child(setup: WorkerSetup, seed: int, original: int, checkpoint: bytes, answer: int, started: float) -> None:
    """The run's own process: limits first, then the run, then its answer on the pipe."""
    print(MARKER.decode(), file=sys.stderr, flush=True)  # marks the run's part of submission.log; the parent adds its id
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the worker ignores it; the run's Python is as usual
    ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)  # its own /proc files back to its user (the worker stays closed)
    limit_run(setup.memory_bytes if setup.device == "cpu" else None)
    with open("/proc/self/oom_score_adj", "w") as adj:  # under memory pressure, a run dies before its worker
        adj.write("1000")
    header, weights = load_once(checkpoint) if setup.checkpoints else run_once(setup, seed, original, started)
    header["message"] = inert(header["message"])  # a megabyte-long exception would not fit the answer's header
    sys.stdout.flush()
    sys.stderr.flush()
    with os.fdopen(answer, "wb") as pipe:
        protocol.send(pipe, header, weights)


def _children() -> list[int]:
    """This process's children, from /proc (as a subreaper, orphaned descendants are among them)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:  # the field after the command, which may hold spaces
            found.append(int(entry.name))
    return found


def _end_every_other_process() -> dict[int, int]:
    """Kill every process the runs left, and reap them all: their wait statuses by pid.

    As process 1 of the sandbox's namespace, one kill(-1) reaches them all at
    once; run as a plain process (no sandbox), the worker is a subreaper and
    kills its children until none is left.
    """
    statuses: dict[int, int] = {}
    while True:
        for pid in [-1] if os.getpid() == 1 else _children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # gone already (or, for -1, none left)
                pass
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return statuses
        statuses[pid] = status


def _cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def serve_run(setup: WorkerSetup, seed: int, original: int, checkpoint: bytes, timeout_s: float, close_in_child: tuple[int, ...],
              scratch: list[Scratch]) -> tuple[dict, bytes]:
    """Fork the run, collect its answer, end its processes and measure them, wipe what it wrote: (answer
    header, payload). The header says whether the wipe left every writable folder as found (`scratch_clean`).
    `checkpoint`: the bytes a checkpoints worker's run loads (empty for a run of code)."""
    read_end, write_end = os.pipe()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            for fd in close_in_child:
                os.close(fd)
            _child(setup, seed, original, checkpoint, write_end, start)
        except BaseException:  # the harness's own code failed in the run's process: the log says how
            traceback.print_exc()
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        header, payload = protocol.receive(read_end, start + timeout_s, max_payload=setup.max_answer_bytes)
        if header.get("class") not in ("ok", IMPORT_ERROR, EXCEPTION, INVALID_OUTPUT):
            header, payload = {"class": WORKER_CRASH, "message": "the run's answer was out of protocol"}, b""
    except protocol.ChannelTimeout:
        header, payload = {"class": "timeout", "message": f"no answer within {timeout_s:.1f} s"}, b""
    except protocol.ChannelClosed as error:
        header, payload = {"class": WORKER_CRASH, "message": f"the run's answer was malformed: {error}" if str(error) else ""}, b""
    wall = time.monotonic() - start
    if header.pop("returned_none", False) is True and _RETURNED_NONE not in _notes_given:
        print(_RETURNED_NONE, file=sys.stderr, flush=True)
        _notes_given.add(_RETURNED_NONE)
    os.close(read_end)
    statuses = _end_every_other_process()
    if header["class"] == WORKER_CRASH and not header["message"]:
        header["message"] = f"the run's process died without answering: {describe_exit(_exit_code(statuses.get(pid)))}"
    cpu = _cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu_seconds(before)
    clean = wipe_all(scratch)
    if not clean:  # before the answer, after which the parent ends this worker
        print("[harness: the run left what the wipe could not remove; the next run gets a new worker]", file=sys.stderr, flush=True)
    return {**header, "cpu_seconds": cpu, "wall_seconds": wall, "scratch_clean": clean}, payload


def _exit_code(status: int | None) -> int | None:
    if status is None:
        return None
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def imported_modules(source: str) -> set[str]:
    """Every absolute module name the source imports, anywhere in it (`from a import b` gives
    `a` and `a.b`, which may be a module); none where it does not parse, nor where the parser
    gives up (an expression nested thousands deep): the import reports that, in its run."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _preload(source: str) -> None:
    """Import, before any run forks, the modules of the common packages that the submission imports.

    Only those: importing all of them would add seconds to every worker's
    start for the submissions that use none. Names that are not modules
    (`from sklearn import clone`) are skipped, as are any that fail.
    """
    for name in sorted(imported_modules(source)):
        if name.split(".")[0] in _COMMON_PACKAGES:
            try:
                importlib.import_module(name)
            except Exception:
                pass


def _warm_up(setup: WorkerSetup) -> None:
    """One training step of the benchmark's model through the participants' loader, done once here.

    Torch pays seconds of one-time set-up on its first optimiser step in a
    process; every run forks from this process, so none pays it again and no
    run is charged for the harness's start-up. Nothing here may touch CUDA:
    a forked process cannot use it once its parent has.
    """
    net = build_model(setup.spec)
    net.load_state_dict(load_state_dict_bytes(setup.original_weights[0]))
    batch = next(iter(make_loader(setup.retain, setup.spec.loader_batch_size, shuffle=True, seed=0)))
    inputs, labels = batch[0], batch[1]
    optimiser = torch.optim.SGD(net.parameters(), lr=0.0)  # not Adam: it asks torch.cuda.is_available(), after which no fork may use CUDA
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=1)
    optimiser.zero_grad()
    nn.functional.cross_entropy(net(inputs), labels).backward()
    optimiser.step()
    schedule.step()
    with torch.no_grad():
        net.eval()(inputs)
    _weights_of(net)


def _channels() -> tuple[BinaryIO, BinaryIO]:
    """Private duplicates of stdin and stdout for the protocol; stdout then goes to the log."""
    channel_in = os.fdopen(os.dup(0), "rb", buffering=0)
    channel_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    return channel_in, channel_out


def main() -> None:
    channel_in, channel_out = _channels()
    libc = ctypes.CDLL(None)
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # runs, which share its user, cannot trace it or read its memory
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # what a run leaves behind is ours to kill and to count
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as process 1, a signal it ignores never arrives: a run's SIGINT cannot stop it
    scratch = writable_folders()  # before anything else writes there
    _, payload = protocol.receive(channel_in.fileno())
    setup: WorkerSetup = pickle.loads(payload)  # from the trusted parent, before any participant code exists
    torch.set_num_threads(setup.threads)
    kit.use_benchmark(setup.spec)
    _preload(setup.source)
    _warm_up(setup)
    protocol.send(channel_out, {"type": "ready"})
    private = (channel_in.fileno(), channel_out.fileno())
    while True:
        try:
            request, checkpoint = protocol.receive(channel_in.fileno())
        except protocol.ChannelClosed:
            return
        answer, weights = serve_run(setup, request["seed"], request["original"], checkpoint, request["timeout_s"], private, scratch)
        protocol.send(channel_out, {**answer, "type": "result", "seed": request["seed"]}, weights)  # the run's own keys never override these
        if not answer["scratch_clean"]:
            return  # fail closed: no run starts in a space an earlier one could keep something in


if __name__ == "__main__":
    main()
