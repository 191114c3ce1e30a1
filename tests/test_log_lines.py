"""submission.log's lines marked with their run, so that two workers' output can be read apart."""

from harness.sandbox.log_lines import RunLines


def test_lines_after_a_marker_carry_its_run_and_partial_lines_wait_for_their_end():
    written: list[bytes] = []
    lines = RunLines(written.append)
    for chunk in [b"before\n--- run 3 ---\nhel", b"lo\nwor", b"ld\n--- run 7 ---\n", b"last without newline"]:
        lines.feed(chunk)
    lines.end()
    assert b"".join(written) == b"before\n--- run 3 ---\n[run 3] hello\n[run 3] world\n--- run 7 ---\n[run 7] last without newline\n"


def test_two_workers_interleaved_in_one_log_stay_readable():
    """Chunks of two workers alternate in one file, as with --jobs 2; every line still says whose it is."""
    log: list[bytes] = []
    first, second = RunLines(log.append), RunLines(log.append)
    first.feed(b"--- run 0 ---\nepoch 1\n")
    second.feed(b"--- run 1 ---\nepoch 1\n")
    first.feed(b"epoch 2\n")
    second.feed(b"epoch 2\n")
    text = b"".join(log).decode().splitlines()
    assert text == ["--- run 0 ---", "[run 0] epoch 1", "--- run 1 ---", "[run 1] epoch 1", "[run 0] epoch 2", "[run 1] epoch 2"]


def test_a_line_without_end_is_not_held_past_the_longest_line():
    written: list[bytes] = []
    lines = RunLines(written.append)
    lines.feed(b"--- run 2 ---\n" + b"x" * (1 << 16))
    assert written[-1].startswith(b"[run 2] xxx") and not lines.partial
