"""A participant's own timings for checkpoints made elsewhere (issue 39): one row per checkpoint, read
through the untrusted gate and refused whole, naming the row, where anything is missing or wrong."""

import os
from pathlib import Path
import zipfile

import pytest

from harness.submissions.checkpoints import read_checkpoints
from harness.submissions.timings import read_timings
from harness.submissions.untrusted import SubmissionRefused

NAMES = ("unlearned_checkpoint_0.pth", "unlearned_checkpoint_1.pth", "unlearned_checkpoint_2.pth")


@pytest.fixture
def checkpoints(tmp_path):
    archive = tmp_path / "submission.zip"
    with zipfile.ZipFile(archive, "w") as members:
        for name in reversed(NAMES):
            members.writestr(name, b"weights")
    with read_checkpoints(archive) as found:
        yield found


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "timings.csv"
    path.write_text(text)
    return path


def test_the_seconds_come_in_run_order_with_the_machine(tmp_path, checkpoints):
    rows = "".join(f"{name},{seconds},Kaggle P100\n" for name, seconds in zip(reversed(NAMES), (3, 2, 1), strict=True))
    path = _csv(tmp_path, "checkpoint,seconds,hardware\n" + rows)
    timings = read_timings(path, checkpoints)
    assert timings.seconds == (1.0, 2.0, 3.0) and timings.hardware == "Kaggle P100" and timings.source == str(path)


ROWS = "".join(f"{name},1.5,P100\n" for name in NAMES)


@pytest.mark.parametrize("text, message", [
    ("name,time,machine\n" + ROWS, "must have the header checkpoint,seconds,hardware"),
    ("", "must have the header"),
    ("checkpoint,seconds,hardware\n" + ROWS.split("\n", 1)[1], "has no row for 'unlearned_checkpoint_0.pth'"),
    ("checkpoint,seconds,hardware\n" + ROWS + "other.pth,1,P100\n", "times 'other.pth', which is not a checkpoint of the archive"),
    ("checkpoint,seconds,hardware\n" + ROWS + f"{NAMES[1]},1,P100\n", "line 5: 'unlearned_checkpoint_1.pth' is timed twice"),
    ("checkpoint,seconds,hardware\n" + ROWS.replace("1.5", "fast", 1), "line 2: the seconds of 'unlearned_checkpoint_0.pth' are 'fast', not a number"),
    ("checkpoint,seconds,hardware\n" + ROWS.replace("1.5", "-1", 1), "a run takes a positive, finite time"),
    ("checkpoint,seconds,hardware\n" + ROWS.replace("1.5", "inf", 1), "a run takes a positive, finite time"),
    ("checkpoint,seconds,hardware\n" + ROWS.replace("P100", "A100", 1), "must name one machine in its hardware column"),
    ("checkpoint,seconds,hardware\n" + ROWS.replace("P100", "P100,extra", 1), "line 2: a row has exactly three fields"),
    ("checkpoint,seconds,hardware\n" + ROWS.replace(",P100", "", 1), "line 2: a row has exactly three fields"),
], ids=["header", "empty", "missing", "unknown", "twice", "not a number", "negative", "infinite", "two machines", "extra field", "short row"])
def test_a_wrong_timings_file_is_refused_naming_the_problem(tmp_path, checkpoints, text, message):
    with pytest.raises(SubmissionRefused, match=message):
        read_timings(_csv(tmp_path, text), checkpoints)


def test_a_linked_or_binary_timings_file_is_refused(tmp_path, checkpoints):
    secret = tmp_path / "secret"
    secret.write_text("checkpoint,seconds,hardware\n")
    os.symlink(secret, tmp_path / "linked.csv")
    with pytest.raises(SubmissionRefused, match="is a symbolic link"):
        read_timings(tmp_path / "linked.csv", checkpoints)
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00checkpoint")
    with pytest.raises(SubmissionRefused, match="is not a CSV file in UTF-8"):
        read_timings(tmp_path / "binary.csv", checkpoints)


def test_the_machine_named_is_made_inert_for_the_console(tmp_path, checkpoints):
    rows = "".join(f"{name},1,P100\x1b[2J\u202e\n" for name in NAMES)
    timings = read_timings(_csv(tmp_path, "checkpoint,seconds,hardware\n" + rows), checkpoints)
    assert "\x1b" not in timings.hardware and "\u202e" not in timings.hardware and timings.hardware.startswith("P100\\x1b")
