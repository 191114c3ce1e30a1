"""What a command says on stderr (reference_models.progress): notes, warnings and progress through logging,
-q and -v, and a plain progress line where stderr is not a terminal."""

import logging
import sys

import pytest
from tqdm import tqdm

from reference_models import progress as output
from reference_models.progress import PlainProgress, configure, progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def notes(capsys):
    """What the test wrote on stderr, which pytest's capture makes a stream that is not a terminal, as in CI or a log file."""
    yield lambda: capsys.readouterr().err.splitlines()
    for name in output.PACKAGES:  # as before any command configured it
        logger = logging.getLogger(name)
        logger.handlers[:], logger.propagate = [], True
        logger.setLevel(logging.NOTSET)


def test_a_plain_line_every_few_seconds_with_its_eta_and_one_at_the_end(notes):
    configure(0)
    clock = Clock()
    bar = PlainProgress(10, "unlearning runs", "run", every_s=10.0, clock=clock)
    for second in (1, 2, 11, 12, 25):  # a run ends at each of these seconds
        clock.now = 100.0 + second
        bar.update()
    clock.now = 150.0
    bar.update(5)
    assert notes() == ["unlearning runs: 3/10 runs, ETA 26 s", "unlearning runs: 5/10 runs, ETA 25 s",
                                             "unlearning runs: 10/10 runs"]


def test_progress_is_a_plain_line_off_a_terminal_a_bar_on_one_and_nothing_when_quiet(notes, monkeypatch):
    configure(0)
    assert isinstance(progress(4, "runs", "run"), PlainProgress)
    assert progress(4, "runs", "run", shown=False).disable
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    bar = progress(4, "runs", "run")
    assert isinstance(bar, tqdm) and not bar.disable
    bar.close()
    configure(-1)
    assert progress(4, "runs", "run").disable


def test_quiet_keeps_warnings_and_verbose_adds_the_details(notes):
    harness_log, cache_log = logging.getLogger("harness.pipeline"), logging.getLogger("reference_models.cache")
    for verbosity in (-1, 0, 1):
        configure(verbosity)
        harness_log.debug("worker 12 started")
        cache_log.info("7 of 8 runs kept from the ledger")
        harness_log.warning("no cgroup could be made here")
    assert notes() == [
        "warning: no cgroup could be made here",  # -q
        "7 of 8 runs kept from the ledger", "warning: no cgroup could be made here",  # default
        "worker 12 started", "7 of 8 runs kept from the ledger", "warning: no cgroup could be made here",  # -v
    ]


def test_unconfigured_the_harness_shows_a_bar_only_on_a_terminal(monkeypatch):
    """Used as a library, without the command line: nothing of this module's configuration applies."""
    for name in output.PACKAGES:
        monkeypatch.setattr(logging.getLogger(name), "handlers", [])
    assert progress(4, "runs", "run").disable  # pytest's stderr is no terminal


@pytest.mark.references
def test_verbose_names_the_cache_hit_and_quiet_says_only_the_result(in_process, reference_cache):
    verbose = in_process("references", "--n-models", "4", "--cache-dir", str(reference_cache), "--device", "cpu", "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert f"references: the original and 4 retrained models found in {reference_cache}" in verbose.stderr
    quiet = in_process("references", "--n-models", "4", "--cache-dir", str(reference_cache), "--device", "cpu", "-q")
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout.startswith("references for digits-mlp")
    both = in_process("references", "-q", "-v")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
