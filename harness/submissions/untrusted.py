"""The one gate for files that come from a participant: submissions, notebooks, leaderboard entries.

Everything a participant hands over is hostile until checked: a symbolic
link to the reference cache's secret, a FIFO that blocks the reader, a
sparse file of 512 MiB copied into every worker, a notebook whose JSON nests
deeper than the parser's stack, a name such as `...py` whose stem `..` would
put its results beside the output folder. Every such file is opened here,
with the link refused by the kernel (O_NOFOLLOW) rather than by a check that
a swap could race, its size checked before a byte is read, and its name
turned into a folder that cannot leave the output folder.
"""

import errno
import json
import os
from pathlib import Path
import re
import stat
from typing import BinaryIO
import unicodedata

import numpy as np

from harness.commands.errors import UsageError

MAX_SUBMISSION_BYTES = 32 << 20  # a Kaggle notebook with its outputs fits many times over; a .py of code, hundreds of times
MAX_JSON_DEPTH = 100  # nbformat nests about ten deep; the parser's own stack would give out near a thousand


class SubmissionRefused(UsageError):
    """A file the harness cannot run: the wrong kind, one it will not open, or a notebook that is not one;
    the message says which and why."""


def open_untrusted(path: Path, dir_fd: int | None = None) -> BinaryIO:
    """`path` (relative to the folder open as `dir_fd`, where given) open for reading, or SubmissionRefused
    when it is a symbolic link, not a regular file, or linked under another name too."""
    try:
        # O_NONBLOCK: a FIFO must not block the open; O_NOCTTY: a terminal device must not become ours
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise SubmissionRefused(f"{path.name} is a symbolic link: submit the file itself") from None
        raise SubmissionRefused(f"{path.name} cannot be opened: {error.strerror}") from None
    file = os.fdopen(fd, "rb")
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode) or status.st_nlink > 1:
        file.close()
        if not stat.S_ISREG(status.st_mode):
            raise SubmissionRefused(f"{path.name} is not a regular file: submit the file itself")
        raise SubmissionRefused(f"{path.name} is a hard link ({status.st_nlink} names for one file): submit a copy of the file")
    return file


def read_submission(path: Path, cap: int = MAX_SUBMISSION_BYTES, dir_fd: int | None = None, kind: str = "a submission",
                    advice: str = "clear a notebook's outputs, or keep data out of the file") -> bytes:
    """The bytes of the participant's file (open_untrusted), or SubmissionRefused when it is over `cap`
    bytes (checked before reading, and again while reading); the message names the `kind` of file and
    gives the `advice`."""
    with open_untrusted(path, dir_fd) as file:
        size = os.fstat(file.fileno()).st_size
        if size > cap:
            raise SubmissionRefused(f"{path.name} holds {size:,} bytes, over the {cap:,} {kind} may: {advice}")
        data = file.read(cap + 1)  # a file that grows after the check is still cut at the cap
    if len(data) > cap:
        raise SubmissionRefused(f"{path.name} grew past the {cap:,} bytes {kind} may while it was read")
    return data


def _unsafe_name(stem: str) -> str | None:
    """Why `stem` cannot name a folder of results, or None when it can."""
    if not stem or stem.startswith("."):
        return "it is empty or starts with a dot (hidden, or a parent folder such as '..')"
    if any(separator in stem for separator in ("/", "\\", "\0")):
        return "it holds a path separator"
    if any(unicodedata.category(character) in ("Cc", "Cf") for character in stem):
        return "it holds control or format characters"
    return None


def results_folder(out_dir: Path, submission: Path) -> Path:
    """The folder of one submission's results under `out_dir`, named by the file's stem; SubmissionRefused
    when the stem cannot name a folder inside `out_dir` (checked again after resolving links)."""
    why = _unsafe_name(submission.stem)
    folder = out_dir / submission.stem
    if why is None and folder.resolve().parent != out_dir.resolve():
        why = "its folder would resolve outside the output folder"
    if why is not None:
        raise SubmissionRefused(f"the name of {submission.name!r} cannot name its results folder: {why}; rename the file")
    return folder


# The closing quote is optional, so that the match never fails: an unterminated string of escaped quotes
# would otherwise be searched again from each of them, quadratic in the notebook's size.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in the JSON `text` (brackets inside strings not counted); linear time."""
    characters = np.frombuffer(_JSON_STRING.sub('""', text).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    opens = (characters == ord("[")) | (characters == ord("{"))
    closes = (characters == ord("]")) | (characters == ord("}"))
    return int(np.cumsum(opens.astype(np.int64) - closes).max(initial=0))


def loads_bounded(text: str, name: str, max_depth: int = MAX_JSON_DEPTH) -> object:
    """The JSON `text` parsed, or SubmissionRefused when it nests deeper than `max_depth` or is not JSON."""
    depth = json_depth(text)
    if depth > max_depth:
        raise SubmissionRefused(f"{name} nests its JSON {depth} levels deep, over the {max_depth} a notebook may")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise SubmissionRefused(f"{name} is not JSON: {error}") from None
