"""The host user a sandbox runs as when the harness runs as root: one uid per worker, owning nothing.

bubblewrap started by root would make the sandbox host uid 0 to the kernel,
and much is keyed by uid alone: keyrings, files owned by root, the per-user
counts of processes. So each worker of a root harness takes a uid of its own
from a range no account uses, held by a lock file for the worker's life:
workers of one harness, and of harnesses run side by side, never share one,
so that one run cannot use up another's process limit or meet it anywhere
the kernel counts by user.

The range starts at UNLEARNING_SANDBOX_FIRST_UID (default 990000) and holds
UNLEARNING_SANDBOX_UIDS uids (default 4096); uids that an account in the
password database has are skipped. A harness run by a normal user needs
none of this: bubblewrap makes the sandbox that user, who owns only their
own files, none of which the sandbox binds.
"""

from dataclasses import dataclass
import fcntl
import os
from pathlib import Path
import pwd

FIRST_UID = int(os.environ.get("UNLEARNING_SANDBOX_FIRST_UID", "990000"))
UID_COUNT = int(os.environ.get("UNLEARNING_SANDBOX_UIDS", "4096"))
LOCK_FOLDER = Path("/run/unlearning-harness")  # root's: the locks say which uids are taken


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


@dataclass
class HostUser:
    """The uid a worker's sandbox becomes (None: the harness's own user), and the lock that holds it."""

    uid: int | None
    _lock: int | None = None

    @classmethod
    def acquire(cls) -> "HostUser":
        """A free uid of the range when running as root; else the harness's own user.

        Raises OSError when every uid of the range is taken or the locks cannot be made.
        """
        if os.geteuid() != 0:
            return cls(None)
        LOCK_FOLDER.mkdir(mode=0o700, exist_ok=True)
        start = os.getpid() % UID_COUNT  # where harnesses side by side start looking, so that they seldom meet
        for step in range(UID_COUNT):
            uid = FIRST_UID + (start + step) % UID_COUNT
            if _has_account(uid):
                continue
            lock = os.open(LOCK_FOLDER / f"uid-{uid}.lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock)
                continue
            return cls(uid, lock)
        raise OSError(f"all {UID_COUNT} sandbox uids from {FIRST_UID} are in use; set UNLEARNING_SANDBOX_FIRST_UID and UNLEARNING_SANDBOX_UIDS")

    def release(self) -> None:
        """Free the uid for another worker (its processes are gone by then)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
