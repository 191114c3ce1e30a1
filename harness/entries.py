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
from harness.notebooks import SubmissionRefused
from harness.pipeline import ScoreSettings, score
from harness.results import failed_document
from reference_models.files import write_atomic
from reference_models.spec import BenchmarkSpec


def score_entry(path: Path, spec: BenchmarkSpec, out_dir: Path, settings: ScoreSettings) -> dict:
    """The entry's score.json document, written into out_dir: scored, or failed as `refused` or `scorer-error`."""
    try:
        return score(path, spec, out_dir, settings)
    except SubmissionRefused as error:
        print(f"error: {inert(str(error))}", file=sys.stderr, flush=True)
        document = failed_document(spec, str(path), "refused", inert(str(error)))
    except Exception:
        message = inert("scoring stopped with an error of the harness:\n" + traceback.format_exc(limit=-8))
        print(message, file=sys.stderr)
        document = failed_document(spec, str(path), "scorer-error", message)
    write_atomic(out_dir / "score.json", (json.dumps(document, indent=2) + "\n").encode())
    return document
