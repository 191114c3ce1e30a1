"""Limits on what a sandboxed submission may consume, and the measure of its CPU time.

Two layers, whichever the machine allows:

- A cgroup per worker (when the harness may create one: as root, or in a
  delegated cgroup v2 subtree) caps the whole sandbox: its number of
  processes (`pids`) and its total memory, shared memory, tmpfs pages and
  children included (`memory`). Its CPU accounting (`cpu.stat` on v2,
  `cpuacct` on v1) is the kernel's count of every process in it however it
  ends: a run cannot hide CPU time from it, as it can from getrusage (which
  counts only children that were waited for; one that sets SIGCHLD to
  SIG_IGN has its children reaped unseen).
- Per-process resource limits, set by each run's process before it imports
  the submission: address space (`--memory-gb` on top of what the worker has
  mapped), number of processes (which Linux enforces for every user but
  root), no core files, no POSIX message queues.

score.json's `isolation` says which layer held each limit.

A worker's cgroups are removed when it closes. Those of a harness that died
first are removed by the next harness that makes one, if empty.
"""

from dataclasses import dataclass
import errno
import functools
import os
from pathlib import Path
import re
import resource
import signal
import time
import uuid

MAX_PROCESSES = 64  # processes a run may have at once, the worker included
WORKER_MEMORY_BYTES = 2 << 30  # what the worker itself holds: torch, the common packages, the data
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_V1_CONTROLLERS = ("pids", "memory", "cpuacct")  # the hierarchies of cgroup v1 a worker's cgroups are made in
_NAME = re.compile(r"unlearning-([1-9]\d{0,6})-[0-9a-f]{8}")  # unlearning-<pid of the harness that made it>-<random>
_REMOVE_WAIT_S = 10.0  # how long a closed worker's processes may take to go (a large memory to free) before its cgroup is left


@dataclass(frozen=True)
class Cgroup:
    """The cgroup folders of one worker, and the files its processes join."""

    folders: tuple[Path, ...]

    @classmethod
    def create(cls, memory_bytes: int) -> "Cgroup | None":
        """A cgroup capping processes and total memory, or None where this process may not make one."""
        _remove_stale_once()
        name = f"unlearning-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        if (_CGROUP_ROOT / "cgroup.controllers").exists():
            limits = {_CGROUP_ROOT / name: {"pids.max": MAX_PROCESSES, "memory.max": memory_bytes, "memory.swap.max": 0}}
        else:
            pids, memory, cpuacct = _V1_CONTROLLERS
            limits = {
                _CGROUP_ROOT / pids / name: {"pids.max": MAX_PROCESSES},
                _CGROUP_ROOT / memory / name: {"memory.limit_in_bytes": memory_bytes},
                _CGROUP_ROOT / cpuacct / name: {},
            }
        made: list[Path] = []
        try:
            for folder, settings in limits.items():
                folder.mkdir()
                made.append(folder)
                for setting, value in settings.items():
                    (folder / setting).write_text(str(value))
        except OSError:
            Cgroup(tuple(made)).remove()
            return None
        return cls(tuple(made))

    @property
    def procs_files(self) -> list[Path]:
        """The files the sandbox's launcher writes its pid into, so that every process of the sandbox is born inside."""
        return [folder / "cgroup.procs" for folder in self.folders]

    def cpu_seconds(self) -> float:
        """CPU time of every process that has been in the cgroup, ended or not, reaped or not."""
        for folder in self.folders:
            if (folder / "cpuacct.usage").exists():
                return int((folder / "cpuacct.usage").read_text()) / 1e9
            if (folder / "cpu.stat").exists():
                usage = next(line for line in (folder / "cpu.stat").read_text().splitlines() if line.startswith("usage_usec "))
                return int(usage.split()[1]) / 1e6
        raise OSError("the cgroup has no CPU accounting")

    def remove(self) -> None:
        """Remove the folders once their processes are gone. They die with the worker, but may take a while
        (memory to free), and one that outlived it is killed here; a folder still busy after _REMOVE_WAIT_S
        is left, to the next harness's sweep (`remove_stale`)."""
        deadline = time.monotonic() + _REMOVE_WAIT_S
        for folder in self.folders:
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as error:  # EBUSY: processes still in it; anything else will not pass by waiting
                    if error.errno != errno.EBUSY or time.monotonic() > deadline:
                        break
                    _kill_members(folder)
                    time.sleep(0.02)


def _kill_members(folder: Path) -> None:
    """SIGKILL every process still in a cgroup: only a closed worker's sandbox ever joins one."""
    try:
        pids = (folder / "cgroup.procs").read_text().split()
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def remove_stale(root: Path = _CGROUP_ROOT) -> list[Path]:
    """Remove the empty cgroups that a harness which died before closing its workers left (one named after
    a process that is gone), and return them. A live harness's own are kept, even empty (it may be about to
    start a worker in one), and one that still holds processes cannot be removed (EBUSY): it is left."""
    removed = []
    for parent in (root, *(root / controller for controller in _V1_CONTROLLERS)):
        for folder in parent.glob("unlearning-*"):
            match = _NAME.fullmatch(folder.name)
            if match is None or Path(f"/proc/{match[1]}").exists():
                continue
            try:
                folder.rmdir()
            except OSError:
                continue
            removed.append(folder)
    return removed


@functools.cache
def _remove_stale_once() -> None:
    """The sweep, once per process: at the first cgroup it makes."""
    remove_stale()


CPU_BY_CGROUP = "cgroup: the kernel's CPU time of the run and all its descendants, however they end"


def cpu_by_rusage(why: str) -> str:
    """score.json's `cpu` where the worker's getrusage is all there is, and why."""
    return f"unverified: getrusage of the run's waited-for children, which a run can evade (children reaped unseen); {why}"


def cgroup_description(cgroup: Cgroup | None) -> tuple[str, str, str]:
    """(processes, memory, cpu): how each is limited or measured, in words for score.json."""
    if cgroup is not None:
        return (f"cgroup: at most {MAX_PROCESSES} processes", "cgroup: total memory of the sandbox, shared memory, tmpfs and children included",
                CPU_BY_CGROUP)
    cpu = cpu_by_rusage("no cgroup could be made (see docs/sandbox.md)")
    if os.geteuid() == 0:
        return "none (root is exempt from RLIMIT_NPROC and no cgroup could be made)", "address space per process (RLIMIT_AS)", cpu
    return f"RLIMIT_NPROC: at most {MAX_PROCESSES} processes", "address space per process (RLIMIT_AS); no total over processes", cpu


def limit_run(address_space_bytes: int | None) -> None:
    """Set a run's own limits (inherited by its children), before the submission is imported.

    `address_space_bytes` is what the run may map on top of the worker (None on
    a GPU: CUDA maps more address space than any sensible cap).
    """
    if address_space_bytes is not None:
        with open("/proc/self/status") as status:
            mapped_kib = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
        limit = mapped_kib * 1024 + address_space_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
