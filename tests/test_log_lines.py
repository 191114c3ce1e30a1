"""submission.log's lines marked with their run, so that two workers' output can be read apart."""

from harness.sandbox.log_lines import RunLines


class _Runs:
    """The run the parent last asked a worker for, as SandboxWorker keeps it."""

    def __init__(self) -> None:
        self.current: int | None = None

    def __call__(self) -> int | None:
        return self.current


def test_lines_after_a_marker_carry_its_run_and_partial_lines_wait_for_their_end():
    written: list[bytes] = []
    runs = _Runs()
    lines = RunLines(written.append, runs)
    lines.feed(b"before\n")
    runs.current = 3
    for chunk in [b"--- run ---\nhel", b"lo\nwor", b"ld\n"]:
        lines.feed(chunk)
    runs.current = 7
    for chunk in [b"--- run ---\n", b"last without newline"]:
        lines.feed(chunk)
    lines.end()
    assert b"".join(written) == b"before\n--- run 3 ---\n[run 3] hello\n[run 3] world\n--- run 7 ---\n[run 7] last without newline\n"


def test_a_run_cannot_forge_another_runs_marks():
    """A participant who prints markers of its own gets its own run's id on them, and a numbered
    marker is one of its lines like any other."""
    written: list[bytes] = []
    runs = _Runs()
    runs.current = 5
    lines = RunLines(written.append, runs)
    lines.feed(b"--- run ---\n--- run 9 ---\nhello\n--- run ---\n")
    assert b"".join(written).decode().splitlines() == ["--- run 5 ---", "[run 5] --- run 9 ---", "[run 5] hello", "--- run 5 ---"]


def test_two_workers_interleaved_in_one_log_stay_readable():
    """Chunks of two workers alternate in one file, as with --jobs 2; every line still says whose it is."""
    log: list[bytes] = []
    first_run, second_run = _Runs(), _Runs()
    first_run.current, second_run.current = 0, 1
    first, second = RunLines(log.append, first_run), RunLines(log.append, second_run)
    first.feed(b"--- run ---\nepoch 1\n")
    second.feed(b"--- run ---\nepoch 1\n")
    first.feed(b"epoch 2\n")
    second.feed(b"epoch 2\n")
    text = b"".join(log).decode().splitlines()
    assert text == ["--- run 0 ---", "[run 0] epoch 1", "--- run 1 ---", "[run 1] epoch 1", "[run 0] epoch 2", "[run 1] epoch 2"]


def test_a_line_without_end_is_not_held_past_the_longest_line():
    written: list[bytes] = []
    runs = _Runs()
    runs.current = 2
    lines = RunLines(written.append, runs)
    lines.feed(b"--- run ---\n" + b"x" * (1 << 16))
    assert written[-1].startswith(b"[run 2] xxx") and not lines.partial
