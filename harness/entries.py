"""One leaderboard entry scored as `score` would, its failure recorded instead of raised.

Fixed and adaptive leaderboards both go through here, so that a file the
harness refuses (an unreadable notebook) or one that provokes an error of
the harness costs its own row only, and the board goes on.
"""

import json
from pathlib import Path
import sys
import traceback

from harness.failures import inert
from harness.pipeline import ScoreSettings, score
from harness.results import failed_document
from harness.untrusted import SubmissionRefused, results_folder
from reference_models.files import write_atomic
from reference_models.spec import BenchmarkSpec


def _refused(path: Path, spec: BenchmarkSpec, error: SubmissionRefused) -> dict:
    print(f"error: {inert(str(error))}", file=sys.stderr, flush=True)
    return failed_document(spec, str(path), "refused", inert(str(error)))


def score_entry(path: Path, spec: BenchmarkSpec, board_dir: Path, settings: ScoreSettings) -> dict:
    """The entry's score.json document, written into board_dir/<its name>/: scored, or failed as `refused`
    or `scorer-error`. An entry whose name cannot name a folder there is refused and nothing is written."""
    try:
        out_dir = results_folder(board_dir, path)
    except SubmissionRefused as error:
        return _refused(path, spec, error)
    try:
        return score(path, spec, out_dir, settings)
    except SubmissionRefused as error:
        document = _refused(path, spec, error)
    except Exception:
        message = inert("scoring stopped with an error of the harness:\n" + traceback.format_exc(limit=-8))
        print(message, file=sys.stderr)
        document = failed_document(spec, str(path), "scorer-error", message)
    write_atomic(out_dir / "score.json", (json.dumps(document, indent=2) + "\n").encode())
    return document
