"""One error family, mapped to exit codes in one place (harness.commands.errors, harness.commands.cli.main).

A foreseen error ends a command with its line and code; anything else is a bug and must surface as one,
with its traceback and exit code 1, never as "bad input" (exit 2).
"""

from pathlib import Path
import subprocess
import sys

import pytest

from harness.commands import exit_codes
from harness.commands.errors import HarnessError, Interrupted, ScoringStopped, UsageError, YardstickUnmeasured, exit_code_of
from harness.competition import CompetitionFileError
from harness.running.backends import BackendUnavailable
from harness.session import SandboxUnavailable
from harness.submissions.untrusted import SubmissionRefused
from reference_models.errors import CacheDamaged, InputError
from reference_models.image_files import DataDirError

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UsageError("x"), exit_codes.USAGE),
        (SubmissionRefused("x"), exit_codes.USAGE),
        (CompetitionFileError("x"), exit_codes.USAGE),
        (SandboxUnavailable("x"), exit_codes.USAGE),
        (BackendUnavailable("x"), exit_codes.USAGE),
        (InputError("x"), exit_codes.USAGE),
        (DataDirError("x"), exit_codes.USAGE),
        (CacheDamaged("x"), exit_codes.CACHE_DAMAGED),
        (YardstickUnmeasured("x"), exit_codes.YARDSTICK_FAILED),
        (Interrupted(7), exit_codes.INTERRUPTED),
        (ScoringStopped("x"), exit_codes.INTERNAL),
        (ValueError("a bug"), None),
        (KeyError("a bug"), None),
        (RuntimeError("a bug"), None),
    ],
)
def test_each_error_has_its_exit_code_and_a_bug_has_none(error, expected):
    assert exit_code_of(error) == expected


def test_every_code_but_success_and_a_failed_submission_is_some_error_s():
    """A code in the table that no error carries would be one --help promises and nothing returns
    (3 is returned for a document without a score, 0 for success)."""
    carried = {cls.exit_code for cls in _subclasses(HarnessError)} | {exit_codes.CACHE_DAMAGED, exit_codes.USAGE}
    assert set(exit_codes.EXIT_CODES) - carried == {exit_codes.OK, exit_codes.SUBMISSION_FAILED}


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found)) if found else found


def _main_with(replacement: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    """`python -m harness score` in a real process whose pipeline `score` is replaced by `replacement`
    (a lambda's source), so that an error can be raised where a real one would be."""
    program = (
        "import sys\nimport harness.commands.cli as cli\n"
        f"cli.score = {replacement}\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", program, "score", str(ROOT / "baselines" / "finetune.py"), "--n-models", "3", "--no-sandbox",
         "--cache-dir", str(tmp_path / "cache"), "--ledger-dir", str(tmp_path / "ledgers"), "--out", str(tmp_path / "out"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


RAISE = "lambda *args, **kwargs: (_ for _ in ()).throw({})"


@pytest.mark.cli
def test_a_bug_raised_as_a_value_error_in_the_pipeline_exits_1_with_its_traceback(tmp_path):
    process = _main_with(RAISE.format("ValueError('a bug in the pipeline')"), tmp_path)
    assert process.returncode == 1, process.stderr
    assert "Traceback (most recent call last)" in process.stderr and "ValueError: a bug in the pipeline" in process.stderr


@pytest.mark.cli
def test_data_found_unreadable_while_scoring_is_no_usage_error(tmp_path):
    """The command line was fine: the data broke under it. Exit 1, one line, no traceback."""
    process = _main_with(RAISE.format("__import__('reference_models.image_files').image_files.DataDirError('x.png: cannot be read')"), tmp_path)
    assert process.returncode == 1, process.stderr
    assert process.stderr.strip() == "error: scoring stopped: x.png: cannot be read"


def test_a_damaged_cache_secret_exits_4_naming_the_file_and_what_to_do(tmp_path, in_process):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "secret").write_text("not a secret\n")
    result = in_process("score", str(ROOT / "baselines" / "finetune.py"), "--n-models", "3", "--no-sandbox", "--cache-dir", str(tmp_path / "cache"),
                        "--out", str(tmp_path / "out"))
    assert result.returncode == exit_codes.CACHE_DAMAGED.code, result.stderr
    assert "is not a reference-cache secret" in result.stderr and "delete it and the cache" in result.stderr
