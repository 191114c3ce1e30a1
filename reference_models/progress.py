"""What a command says on stderr while it works: its notes and warnings (through `logging`) and its progress.

On a terminal, progress is a bar and notes are written above it; anywhere else (a log file, CI, a pipe) a bar
would be a stream of carriage returns, so a plain line ("k/N runs, ETA 40 s") is logged every few seconds
instead. The command line sets the level once (`configure`): -q leaves the result, warnings and errors; -v
adds the details (worker starts, cache hits, the time each stage took). Here, in the lowest layer that shows
progress, so that the reference cache's build and the harness's runs share it.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import sys
import time
from types import TracebackType

from tqdm import tqdm

PACKAGES = ("harness", "reference_models")  # the loggers configured: the modules' own, named by __name__
PLAIN_EVERY_S = 10.0
log = logging.getLogger(__name__)


class _Stderr(logging.Handler):
    """Writes each record to the current sys.stderr, above any progress bar, prefixed by its level where it is not a note."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            prefix = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
            tqdm.write(prefix + record.getMessage(), file=sys.stderr)
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure(verbosity: int) -> None:
    """-1 (quiet): warnings and errors; 0: notes and progress too; 1 (verbose): the details too."""
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    for name in PACKAGES:
        logger = logging.getLogger(name)
        logger.handlers[:] = [_Stderr()]
        logger.setLevel(level)
        logger.propagate = False


class PlainProgress:
    """tqdm's interface, as a log line every `every_s` seconds and one at the end: for a stderr that is not a terminal."""

    def __init__(self, total: int, desc: str, unit: str, every_s: float = PLAIN_EVERY_S, clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.unit, self.every_s, self.clock = total, desc, unit, every_s, clock
        self.n = 0
        self.start = self.said = clock()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.said >= self.every_s or self.n >= self.total:
            self.said = now
            log.info(self.line(now))

    def line(self, now: float) -> str:
        rate = self.n / (now - self.start) if now > self.start else 0.0
        eta = f", ETA {(self.total - self.n) / rate:.0f} s" if 0 < self.n < self.total and rate > 0 else ""
        return f"{self.desc}: {self.n}/{self.total} {self.unit}s{eta}"

    def close(self) -> None:
        pass

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()


Progress = tqdm | PlainProgress


def progress(total: int, desc: str, unit: str, shown: bool = True) -> Progress:
    """A bar on a terminal, a plain line elsewhere, nothing where `shown` is False or the command is quiet (-q).
    Where no command configured the output (the harness used as a library), a bar on a terminal and nothing elsewhere."""
    configured = bool(logging.getLogger(__name__.split(".")[0]).handlers)
    if not shown or (configured and not log.isEnabledFor(logging.INFO)):
        return tqdm(total=total, disable=True)
    if sys.stderr.isatty() or not configured:
        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None)
    return PlainProgress(total, desc, unit)
