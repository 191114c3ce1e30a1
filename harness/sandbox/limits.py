"""Limits on what a sandboxed submission may consume: processes and memory.

Two layers, whichever the machine allows:

- A cgroup per worker (when the harness may create one: as root, on cgroup
  v1 or v2) caps the whole sandbox: its number of processes (`pids`) and its
  total memory, shared memory and children included (`memory`).
- Per-process resource limits, set by each run's process before it imports
  the submission: address space (`--memory-gb` on top of what the worker has
  mapped), number of processes (which Linux enforces for every user but
  root), no core files, no POSIX message queues.

score.json's `isolation` says which layer held each limit.
"""

from dataclasses import dataclass
import os
from pathlib import Path
import resource
import time
import uuid

MAX_PROCESSES = 64  # processes a run may have at once, the worker included
WORKER_MEMORY_BYTES = 2 << 30  # what the worker itself holds: torch, the common packages, the data
_CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Cgroup:
    """The cgroup folders of one worker, and the files its processes join."""

    folders: tuple[Path, ...]

    @classmethod
    def create(cls, memory_bytes: int) -> "Cgroup | None":
        """A cgroup capping processes and total memory, or None where this process may not make one."""
        name = f"unlearning-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        if (_CGROUP_ROOT / "cgroup.controllers").exists():
            limits = {_CGROUP_ROOT / name: {"pids.max": MAX_PROCESSES, "memory.max": memory_bytes, "memory.swap.max": 0}}
        else:
            limits = {_CGROUP_ROOT / "pids" / name: {"pids.max": MAX_PROCESSES}, _CGROUP_ROOT / "memory" / name: {"memory.limit_in_bytes": memory_bytes}}
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

    def wrap(self, command: list[str]) -> list[str]:
        """`command` started from a shell that first moves itself into the cgroup, so that
        every process of the sandbox is born inside it."""
        joins = " && ".join(f'echo $$ > "{folder}/cgroup.procs"' for folder in self.folders)
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh", *command]

    def remove(self) -> None:
        """Remove the folders once their processes are gone (they die with the worker)."""
        for folder in self.folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # processes still exiting
                    time.sleep(0.02)


def cgroup_description(cgroup: Cgroup | None) -> tuple[str, str]:
    """(processes, memory): how each is limited, in words for score.json."""
    if cgroup is not None:
        return f"cgroup: at most {MAX_PROCESSES} processes", "cgroup: total memory of the sandbox, shared memory and children included"
    if os.geteuid() == 0:
        return "none (root is exempt from RLIMIT_NPROC and no cgroup could be made)", "address space per process (RLIMIT_AS)"
    return f"RLIMIT_NPROC: at most {MAX_PROCESSES} processes", "address space per process (RLIMIT_AS); no total over processes"


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
