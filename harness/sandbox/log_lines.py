"""Each line of a worker's output marked with the run that printed it.

With several jobs, several workers write into one submission.log at once;
their chunks interleave, so a line is only readable with its run's id on it.
The worker never learns a run's id (a run that knew its index could tell
the runs that are scored from the others), so each run's part starts with
a bare `--- run ---`, and the parent, which knows which run it asked its
worker for, writes it as `--- run N ---`; every later line of that worker
is prefixed `[run N] ` until its next marker. A run's marker is printed
after its request was sent, so the parent's current run is already the
marker's; a marker that a participant prints is given the current run too.
"""

from collections.abc import Callable, Iterator

MARKER = b"--- run ---"
_LONGEST_LINE = 1 << 16  # a line this long without a newline is written as it stands, not held


class RunLines:
    """Whole lines, prefixed with their run, from the chunks of one worker's output."""

    def __init__(self, write: Callable[[bytes], None], current_run: Callable[[], int | None]):
        self.write = write
        self.current_run = current_run
        self.prefix = b""
        self.partial = b""

    def feed(self, chunk: bytes) -> None:
        for line in self._lines(self.partial + chunk):
            if line.rstrip(b"\n") == MARKER:
                run = str(self.current_run()).encode()
                self.prefix = b"[run " + run + b"] "
                self.write(b"--- run " + run + b" ---\n")
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
