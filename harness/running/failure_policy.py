"""What a kept failed run means for the runs after it: run again, or stand until the file changes.

A failure the file repeats (harness.running.failures.REPEATS), or one on its last
attempt, stands: scoring the unchanged file starts no run. A timeout or a
worker crash short of MAX_ATTEMPTS is run again by the next score. Apart
from harness.running.failures, which the sandbox worker imports and so must not
pull in the ledger.
"""

from harness.running import failures
from harness.running.ledger import RunLedger, RunRecord
from scoring.document import NotStarted


def _stands(record: RunRecord) -> bool:
    """Whether a failed run's failure is final for this file: one it repeats, or one on its last attempt."""
    return not failures.runs_again(record.failure_class, record.attempt)


def _failed(record: RunRecord) -> str:
    """`run N failed (class)`, with the attempt when it was not the first."""
    attempt = f", attempt {record.attempt}" if record.attempt > 1 else ""
    return f"run {record.run_id} failed ({record.failure_class}{attempt})"


def _final(record: RunRecord) -> str:
    """Why a standing failure is not run again."""
    if record.failure_class in failures.REPEATS:
        return "this file fails the same way again"
    return f"a run is given at most {failures.MAX_ATTEMPTS} attempts"


def not_started_note(n_runs: int, records: list[RunRecord]) -> NotStarted | None:
    """For score.json: how many runs were never started, and why; None if every run finished."""
    missing = n_runs - len(records)
    if missing <= 0:
        return None
    failed = [record for record in records if record.status != "ok"]
    first = next((record for record in failed if _stands(record)), None) or next(iter(failed), None)
    cause = _failed(first) if first else "an earlier run failed"
    if first and _stands(first):
        then = f"fix the failure: {_final(first)}, so scoring the file unchanged starts none of them"
    else:
        then = f"score again to resume: a run that timed out or crashed runs again, up to {failures.MAX_ATTEMPTS} attempts in all; or fix the failure first"
    return NotStarted(missing, f"{cause}, and without --allow-failures one failed run fails the submission: "
                               f"the remaining runs were not started ({then})")


def standing_failure(ledger: RunLedger, n_runs: int) -> RunRecord | None:
    """A kept run of this very file whose failure stands (see `_stands`), if any."""
    return next((record for record in ledger.finished(n_runs) if record.status != "ok" and _stands(record)), None)


def standing_message(record: RunRecord) -> str:
    """What the console says when a standing failure starts no run."""
    return f"{_failed(record)} in this very file, and {_final(record)}: no run is started until the file changes"
