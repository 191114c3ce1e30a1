"""The trusted steps between the harness and bubblewrap: join the worker's cgroups, and, run as root,
become an unprivileged host user of the sandbox's own.

    python -I harness/sandbox/launch.py [--cgroup PROCS]... [--uid UID --show FOLDER...] -- bwrap ...

Why a user of its own: bubblewrap started by root maps the sandbox to host
uid 0, and the kernel keys much by uid alone (keyrings, files owned by
root, global sysctls under /proc/sys), so a sandbox that is root to the
kernel could reach them. Started instead as a uid that owns nothing, the
sandbox owns nothing.

That user may not traverse folders that only root may (a mode-700 /root
holding the Python installation): bubblewrap, which opens every folder it
binds as the user that runs it, would fail. So this launcher first enters
a mount namespace of its own, where each such folder is covered by an
empty, world-traversable tmpfs holding only the folders the sandbox binds,
bound back in from the host. The host's mounts are untouched. Then it
drops every group and capability and becomes the user, and execs
bubblewrap, which builds the sandbox as that user.

Only standard-library modules are imported (it runs as `python -I`, as root, once per worker).
"""

import argparse
import ctypes
import os
from pathlib import Path
import sys

_CLONE_NEWNS = 0x00020000
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    if libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}: {os.strerror(ctypes.get_errno())}")


def untraversable_ancestors(folders: list[Path]) -> list[Path]:
    """The outermost folders above `folders` that a user who owns nothing may not enter."""
    blocked: set[Path] = set()
    for folder in folders:
        for ancestor in reversed(folder.parents):
            if ancestor != Path("/") and not os.stat(ancestor).st_mode & 0o001:
                blocked.add(ancestor)
                break
    return sorted(blocked)


def show(folders: list[Path]) -> None:
    """In a mount namespace of this process, make `folders` reachable for a user who owns nothing."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing done here reaches the host
    for blocked in untraversable_ancestors(folders):
        inside = [folder for folder in folders if blocked in folder.parents or folder == blocked]
        handles = {folder: os.open(folder, os.O_PATH) for folder in inside}  # before the cover hides them
        _mount("tmpfs", str(blocked), "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
        for folder, handle in handles.items():
            folder.mkdir(parents=True, exist_ok=True)
            _mount(f"/proc/self/fd/{handle}", str(folder), None, _MS_BIND | _MS_REC)
            os.close(handle)


def become(uid: int) -> None:
    """Become `uid` (and gid), with no supplementary groups: root's identity and capabilities end here."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != uid:
        raise OSError(f"could not become uid {uid}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="harness/sandbox/launch.py")
    parser.add_argument("--cgroup", action="append", default=[], help="a cgroup.procs file to join")
    parser.add_argument("--uid", type=int, help="the host uid to become (as root)")
    parser.add_argument("--show", action="append", default=[], help="a folder the new user must reach")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    try:
        for procs in options.cgroup:
            Path(procs).write_text(str(os.getpid()))
        if options.uid is not None:
            show([Path(folder) for folder in options.show])
            become(options.uid)
        os.execv(command[0], command)
    except OSError as error:
        print(f"harness: the sandbox could not be entered: {error}", file=sys.stderr)
        sys.exit(126)


if __name__ == "__main__":
    main(sys.argv[1:])
