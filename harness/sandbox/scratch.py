"""What a run leaves behind, removed before the next run: the folders it can write, and IPC objects.

The worker records each writable folder as it found it before any run
(`writable_folders`) and, after every run, wipes them all (`wipe_all`) by file
descriptors, at any depth, with their extended attributes, then checks each
is back as found; a worker whose folders are not clean answers so and stops,
and the harness starts a new one (fail closed).
"""

from collections.abc import Callable
import ctypes
from dataclasses import dataclass
import os
from pathlib import Path
import stat

from harness.sandbox.isolation import SCRATCH

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Scratch:
    """A folder a run can write, as the worker found it before any run: what every wipe must leave it as."""

    path: str
    mode: int
    entries: frozenset[str]  # under /tmp, the folders that lead to the read-only binds of a project or Python there

    @classmethod
    def found(cls, path: str) -> "Scratch":
        return cls(path, stat.S_IMODE(os.stat(path).st_mode), frozenset(os.listdir(path)))

    def wipe(self) -> bool:
        """Empty it and strip its extended attributes (POSIX ACLs among them), give it back its mode and
        fresh times, and check: whether it holds nothing but what it held, with no attribute left.

        Any failure is reported, never skipped: the worker that cannot start its next run in a
        clean space is replaced (fail closed).
        """
        try:
            root = os.open(self.path, _FOLDER)
        except OSError:
            return False
        try:
            os.fchmod(root, 0o700)  # a run may have taken its own permissions away
            emptied = _empty(root)
            os.fchmod(root, self.mode)
            os.utime(root)  # no time the run chose is left on it
            return emptied and not _attributes(root) and set(os.listdir(root)) <= self.entries and stat.S_IMODE(os.fstat(root).st_mode) == self.mode
        except OSError:
            return False
        finally:
            os.close(root)


@dataclass
class _Level:
    """A folder the wipe is in: its name in its parent, its folders still to empty, whether it must stay."""

    name: str
    folders: list[str]
    stays: bool


def _empty(root: int) -> bool:
    """Remove everything in the open folder `root` but the mount points in it and the folders that lead to
    them, and strip the attributes of what stays; whether all of it went.

    By file descriptors, one folder open at a time, back up through "..":
    a chain of folders deeper than PATH_MAX, which stopped the path-based
    wipe this replaces with "name too long" (and was then taken as empty),
    is no obstacle, and no link is followed. Nothing else runs meanwhile:
    every process of the sandbox is dead. Under /tmp lie the mount points
    of a project or Python installed under the host's /tmp (see
    isolation.bwrap_arguments): read-only binds of another device, never
    entered.
    """
    device = os.fstat(root).st_dev
    here = os.dup(root)
    try:
        folders, mounts, clean = _clear(here, device)
        levels = [_Level("", folders, mounts)]
        while True:
            level = levels[-1]
            if level.folders:
                name = level.folders.pop()
                try:
                    os.chmod(name, 0o700, dir_fd=here)  # a folder, not a link: _clear checked, and nothing runs
                    below = os.open(name, _FOLDER, dir_fd=here)
                except OSError:
                    clean = False
                    continue
                os.close(here)
                here = below
                folders, mounts, cleared = _clear(here, device)
                clean &= cleared
                levels.append(_Level(name, folders, mounts))
                continue
            levels.pop()
            if level.stays or not levels:
                clean &= _strip(here)
            if not levels:
                return clean
            above = os.open("..", _FOLDER, dir_fd=here)
            os.close(here)
            here = above
            if level.stays:
                levels[-1].stays = True
                continue
            try:
                os.rmdir(level.name, dir_fd=here)
            except OSError:
                clean = False
    finally:
        os.close(here)


def _clear(folder: int, device: int) -> tuple[list[str], bool, bool]:
    """Unlink every entry of the open `folder` that is not a folder: (its folders, whether a mount point
    is among them, whether every unlink worked). A mount point is a folder of another device."""
    folders, mounts, clean = [], False, True
    for entry in list(os.scandir(folder)):  # listed whole before anything is removed
        try:
            if not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.name, dir_fd=folder)
            elif entry.stat(follow_symlinks=False).st_dev != device:
                mounts = True
            else:
                folders.append(entry.name)
        except OSError:
            clean = False
    return folders, mounts, clean


def _strip(folder: int) -> bool:
    """Remove the open folder's extended attributes; whether none is left."""
    for name in _attributes(folder):
        _quietly(os.removexattr, folder, name)
    return not _attributes(folder)


def _attributes(folder: int) -> list[str]:
    """The extended attributes of the open folder that a run could have set: all but the security modules'
    labels (`security.*`, SELinux's among them), which only the kernel and privileged processes set."""
    return [name for name in os.listxattr(folder) if not name.startswith("security.")]


def _quietly(action: Callable, *args, **options) -> None:
    """One step of the wipe, whose failure must not stop the others (the check after it sees what is left)."""
    try:
        action(*args, **options)
    except OSError:
        pass


def writable_folders() -> list[Scratch]:
    """The folders a run can write, as found before any run. Outside a sandbox (--no-sandbox) only the
    worker's own working directory: /tmp and /dev/shm are the host's."""
    return [Scratch.found(path) for path in (SCRATCH if os.getpid() == 1 else (os.getcwd(),))]


def wipe_all(scratch: list[Scratch]) -> bool:
    """Wipe the writable folders and remove System V IPC objects, so that nothing a run leaves is there
    for the next; whether every folder is back as found."""
    clean = all([folder.wipe() for folder in scratch])  # each one wiped, whatever another's outcome
    if os.getpid() == 1:  # outside a sandbox, the IPC objects are the host's
        _remove_ipc_objects()
    return clean


def _remove_ipc_objects() -> None:
    """Remove every System V shared memory segment, semaphore set and message queue of the sandbox's IPC namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    ipc_rmid = 0
    removers = {"shm": lambda i: libc.shmctl(i, ipc_rmid, None), "sem": lambda i: libc.semctl(i, 0, ipc_rmid), "msg": lambda i: libc.msgctl(i, ipc_rmid, None)}
    for table, remove in removers.items():
        try:
            lines = Path(f"/proc/sysvipc/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            remove(int(line.split()[1]))
