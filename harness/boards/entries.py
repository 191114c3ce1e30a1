"""One leaderboard entry scored as `score` (or, for checkpoints, `score-checkpoints`) would, its
failure recorded instead of raised.

Fixed and adaptive leaderboards both go through here, so that a file the
harness refuses (an unreadable notebook) or one that provokes an error of
the harness costs its own row only, and the board goes on.
"""

import logging
from pathlib import Path
import traceback

from harness.outputs.results import CHECKPOINTS, RUNS, failed_document, write_failed
from harness.pipeline import score, score_checkpoints
from harness.running.failures import inert
from harness.session import ReferencesUnusable, ScoringSession
from harness.settings import ScoreSettings
from harness.submissions.checkpoints import is_checkpoints, read_checkpoints, scorable
from harness.submissions.timings import TIMINGS_SUFFIX, read_timings
from harness.submissions.untrusted import SubmissionRefused, results_folder
from reference_models.spec import BenchmarkSpec
from scoring.document import UNKNOWN, ScoreDocument, UnmeasuredBudget

log = logging.getLogger(__name__)


def _not_scored(settings: ScoreSettings, reason: str) -> UnmeasuredBudget:
    """The time budget of an entry that got no runs scored: nothing measured, and not eligible."""
    return UnmeasuredBudget(settings.budget_fraction, settings.budget_policy, reason, verdict=UNKNOWN, eligible=False)


def _refused(path: Path, spec: BenchmarkSpec, error: SubmissionRefused, models_from: str, settings: ScoreSettings) -> ScoreDocument:
    log.error(inert(str(error)))
    budget = _not_scored(settings, "the harness refused the entry before any run")
    return failed_document(spec, str(path), "refused", inert(str(error)), budget, models_from)


def _scored(path: Path, out_dir: Path, session: ScoringSession, n_models: int, models_from: str) -> ScoreDocument:
    """`score` of a file, or `score-checkpoints` of an archive, which must hold one checkpoint for each of the board's N runs,
    with the participant's timings where a file NAME.timings.csv lies beside it."""
    if models_from == RUNS:
        return score(path, out_dir, session, n_models)
    timings_path = path.with_name(f"{path.stem}{TIMINGS_SUFFIX}")
    with scorable(read_checkpoints(path, session.settings.checkpoint_limits), path.name, n_models) as checkpoints:
        timings = read_timings(timings_path, checkpoints) if timings_path.exists() or timings_path.is_symlink() else None
        return score_checkpoints(path, checkpoints, out_dir, session, timings)


def score_entry(path: Path, board_dir: Path, session: ScoringSession, n_models: int) -> ScoreDocument:
    """The entry's score.json document at N = n_models, written into board_dir/<its name>/: scored, or failed as
    `refused` or `scorer-error`. An entry whose name cannot name a folder there is refused and nothing is written."""
    spec, settings = session.spec, session.settings
    models_from = CHECKPOINTS if is_checkpoints(path) else RUNS
    try:
        out_dir = results_folder(board_dir, path)
    except SubmissionRefused as error:
        return _refused(path, spec, error, models_from, settings)
    try:
        return _scored(path, out_dir, session, n_models, models_from)
    except SubmissionRefused as error:
        document = _refused(path, spec, error, models_from, settings)
    except ReferencesUnusable:
        raise  # the board's, not this entry's: every entry would fail the same way
    except Exception:
        message = inert("scoring stopped with an error of the harness:\n" + traceback.format_exc(limit=-8))
        log.error(message)
        budget = _not_scored(settings, "scoring stopped with an error of the harness")
        document = failed_document(spec, str(path), "scorer-error", message, budget, models_from)
    write_failed(out_dir, document)
    return document
