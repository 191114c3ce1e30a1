"""Each line of a worker's output marked with the run that printed it.

With several jobs, several workers write into one submission.log at once;
their chunks interleave, so a line is only readable with its run's id on it.
The worker starts each run's part with `--- run N ---`; every later line of
that worker is prefixed `[run N] ` until its next marker.
"""

from collections.abc import Callable, Iterator
import re

_MARKER = re.compile(rb"^--- run (\d+) ---$")
_LONGEST_LINE = 1 << 16  # a line this long without a newline is written as it stands, not held


class RunLines:
    """Whole lines, prefixed with their run, from the chunks of one worker's output."""

    def __init__(self, write: Callable[[bytes], None]):
        self.write = write
        self.prefix = b""
        self.partial = b""

    def feed(self, chunk: bytes) -> None:
        for line in self._lines(self.partial + chunk):
            marker = _MARKER.match(line.rstrip(b"\n"))
            if marker:
                self.prefix = b"[run " + marker.group(1) + b"] "
                self.write(line)
            else:
                self.write(self.prefix + line)

    def end(self) -> None:
        """The worker's output ended: its last line, if it had no newline."""
        if self.partial:
            self.write(self.prefix + self.partial + b"\n")
            self.partial = b""

    def _lines(self, text: bytes) -> Iterator[bytes]:
        *whole, self.partial = text.split(b"\n")
        yield from (line + b"\n" for line in whole)
        if len(self.partial) >= _LONGEST_LINE:
            yield self.partial
            self.partial = b""
