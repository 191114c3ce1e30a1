"""The parent's side of the sandbox: start a worker, send it runs, read its answers.

One worker serves many runs (starting one costs seconds of imports), but
each run is a fresh process forked by the worker (see
harness.sandbox.worker), timed and measured there from the submission's
import to its answer. The worker enforces each run's timeout; this side
only guards against a worker that stops answering, and replaces a worker
only after it has been recorded as lost. What the submission prints is kept
in a log, up to a cap.
"""

from collections.abc import Callable
from dataclasses import dataclass
import logging
import os
from pathlib import Path
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import BinaryIO

from harness.resources import import_roots
from harness.running import failures
from harness.sandbox import isolation, limits, protocol, seccomp
from harness.sandbox.identity import HostUser
from harness.sandbox.limits import WORKER_MEMORY_BYTES, Cgroup, cgroup_description
from harness.sandbox.log_lines import RunLines
from harness.sandbox.protocol import WorkerSetup
from scoring.document import Isolation

logger = logging.getLogger(__name__)  # `log` names a worker's log here

_SETUP_TIMEOUT_S = 300.0  # the worker's own imports; no participant code runs before its first run
_GUARD_S = 60.0  # beyond a run's timeout: the worker kills the run, wipes and answers well within it
_LOG_CAP_BYTES = 10 << 20
_LIVE_GROUPS: set[int] = set()  # process groups of the workers started and not yet closed
_LIVE_LOCK = threading.Lock()


def kill_live_workers() -> None:
    """Kill every worker still running, with all it started: on Ctrl-C, none may outlive the
    harness. The threads that drove them see a dead worker and close it as usual."""
    with _LIVE_LOCK:
        groups = list(_LIVE_GROUPS)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass


class SetupFailed(Exception):
    """The sandbox worker itself could not start; no run can be served."""


@dataclass(frozen=True)
class RunOutcome:
    failure_class: str | None  # None when the run succeeded
    message: str
    cpu_seconds: float | None  # of the run's whole process tree, import included
    wall_seconds: float | None  # from the fork of the run's process to its answer
    weights: bytes
    import_seconds: float | None = None  # of those charged, what the run's start and the submission's import took, as the run reported it


class CappedLog:
    """Copies workers' output into the submission log, each line marked with its run, up to a shared cap."""

    def __init__(self, log: BinaryIO):
        self.log = log
        self.lock = threading.Lock()
        self.written = 0

    @property
    def capped(self) -> bool:
        """Whether something was dropped at the cap: the console says so."""
        return self.written > _LOG_CAP_BYTES

    @property
    def cap_mib(self) -> int:
        return _LOG_CAP_BYTES >> 20

    def drain(self, stream: BinaryIO, current_run: Callable[[], int | None]) -> None:
        lines = RunLines(self.write, current_run)
        for chunk in iter(lambda: stream.read1(1 << 16), b""):
            lines.feed(chunk)
        lines.end()

    def write(self, chunk: bytes) -> None:
        with self.lock:
            room = _LOG_CAP_BYTES - self.written
            if room > 0:
                self.log.write(chunk[:room])
            if len(chunk) > room >= 0:  # this chunk crosses the cap: say so, once
                self.log.write(f"\n[harness: log capped at {self.cap_mib} MiB]\n".encode())
            self.log.flush()
            self.written += len(chunk)


def _visible_gpus(device: str) -> dict[str, str]:
    """On the CPU the worker sees no GPU at all, so a submission that picks its own
    device (`cuda if torch.cuda.is_available()`, as the kit does) stays on the CPU too."""
    if device == "cpu":
        return {"CUDA_VISIBLE_DEVICES": ""}
    return {name: os.environ[name] for name in ("CUDA_VISIBLE_DEVICES",) if name in os.environ}


def isolation_report(setup: WorkerSetup) -> Isolation:
    """score.json's `isolation`: what held the submission in on this machine."""
    if not setup.sandboxed:
        processes, memory, _ = cgroup_description(None)
        return Isolation("none (--no-sandbox)", (), processes, memory, limits.cpu_by_rusage("no sandbox (--no-sandbox)"),
                                   f"the harness's own user (uid {os.getuid()})", "none")
    cgroup = Cgroup.create(setup.memory_bytes + WORKER_MEMORY_BYTES)
    described = cgroup_description(cgroup)
    if cgroup is not None:
        cgroup.remove()
    user = HostUser.acquire()
    user.release()
    calls = f"refused with EPERM: {', '.join(seccomp.DENIED_CALLS)}"
    return Isolation("bubblewrap", isolation.namespaces(), *described, isolation.identity(user), calls)


