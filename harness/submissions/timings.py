"""Timings a participant reports for checkpoints made elsewhere: the only time the budget can judge them by.

The harness did not run the code behind checkpoints, so it cannot time it. An
organiser who accepts the participant's word passes a CSV of one row per
checkpoint, `checkpoint,seconds,hardware`: the member's name, the seconds its
`unlearning` call took, and the machine they were measured on (one for all
rows). The verdict is then computed from those seconds against retraining
timed here, and every output marks it as self-reported, never as measured.
The file is the participant's, so it is read through harness.submissions.untrusted and
checked whole before anything is built.
"""

import csv
from dataclasses import dataclass
import io
import math
from pathlib import Path

import numpy as np

from harness.submissions.checkpoints import Checkpoints
from harness.submissions.untrusted import SubmissionRefused, read_submission
from scoring.text import visible

COLUMNS = ("checkpoint", "seconds", "hardware")
TIMINGS_SUFFIX = ".timings.csv"  # in a leaderboard folder, NAME.timings.csv beside NAME.zip (or the folder NAME) times its checkpoints
MAX_TIMINGS_BYTES = 4 << 20  # 4,096 rows of long names fit many times over


@dataclass(frozen=True)
class ReportedTimings:
    """The seconds of each run's `unlearning` call in run order, as reported, and where they were measured."""

    seconds: tuple[float, ...]
    hardware: str
    source: str  # the file they came from


def _seconds(text: str, name: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SubmissionRefused(f"{where}: the seconds of {name!r} are {text!r}, not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise SubmissionRefused(f"{where}: the seconds of {name!r} are {text!r}; a run takes a positive, finite time")
    return value


def read_timings(path: Path, checkpoints: Checkpoints) -> ReportedTimings:
    """The timings of every checkpoint in `checkpoints`, from the CSV at `path`; SubmissionRefused, naming
    the row, where a column, a checkpoint or a number is missing or wrong, or the rows name two machines."""
    data = read_submission(path, MAX_TIMINGS_BYTES, kind="a timings file", advice="one row per checkpoint: checkpoint,seconds,hardware")
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as error:
        raise SubmissionRefused(f"{path.name} is not a CSV file in UTF-8: {error}") from None
    if not rows or tuple(reader.fieldnames or ()) != COLUMNS:
        raise SubmissionRefused(f"{path.name} must have the header {','.join(COLUMNS)} and one row per checkpoint")
    seconds: dict[str, float] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{path.name}, line {line}"
        if None in row or None in row.values():  # DictReader's keys for a field too many, values for one too few
            raise SubmissionRefused(f"{where}: a row has exactly three fields, {','.join(COLUMNS)}")
        name = row["checkpoint"]
        if name in seconds:
            raise SubmissionRefused(f"{where}: {name!r} is timed twice")
        seconds[name] = _seconds(row["seconds"], name, where)
    names = [checkpoint.name for checkpoint in checkpoints.runs]
    missing = [name for name in names if name not in seconds]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise SubmissionRefused(f"{path.name} has no row for {missing[0]!r}{more}: time each checkpoint of the archive once")
    unknown = sorted(set(seconds) - set(names))
    if unknown:
        raise SubmissionRefused(f"{path.name} times {unknown[0]!r}, which is not a checkpoint of the archive")
    machines = sorted({row["hardware"].strip() for row in rows})
    if len(machines) != 1 or not machines[0]:
        raise SubmissionRefused(f"{path.name} must name one machine in its hardware column, the one every run was timed on; it names {machines}")
    # the participant's words, printed on the console and in the report: their control and format characters as escapes
    return ReportedTimings(tuple(seconds[name] for name in names), visible(machines[0]), str(path))


def reported_seconds(timings: ReportedTimings, ok_runs: list[int]) -> np.ndarray:
    """The reported seconds of the runs whose checkpoints were scored (a failed checkpoint's time does not count)."""
    return np.array([timings.seconds[run] for run in ok_runs], dtype=float)
