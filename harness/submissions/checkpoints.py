"""A participant's checkpoints as Kaggle's organisers received them: a zip of N state dicts, or a folder of them.

The archive is as untrusted as any file a participant hands over (harness.submissions.untrusted),
and it is never extracted: nothing of it is written anywhere. Its members are read
in memory, one at a time as their runs start, after their names, kinds and declared
sizes are checked;
the reader stops at a member's declared size and zipfile checks its CRC there, so a
small file that would expand without end, or a header that lies about its size,
ends at the cap or as a damaged member. A member that fails a check is a failed
run with its reason, and the others are still scored. Turning the bytes into
tensors is the sandbox's job (weights_only, in a worker), not this module's.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
import hashlib
import os
from pathlib import Path, PurePosixPath
import re
import stat
import threading
from typing import BinaryIO
import zipfile

from harness.submissions.untrusted import SubmissionRefused, open_untrusted, read_submission
from scoring.quality import MIN_MODELS

CHECKPOINT_SUFFIXES = (".pth", ".pt")
LOAD_TIMEOUT_S = 60.0  # a run that loads one checkpoint in the sandbox is stopped after this (ResNet-18's loads in well under 1 s)
_UNIX = 3  # ZipInfo.create_system of an archive made on Unix: external_attr's high half is st_mode
_LAST_NUMBER = re.compile(r"(\d+)\D*$")


@dataclass(frozen=True)
class CheckpointLimits:
    """What an organiser accepts. The defaults hold 512 ResNet-18 state dicts (about 45 MB each)
    with room to spare, and refuse an archive before it costs more memory or time than that."""

    max_members: int = 4096
    max_member_bytes: int = 256 << 20
    max_total_bytes: int = 64 << 30


@dataclass(frozen=True)
class Checkpoint:
    """One run's checkpoint: the member it comes from, and why its listing already rules it out, if it does."""

    run: int
    name: str
    refused: str | None = None


class Checkpoints:
    """The checkpoints in run order, and the members that are not checkpoints (listed, not scored).

    The archive stays open and each checkpoint is read when its run asks for it (`payload`), so that
    512 ResNet-18 checkpoints (about 23 GB) never sit in memory together. Close it when scored.
    """

    def __init__(self, runs: tuple[Checkpoint, ...], ignored: tuple[str, ...], read: Callable[[str], bytes], close: Callable[[], None],
                 digest: Callable[[], str] | None = None):
        self.runs, self.ignored = runs, ignored
        self._read, self._close, self._digest = read, close, digest
        self._lock = threading.Lock()  # runs in several threads share one open archive

    def payload(self, run: int) -> tuple[bytes | None, str | None]:
        """Run `run`'s checkpoint bytes, or why it has none: ruled out by its listing, or failed while read."""
        checkpoint = self.runs[run]
        if checkpoint.refused is not None:
            return None, checkpoint.refused
        try:
            with self._lock:
                return self._read(checkpoint.name), None
        except _Unreadable as error:
            return None, str(error)

    def sha256(self) -> str:
        """What is scored, as the run ledger's key: the archive's own bytes where it has them in one file (a zip,
        hashed without inflating a member), else each run's name and bytes (or why it has none), in run order."""
        if self._digest is not None:
            with self._lock:
                return self._digest()
        digest = hashlib.sha256()
        for checkpoint in self.runs:
            payload, refused = self.payload(checkpoint.run)
            for part in (checkpoint.name.encode(), payload if payload is not None else (refused or "").encode()):
                digest.update(len(part).to_bytes(8, "little") + part)
        return digest.hexdigest()

    def close(self) -> None:
        self._close()

    def __enter__(self) -> "Checkpoints":
        return self

    def __exit__(self, *_) -> None:
        self.close()


class _Unreadable(Exception):
    """A checkpoint that passed its listing's checks failed while read: its run fails with this reason."""


def run_order(names: list[str]) -> list[str]:
    """Kaggle's files were unlearned_checkpoint_{i}.pth: by the last number in each name where every
    name has a distinct one, else by name."""
    numbers = [_LAST_NUMBER.search(PurePosixPath(name).stem) for name in names]
    if all(numbers) and len({int(match.group(1)) for match in numbers}) == len(names):
        return [name for _, name in sorted(zip((int(match.group(1)) for match in numbers), names, strict=True))]
    return sorted(names)


def _member_problem(info: zipfile.ZipInfo, limits: CheckpointLimits) -> str | None:
    """Why a checkpoint member cannot be read, or None."""
    path = PurePosixPath(info.filename.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", info.filename):
        return "its path leaves the archive's folder"
    kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == _UNIX else 0  # 0: permissions only, as zipfile writes
    if kind == stat.S_IFLNK:
        return "it is a symbolic link"
    if kind not in (0, stat.S_IFREG):
        return "it is not a regular file"
    if info.flag_bits & 0x1:
        return "it is encrypted"
    if info.file_size > limits.max_member_bytes:
        return f"it expands to {info.file_size:,} bytes, over the {limits.max_member_bytes:,} a checkpoint may"
    return None


def _entry_count(file: BinaryIO, name: str) -> int:
    """The number of members the archive's end record declares, read before zipfile lists them all
    (a central directory of millions of entries would cost gigabytes as ZipInfo objects)."""
    end = zipfile._EndRecData(file)  # zipfile's own reader of the end record, zip64 included
    if end is None:
        raise SubmissionRefused(f"{name} is not a zip archive")
    return end[zipfile._ECD_ENTRIES_TOTAL]


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: CheckpointLimits) -> bytes:
    """A checkpoint member's bytes, stopped at the cap (zipfile checks the CRC at the declared size)."""
    try:
        with archive.open(info) as member:
            data = member.read(limits.max_member_bytes + 1)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, NotImplementedError) as error:
        raise _Unreadable(f"it cannot be decompressed: {error}") from None
    if len(data) > limits.max_member_bytes:
        raise _Unreadable(f"it expands past the {limits.max_member_bytes:,} bytes a checkpoint may")
    return data