class SandboxWorker:
    """One sandboxed worker process serving one submission's runs, one at a time."""

    def __init__(self, setup: WorkerSetup, log: CappedLog, hidden: list[Path]):
        self.setup = setup
        self._workdir = tempfile.TemporaryDirectory(prefix="unlearning-worker-")  # the working directory where no sandbox can be built
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.pathsep.join(map(str, import_roots())),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONSAFEPATH": "1",  # (-P, Python 3.11+) its working directory, the run's home, is not on its import path
            "OMP_NUM_THREADS": str(setup.threads),
            "MKL_NUM_THREADS": str(setup.threads),
            "OPENBLAS_NUM_THREADS": str(setup.threads),  # numpy's own BLAS: its idle threads would spin on the run's CPU time
            "HOME": isolation.HOME if setup.sandboxed else self._workdir.name,
            "USER": "participant",
            "MPLBACKEND": "Agg",
            **_visible_gpus(setup.device),
        }
        command = [sys.executable, "-m", "harness.sandbox.worker"]
        self._cgroup: Cgroup | None = None
        self._user = HostUser(None)
        passed: tuple[int, ...] = ()
        if setup.sandboxed:
            self._cgroup = Cgroup.create(setup.memory_bytes + WORKER_MEMORY_BYTES)
            self._user = HostUser.acquire()
            passed = (isolation.seccomp_pipe(),)
            command = isolation.launch_command(command, hidden, setup.device, passed[0], self._cgroup.procs_files if self._cgroup else [], self._user)
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self._workdir.name,
                env=env,
                start_new_session=True,
                pass_fds=passed,
            )
        finally:
            for fd in passed:
                os.close(fd)
        with _LIVE_LOCK:
            _LIVE_GROUPS.add(self._process.pid)
        logger.debug(f"worker {self._process.pid} started ({'sandboxed' if setup.sandboxed else 'no sandbox'}, {setup.threads} thread(s), "
                     f"device {setup.device})")
        self._run: int | None = None  # the run asked for last: its id marks the worker's output, which never sees it
        self._drain = threading.Thread(target=log.drain, args=(self._process.stderr, lambda: self._run), daemon=True)
        self._drain.start()
        try:
            protocol.send(self._process.stdin, {"type": "setup"}, pickle.dumps(setup))
            header, _ = protocol.receive(self._process.stdout.fileno(), time.monotonic() + _SETUP_TIMEOUT_S)
        except (protocol.ChannelClosed, protocol.ChannelTimeout, BrokenPipeError):
            code = self.close(grace_s=5.0)
            raise SetupFailed(f"the sandbox worker did not start: {failures.describe_exit(code)}; see submission.log") from None
        if header.get("type") != "ready":
            self.close()
            raise SetupFailed("the sandbox worker did not start: it answered out of protocol")

    def run(self, run_id: int, seed: int, timeout_s: float, checkpoint: bytes = b"", original: int = 0) -> RunOutcome:
        """Ask for one run, from original `original` of the setup's (of a checkpoints worker: the load of `checkpoint`).
        A worker lost meanwhile is closed, and the run recorded as its crash."""
        # No run id or count: a run must not tell which it is. The original's index says no more than its weights do.
        request = {"type": "run", "seed": seed, "timeout_s": timeout_s, "original": original}
        self._run = run_id
        cgroup_before = self._cgroup.cpu_seconds() if self._cgroup is not None else None
        try:
            protocol.send(self._process.stdin, request, checkpoint)
            header, payload = protocol.receive(self._process.stdout.fileno(), time.monotonic() + timeout_s + _GUARD_S, self.setup.max_answer_bytes)
        except protocol.ChannelTimeout:
            self.close()
            what = f"exceeded the hard timeout of {timeout_s:.1f} s, and its worker stopped answering"
            return RunOutcome(failures.TIMEOUT, failures.message(failures.TIMEOUT, run_id, what), None, None, b"")
        except (protocol.ChannelClosed, BrokenPipeError) as error:
            code = self.close(grace_s=5.0)
            what = f"the sandbox worker was lost: {error or failures.describe_exit(code)}"
            return RunOutcome(failures.WORKER_CRASH, failures.message(failures.WORKER_CRASH, run_id, what), None, None, b"")
        answer = header.get("class")
        cpu, wall = header.get("cpu_seconds"), header.get("wall_seconds")
        if header.get("type") != "result" or header.get("seed") != seed or not all(isinstance(v, (int, float)) for v in (cpu, wall)):
            self.close()
            what = "the sandbox worker answered out of protocol"
            return RunOutcome(failures.WORKER_CRASH, failures.message(failures.WORKER_CRASH, run_id, what), None, None, b"")
        if cgroup_before is not None:  # the kernel's count, which no run can hide from; the worker's own only where there is none
            cpu = self._cgroup.cpu_seconds() - cgroup_before
        if header.get("scratch_clean") is not True:  # the run left what the worker could not wipe: it counts, and the next run gets a new worker
            self.close()
        if answer == "ok":
            return RunOutcome(None, "", float(cpu), float(wall), payload, self._import_seconds(header, cpu, wall))
        if answer == failures.TIMEOUT:
            what = f"exceeded the hard timeout of {timeout_s:.1f} s and was stopped"
        else:
            what = str(header.get("message", ""))
        failure_class = answer if answer in failures.STATUS else failures.WORKER_CRASH
        return RunOutcome(failure_class, failures.message(failure_class, run_id, what), float(cpu), float(wall), b"")

    def _import_seconds(self, header: dict, cpu: float, wall: float) -> float | None:
        """The import's part of the charged time, in the charged measure: reported by the run's own process,
        which the participant's code shares, so it only informs (no verdict reads it); None where absent or
        out of range."""
        cpu_measured = self.setup.device == "cpu"
        value = header.get("import_cpu_seconds" if cpu_measured else "import_wall_seconds")
        charged = cpu if cpu_measured else wall
        if not isinstance(value, (int, float)) or not 0 <= value <= charged:
            return None
        return float(value)

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self, grace_s: float = 0.0) -> int | None:
        """Kill the worker with everything it started and clean up; its exit code.

        A worker that is already dying gets `grace_s` to exit by itself, so
        that its own exit code, not our kill, says what happened.
        """
        try:
            self._process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self._process.pid, signal.SIGKILL)  # bubblewrap; the sandbox dies with it
        except ProcessLookupError:
            pass
        code = self._process.wait()
        with _LIVE_LOCK:
            _LIVE_GROUPS.discard(self._process.pid)
        self._drain.join(timeout=10)  # everything the worker printed is in the log before we go on
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            try:
                stream.close()
            except OSError:
                pass
        if self._cgroup is not None:
            self._cgroup.remove()
        self._user.release()
        self._workdir.cleanup()
        return code
