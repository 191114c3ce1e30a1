"""Failure classes of a run, and the ledger status each one counts as.

Kaggle reports Timeout, Threw Exception, Exceeded Compute or Output Not Found;
our classes are finer, and each message names the run and the fix.
"""

import signal

from scoring.text import visible

IMPORT_ERROR = "import-error"  # syntax error, missing module, no unlearning, wrong signature
EXCEPTION = "exception"  # unlearning raised
TIMEOUT = "timeout"  # past the hard per-run timeout
INVALID_OUTPUT = "invalid-output"  # not a module, wrong keys or shapes, NaN or Inf
WORKER_CRASH = "worker-crash"  # os._exit, a signal, out of memory

# Failures that the same file fails again on a rerun: its runs are not started again until the file
# changes (the ledger is keyed by its content). A timeout or a crash may not repeat (a fault of the host,
# a loaded machine): the next score runs such a run again, up to MAX_ATTEMPTS times in all.
REPEATS = frozenset({IMPORT_ERROR, EXCEPTION, INVALID_OUTPUT})
MAX_ATTEMPTS = 3


def runs_again(failure_class: str | None, attempt: int) -> bool:
    """Whether the next score runs again a run whose latest attempt (counted from 1) ended so: a failure
    that may not repeat, short of MAX_ATTEMPTS, so that a transient fault cannot fail an honest file for good."""
    return failure_class in (TIMEOUT, WORKER_CRASH) and attempt < MAX_ATTEMPTS

STATUS = {
    IMPORT_ERROR: "error",
    EXCEPTION: "error",
    WORKER_CRASH: "error",
    TIMEOUT: "timeout",
    INVALID_OUTPUT: "invalid",
}
FIXES = {
    IMPORT_ERROR: "fix the file so that it imports and defines unlearning(net, retain, forget, validation)",
    EXCEPTION: "fix the last line of your file in the traceback above (and see the hint, if any); submission.log has the whole traceback, marked with the run",
    TIMEOUT: "make unlearning faster, or raise --timeout",
    INVALID_OUTPUT: ("return the unlearned torch.nn.Module, of the benchmark's architecture, with finite weights "
                     "(checkpoints: torch.save(net.state_dict(), ...) of that module)"),
    WORKER_CRASH: "the process died without an answer; see submission.log (memory is limited by --memory-gb)",
}


MESSAGE_LIMIT = 4000  # characters of a submission's text kept in the ledger and shown on the console


def inert(text: str, limit: int | None = MESSAGE_LIMIT) -> str:
    """Text from a submission made safe to store and print: control and bidirectional format
    characters (terminal escapes, a right-to-left override) shown as escapes but for its tabs
    and newlines, and the middle cut out beyond `limit` characters (None: never, for the
    harness's own messages that merely name a participant's file)."""
    shown = visible(text, keep="\t\n")
    if limit is None or len(shown) <= limit:
        return shown
    half = limit // 2
    return f"{shown[:half]}\n[... {len(shown) - 2 * half} characters cut ...]\n{shown[-half:]}"


def message(failure_class: str, run_id: int, what: str) -> str:
    """`run N: what happened. Fix: ...`, with `what` made inert."""
    return f"run {run_id}: {inert(what.rstrip())}\nFix: {FIXES[failure_class]}."


def describe_exit(code: int | None) -> str:
    """How a worker process ended, in words."""
    if code is None:
        return "it stopped answering"
    if code < 0 or code > 128:
        number = -code if code < 0 else code - 128
        try:
            return f"it was killed by signal {signal.Signals(number).name}"
        except ValueError:
            return f"it was killed by signal {number}"
    return f"it exited with code {code}"
