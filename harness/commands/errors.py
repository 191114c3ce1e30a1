"""The errors a command reports as one line and an exit code rather than a traceback.

Each of the harness's own carries its code (harness.commands.exit_codes) on its class; `exit_code_of` adds the two that
reference_models raises, and harness.commands.cli.main asks it in one place. Whatever it does not know is a bug: the
command ends with exit code 1 and its traceback.
"""

from typing import ClassVar

from harness.commands import exit_codes
from harness.commands.exit_codes import ExitCode
from reference_models.errors import CacheDamaged, InputError


class HarnessError(Exception):
    """An error the harness foresaw: its message says what happened and what to do."""

    exit_code: ClassVar[ExitCode] = exit_codes.INTERNAL


class UsageError(HarnessError):
    """An argument, file or setting refused before anything runs."""

    exit_code = exit_codes.USAGE


class ScoringStopped(HarnessError):
    """A command stopped by a cause outside the harness's code, met after its work began (data that became unreadable
    while it was read): not the command line's fault, and not a bug. What was computed before it is kept."""

    exit_code = exit_codes.INTERNAL


class YardstickUnmeasured(HarnessError):
    """A run of a baseline measured as the time budget's yardstick failed: there is no yardstick. The
    submission's runs made so far are in the ledger, so the same command resumes once the cause is fixed."""

    exit_code = exit_codes.YARDSTICK_FAILED


class Interrupted(HarnessError):
    """Ctrl-C while runs were going: the workers are gone, and `saved` runs are in the ledger (every run that
    finished before the interruption), so the same command resumes."""

    exit_code = exit_codes.INTERRUPTED

    def __init__(self, saved: int):
        super().__init__(f"interrupted; {saved} runs saved; run the same command to resume")
        self.saved = saved


def exit_code_of(error: BaseException) -> ExitCode | None:
    """The exit code a command ends with for `error`, or None where it is a bug (let it raise, traceback and all).

    An InputError is a usage error: the command reclassifies as ScoringStopped one met after its work began."""
    if isinstance(error, HarnessError):
        return error.exit_code
    if isinstance(error, CacheDamaged):
        return exit_codes.CACHE_DAMAGED
    if isinstance(error, InputError):
        return exit_codes.USAGE
    return None
