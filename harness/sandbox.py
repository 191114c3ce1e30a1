"""The parent's side of the sandbox: start a worker, send it runs, enforce the timeout.

One worker process serves many runs, because starting one costs seconds of
imports. A run that overruns its hard timeout, or a worker that dies, costs
that worker: it is killed and the next run starts a new one.
"""

from dataclasses import dataclass
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from harness import protocol
from harness.worker import WorkerSetup

_SETUP_TIMEOUT_S = 300.0
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SetupFailed(Exception):
    """The submission could not be imported; every run would fail the same way."""


@dataclass(frozen=True)
class RunOutcome:
    status: str  # ok, error, invalid, timeout
    message: str
    seconds: float | None
    weights: bytes


class SandboxWorker:
    """One worker process running one submission, run after run."""

    def __init__(self, setup: WorkerSetup, log: BinaryIO):
        self._workdir = tempfile.TemporaryDirectory(prefix="unlearning-run-")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(_PROJECT_ROOT),
            "OMP_NUM_THREADS": str(setup.threads),
            "MKL_NUM_THREADS": str(setup.threads),
            "HOME": self._workdir.name,
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", "harness.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=self._workdir.name,
            env=env,
            start_new_session=True,
        )
        try:
            protocol.send(self._process.stdin, {"type": "setup"}, pickle.dumps(setup))
            header, _ = protocol.receive(self._process.stdout.fileno(), time.monotonic() + _SETUP_TIMEOUT_S)
        except (protocol.ChannelClosed, protocol.ChannelTimeout, BrokenPipeError) as error:
            self.close()
            raise SetupFailed(f"the worker died while importing the submission ({type(error).__name__}); see the log") from None
        if header.get("type") != "ready":
            self.close()
            raise SetupFailed(str(header.get("message", "the submission could not be set up")))

    def run(self, run_id: int, seed: int, timeout_s: float) -> RunOutcome:
        """Ask for one run; on timeout or a dead worker this worker is closed."""
        try:
            protocol.send(self._process.stdin, {"type": "run", "run_id": run_id, "seed": seed})
            header, payload = protocol.receive(self._process.stdout.fileno(), time.monotonic() + timeout_s)
        except protocol.ChannelTimeout:
            self.close()
            return RunOutcome("timeout", f"run {run_id} exceeded the hard timeout of {timeout_s:.1f} s", None, b"")
        except (protocol.ChannelClosed, BrokenPipeError):
            code = self.close()
            return RunOutcome("error", f"run {run_id}: the worker process died (exit code {code})", None, b"")
        if header.get("type") != "result" or header.get("run_id") != run_id:
            self.close()
            return RunOutcome("error", f"run {run_id}: the worker answered out of protocol", None, b"")
        return RunOutcome(
            status=str(header["status"]),
            message=str(header.get("message", "")),
            seconds=float(header["seconds"]),
            weights=payload,
        )

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> int | None:
        """Kill the worker's whole process group and clean its directory; its exit code."""
        try:
            os.killpg(self._process.pid, signal.SIGKILL)  # children the submission forked too
        except ProcessLookupError:
            pass
        code = self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._workdir.cleanup()
        return code
