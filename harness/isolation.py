"""How the sandbox worker is started: in Linux namespaces when the system allows it.

`unshare -rmnpf` gives the worker its own user, mount, network and process
namespaces, without privileges: no network but a loopback that is down, a
read-only view of the file system with the reference cache, the ledgers,
the results and the submission's folder hidden under empty tmpfs mounts
(knowing their paths does not help), a private writable working directory,
and a process tree that dies with it. Where unprivileged namespaces are not
allowed, the worker runs as a plain process and the harness says so.
"""

from functools import lru_cache
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

_UNSHARE = ["unshare", "--user", "--map-root-user", "--mount", "--net", "--pid", "--fork", "--mount-proc"]
WORKDIR_LIMIT = "1g"


@lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Whether unprivileged namespaces work here (probed once)."""
    if shutil.which("unshare") is None:
        return False
    probe = "mount -o remount,bind,ro / && mount -t tmpfs none /tmp"
    try:
        return subprocess.run([*_UNSHARE, "sh", "-c", probe], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def outermost(folders: list[Path]) -> list[Path]:
    """The folders not inside another one of them: covering those hides the rest too.

    Mounting over a folder inside one already covered would fail (its mount
    point is gone), e.g. `--out` inside the submission's folder.
    """
    resolved = sorted({folder.resolve() for folder in folders})
    return [folder for folder in resolved if not any(other in folder.parents for other in resolved)]


def worker_command(workdir: Path, hidden: list[Path]) -> list[str]:
    """The argv that starts `python -m harness.worker` in `workdir`, isolated if possible."""
    python = [sys.executable, "-m", "harness.worker"]
    if not namespaces_available():
        return python
    steps = ["set -e", "mount -o remount,bind,ro /"]
    steps += [f"mount -t tmpfs -o ro,size=4k none {shlex.quote(str(path))}" for path in outermost(hidden) if path.is_dir()]
    steps += [f"mount -t tmpfs -o size={WORKDIR_LIMIT} none {shlex.quote(str(workdir))}", f"cd {shlex.quote(str(workdir))}"]
    # not exec: sh stays process 1 of the namespace, so that the worker's own
    # signals behave normally and everything it started dies with it.
    steps.append(shlex.join(python))
    return [*_UNSHARE, "sh", "-c", "; ".join(steps)]
