"""The parent's side of the sandbox: start a worker, send it runs, enforce the timeout.

One worker process serves many runs, because starting one costs seconds of
imports. A run that overruns its hard timeout, or a worker that dies, costs
that worker: it is killed with everything it started, and the next run
starts a new one. What the submission prints is kept in a log, up to a cap.
"""

from dataclasses import dataclass
import os
import pickle
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import BinaryIO

from harness import failures, protocol
from harness.isolation import worker_command
from harness.worker import WorkerSetup

_SETUP_TIMEOUT_S = 300.0
_LOG_CAP_BYTES = 10 << 20
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
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
    """The submission could not be imported; every run would fail the same way."""


@dataclass(frozen=True)
class RunOutcome:
    failure_class: str | None  # None when the run succeeded
    message: str
    seconds: float | None
    weights: bytes


class CappedLog:
    """Copies a worker's output into the submission log, up to a shared cap."""

    def __init__(self, log: BinaryIO):
        self.log = log
        self.lock = threading.Lock()
        self.written = 0

    def drain(self, stream: BinaryIO) -> None:
        for chunk in iter(lambda: stream.read1(1 << 16), b""):
            with self.lock:
                room = _LOG_CAP_BYTES - self.written
                if room > 0:
                    self.log.write(chunk[:room])
                if len(chunk) > room >= 0:  # this chunk crosses the cap: say so, once
                    self.log.write(f"\n[harness: log capped at {_LOG_CAP_BYTES >> 20} MiB]\n".encode())
                self.log.flush()
                self.written += len(chunk)


def _visible_gpus(device: str) -> dict[str, str]:
    """On the CPU the worker sees no GPU at all, so a submission that picks its own
    device (`cuda if torch.cuda.is_available()`, as the kit does) stays on the CPU too."""
    if device == "cpu":
        return {"CUDA_VISIBLE_DEVICES": ""}
    return {name: os.environ[name] for name in ("CUDA_VISIBLE_DEVICES",) if name in os.environ}


class SandboxWorker:
    """One worker process running one submission, run after run."""

    def __init__(self, setup: WorkerSetup, log: CappedLog, hidden: list[Path]):
        self._workdir = tempfile.TemporaryDirectory(prefix="unlearning-run-")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(_PROJECT_ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": str(setup.threads),
            "MKL_NUM_THREADS": str(setup.threads),
            "HOME": self._workdir.name,
            **_visible_gpus(setup.device),
        }
        self._process = subprocess.Popen(
            worker_command(Path(self._workdir.name), hidden),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self._workdir.name,
            env=env,
            start_new_session=True,
        )
        with _LIVE_LOCK:
            _LIVE_GROUPS.add(self._process.pid)
        self._drain = threading.Thread(target=log.drain, args=(self._process.stderr,), daemon=True)
        self._drain.start()
        try:
            protocol.send(self._process.stdin, {"type": "setup"}, pickle.dumps(setup))
            header, _ = protocol.receive(self._process.stdout.fileno(), time.monotonic() + _SETUP_TIMEOUT_S)
        except (protocol.ChannelClosed, protocol.ChannelTimeout, BrokenPipeError):
            code = self.close(grace_s=5.0)
            raise SetupFailed(f"the worker died while importing the submission: {failures.describe_exit(code)}") from None
        if header.get("type") != "ready":
            self.close()
            raise SetupFailed(str(header.get("message", "the submission could not be set up")))

    def run(self, run_id: int, seed: int, timeout_s: float) -> RunOutcome:
        """Ask for one run; on timeout or a dead worker this worker is closed.

        The run's seconds are measured here, from request to answer: the
        worker runs the submission, which could tamper with its clocks.
        """
        start = time.monotonic()
        try:
            protocol.send(self._process.stdin, {"type": "run", "run_id": run_id, "seed": seed})
            header, payload = protocol.receive(self._process.stdout.fileno(), start + timeout_s)
        except protocol.ChannelTimeout:
            self.close()
            what = f"exceeded the hard timeout of {timeout_s:.1f} s and was stopped"
            return RunOutcome(failures.TIMEOUT, failures.message(failures.TIMEOUT, run_id, what), None, b"")
        except (protocol.ChannelClosed, BrokenPipeError):
            what = f"the worker process died without answering: {failures.describe_exit(self.close(grace_s=5.0))}"
            return RunOutcome(failures.WORKER_CRASH, failures.message(failures.WORKER_CRASH, run_id, what), None, b"")
        answer = header.get("class")
        if header.get("type") != "result" or header.get("run_id") != run_id or answer not in ("ok", failures.EXCEPTION, failures.INVALID_OUTPUT):
            self.close()
            what = "the worker answered out of protocol (did the submission write to the harness's channel?)"
            return RunOutcome(failures.WORKER_CRASH, failures.message(failures.WORKER_CRASH, run_id, what), None, b"")
        seconds = time.monotonic() - start
        if answer == "ok":
            return RunOutcome(None, "", seconds, payload)
        return RunOutcome(answer, failures.message(answer, run_id, str(header.get("message", ""))), seconds, b"")

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self, grace_s: float = 0.0) -> int | None:
        """Kill the worker's whole process group and clean its directory; its exit code.

        A worker that is already dying gets `grace_s` to exit by itself, so
        that its own exit code, not our kill, says what happened.
        """
        try:
            self._process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self._process.pid, signal.SIGKILL)  # children the submission started too
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
        self._workdir.cleanup()
        return code
