"""The harness's exit codes: one table, which `--help`, the README and make's message are checked against."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ExitCode:
    code: int
    meaning: str


OK = ExitCode(0, "scored; for leaderboard and stability, the tables written (failing entries ranked last); for references, built")
INTERNAL = ExitCode(1, "the harness failed: a bug (its traceback printed), or data that became unreadable while scoring; what was computed is kept")
USAGE = ExitCode(2, "bad arguments or input, found before anything ran: a file that is not a .py or .ipynb submission, a competition "
                    "file's value, data the benchmark cannot use, an unreachable Dask scheduler, no sandbox buildable here without --no-sandbox")
SUBMISSION_FAILED = ExitCode(3, "the submission failed: some runs failed and --allow-failures was not given")
CACHE_DAMAGED = ExitCode(4, "the reference cache is damaged: its secret is not one, or its files do not match and --no-rebuild was given")
YARDSTICK_FAILED = ExitCode(5, "the time budget's yardstick could not be measured (a baseline's run failed; the runs made are kept)")
INTERRUPTED = ExitCode(130, "interrupted by Ctrl-C (128 + SIGINT): the finished runs are in the ledger, and the same command resumes")

EXIT_CODES = (OK, INTERNAL, USAGE, SUBMISSION_FAILED, CACHE_DAMAGED, YARDSTICK_FAILED, INTERRUPTED)


def help_epilog() -> str:
    """The exit codes as --help lists them."""
    return "exit codes:\n" + "\n".join(f"  {exit_code.code:<4} {exit_code.meaning}" for exit_code in EXIT_CODES)