def _file_sha256(file: BinaryIO) -> str:
    """The archive as it lies on disk, hashed: it decides every member, and is read once, without inflating any."""
    digest = hashlib.sha256()
    file.seek(0)
    for block in iter(lambda: file.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _from_zip(path: Path, limits: CheckpointLimits) -> Checkpoints:
    file = open_untrusted(path)
    try:
        if _entry_count(file, path.name) > limits.max_members:
            raise SubmissionRefused(f"{path.name} holds more than {limits.max_members:,} members: submit one checkpoint per run")
        try:
            archive = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, OSError) as error:
            raise SubmissionRefused(f"{path.name} is not a readable zip archive: {error}") from None
        members = [info for info in archive.infolist() if not info.is_dir()]
        names = [info.filename for info in members]
        twice = sorted(name for name, count in Counter(names).items() if count > 1)
        if twice:
            raise SubmissionRefused(f"{path.name} holds two members named {twice[0]!r}: each run needs a file of its own")
        checkpoints = {info.filename: info for info in members if PurePosixPath(info.filename).suffix in CHECKPOINT_SUFFIXES}
        declared = sum(info.file_size for info in checkpoints.values())
        if declared > limits.max_total_bytes:
            raise SubmissionRefused(f"{path.name} expands to {declared:,} bytes of checkpoints, over the {limits.max_total_bytes:,} accepted")
    except BaseException:
        file.close()
        raise
    runs = tuple(Checkpoint(run, name, _member_problem(checkpoints[name], limits)) for run, name in enumerate(run_order(list(checkpoints))))
    return Checkpoints(runs, tuple(sorted(name for name in names if name not in checkpoints)),
                       lambda name: _read_member(archive, checkpoints[name], limits), file.close, lambda: _file_sha256(file))


def _read_file(folder_fd: int, name: str, limits: CheckpointLimits) -> bytes:
    """A checkpoint file's bytes: no link, FIFO or hard link, and its size checked before reading."""
    try:
        return read_submission(Path(name), limits.max_member_bytes, folder_fd, kind="a checkpoint",
                               advice="save each run's net.state_dict(), or ask the organiser for a larger cap")
    except SubmissionRefused as refused:
        raise _Unreadable(str(refused).removeprefix(f"{name} ")) from None


def _from_folder(folder: Path, limits: CheckpointLimits) -> Checkpoints:
    try:
        folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise SubmissionRefused(f"{folder.name} cannot be opened as a folder: {error.strerror}") from None
    try:
        entries = sorted(os.listdir(folder_fd))
        if len(entries) > limits.max_members:
            raise SubmissionRefused(f"{folder.name} holds more than {limits.max_members:,} files: submit one checkpoint per run")
        names = [name for name in entries if Path(name).suffix in CHECKPOINT_SUFFIXES]
        declared = sum(os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_size for name in names)
        if declared > limits.max_total_bytes:
            raise SubmissionRefused(f"{folder.name} holds {declared:,} bytes of checkpoints, over the {limits.max_total_bytes:,} accepted")
    except BaseException:
        os.close(folder_fd)
        raise
    runs = tuple(Checkpoint(run, name) for run, name in enumerate(run_order(names)))
    return Checkpoints(runs, tuple(name for name in entries if name not in names),
                       lambda name: _read_file(folder_fd, name, limits), lambda: os.close(folder_fd))


def is_checkpoints(path: Path) -> bool:
    """Whether a leaderboard entry is checkpoints made elsewhere: a zip archive, or a folder (not a link to one)
    holding a checkpoint file."""
    if path.suffix == ".zip":
        return True
    try:
        if not stat.S_ISDIR(path.lstat().st_mode):
            return False
        with os.scandir(path) as entries:
            return any(Path(entry.name).suffix in CHECKPOINT_SUFFIXES for entry in entries)
    except OSError:  # gone, or not ours to list: no entry
        return False


def read_checkpoints(path: Path, limits: CheckpointLimits = CheckpointLimits()) -> Checkpoints:
    """The checkpoints of a zip archive or a folder, in run order, the archive left open to read them
    from; SubmissionRefused where the whole archive cannot be read (not a zip, too many or too large
    members, two of one name, no checkpoint)."""
    found = _from_folder(path, limits) if path.is_dir() and not path.is_symlink() else _from_zip(path, limits)
    if not found.runs:
        found.close()
        raise SubmissionRefused(f"{path.name} holds no checkpoint: each run's state dict is a {' or '.join(CHECKPOINT_SUFFIXES)} file")
    return found


def scorable(found: Checkpoints, name: str, expected: int | None) -> Checkpoints:
    """`found`, if it holds the number of checkpoints asked for (`expected`, None: any) and at least the metric's
    minimum; otherwise it is closed and SubmissionRefused raised, as Kaggle refused any zip without exactly 512."""
    count = len(found.runs)
    problem = None
    if expected is not None and count != expected:
        problem = f"{name} holds {count} checkpoints, not the {expected} asked for (--n-models): one per run, no more, no fewer"
    elif count < MIN_MODELS:
        problem = f"{name} holds {count} checkpoints: the metric compares populations of at least {MIN_MODELS} models"
    if problem is not None:
        found.close()
        raise SubmissionRefused(problem)
    return found
