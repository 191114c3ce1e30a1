"""Files a hostile participant writes to crash or fool the scorer, judged from outside:
exit codes, score.json, ledger rows, leaderboard rows and the console's bytes.

Each test is what a cheater would try; every command is a real subprocess.
"""

import json
import math
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import CACHED_YARDSTICK, ONE_WORKER, ROOT, run_cli
from reference_models.files import read_table, write_table_atomic

HOSTILE = ROOT / "tests" / "hostile"
EXIT_USAGE, EXIT_SUBMISSION_FAILED = 2, 3


def _ledger_rows(ledger_dir: Path) -> list[dict]:
    """Every row of the one ledger under `ledger_dir`."""
    (path,) = ledger_dir.glob("*/*.parquet")
    return read_table(path).to_pylist()


# ---------------------------------------------------------------- outputs that are not finite on one image


def test_nan_on_one_retain_image_fails_the_submission(score_cli, tmp_path):
    result, document = score_cli(HOSTILE / "nan_on_one_retain_image.py", n_models=4, ledger=tmp_path / "ledgers")
    assert result.returncode == EXIT_SUBMISSION_FAILED, result.stderr
    assert "Traceback" not in result.stderr
    rows = _ledger_rows(tmp_path / "ledgers")  # the runs in flight when the first failed finish too
    assert rows and {row["status"] for row in rows} == {"invalid"}
    assert document["status"] == "failed" and document["runs"]["invalid"] == len(rows)
    message = document["failures"]["invalid-output"]["first_message"]
    assert "retain_statistic" in message and "forget_statistic" not in message and "test_statistic" not in message


def test_nan_on_one_retain_image_with_failures_allowed_is_invalid_in_every_run(score_cli, tmp_path):
    result, document = score_cli(HOSTILE / "nan_on_one_retain_image.py", "--allow-failures", n_models=4)
    assert result.returncode == EXIT_SUBMISSION_FAILED, result.stderr  # no run left to score
    assert document["runs"] == {"ok": 0, "timeout": 0, "error": 0, "invalid": 4}
    assert document["failures"]["invalid-output"]["count"] == 4
    assert "Traceback" not in result.stderr


def test_an_ok_row_with_nan_from_an_older_harness_is_scored_as_invalid(score_cli, tmp_path):
    """A ledger written before every statistic was checked holds the cheat's run as ok; scoring it must not crash."""
    submission = ROOT / "baselines" / "identity.py"
    ledgers = tmp_path / "ledgers"
    first, _ = score_cli(submission, n_models=4, ledger=ledgers, out=tmp_path / "first")
    assert first.returncode == 0, first.stderr
    (path,) = ledgers.glob("*/*.parquet")
    table = read_table(path)
    rows = table.to_pylist()  # in finishing order
    poisoned = next(row for row in rows if row["run_id"] == 2)
    poisoned["retain_statistic"] = [math.nan, *poisoned["retain_statistic"][1:]]
    write_table_atomic(path, pa.Table.from_pylist(rows, schema=table.schema))

    result, document = score_cli(submission, n_models=4, ledger=ledgers, out=tmp_path / "strict")
    assert result.returncode == EXIT_SUBMISSION_FAILED, result.stderr
    assert document["runs"]["invalid"] == 1 and "run 2:" in document["failures"]["invalid-output"]["first_message"]
    allowed, scored = score_cli(submission, "--allow-failures", n_models=4, ledger=ledgers, out=tmp_path / "allowed")
    assert allowed.returncode == 0, allowed.stderr
    assert scored["status"] == "scored-with-failures" and scored["n_models_scored"] == 3
    assert "retain_sample" in scored["collateral_privacy"]


# ---------------------------------------------------------------- code nested too deeply to parse


DEFINITION = "import torch\n\n\ndef unlearning(net, retain, forget, validation):\n    return net\n"


def _deep_sum(terms: int) -> str:
    """`X = 1+1+...+1`: fine for Python at 2,000 terms (a walk over it recurses 2,000 deep); the parser gives up at 3,000."""
    return "X = " + "+".join(["1"] * terms) + "\n"


def _notebook(tmp_path: Path, cells: list[str]) -> Path:
    """A notebook: a markdown cell, then one code cell per text (so the code cells are 2, 3, ...)."""
    path = tmp_path / "deep.ipynb"
    code = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": text} for text in cells]
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# mine"}, *code]
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}))
    return path


@pytest.mark.parametrize("terms", [2000, 3000], ids=["walk-too-deep", "parse-too-deep"])
def test_a_notebook_too_deep_to_read_is_refused_naming_its_cell(score_cli, tmp_path, terms):
    notebook = _notebook(tmp_path, [DEFINITION, _deep_sum(terms)])
    result, document = score_cli(notebook, n_models=4)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "Traceback" not in result.stderr and "deep.ipynb: cell 3 could not be read (RecursionError" in result.stderr
    assert document is None  # refused before anything ran
    converted = run_cli("convert", str(notebook))
    assert converted.returncode == EXIT_USAGE and "Traceback" not in converted.stderr
    assert "cell 3 could not be read" in converted.stderr and converted.stdout == ""


def test_a_python_file_too_deep_to_parse_is_an_import_error(score_cli, tmp_path):
    """The worker reads the file's imports before any run: a parser that gives up must not kill it."""
    path = tmp_path / "deep.py"
    path.write_text(DEFINITION + _deep_sum(3000))
    result, document = score_cli(path, "--allow-failures", n_models=4)
    assert result.returncode == EXIT_SUBMISSION_FAILED, result.stderr
    assert document["failures"].keys() == {"import-error"} and document["failures"]["import-error"]["count"] == 4
    assert "RecursionError" in document["failures"]["import-error"]["first_message"]


# ---------------------------------------------------------------- a rival's file under the same name


@pytest.mark.parametrize("command", ["leaderboard", "stability"])
@pytest.mark.parametrize("rival", ["victim.ipynb", "Victim.py"])
def test_a_folder_with_two_files_of_one_name_is_refused_naming_both(in_process, tmp_path, command, rival):
    folder = tmp_path / "entries"
    folder.mkdir()
    (folder / "victim.py").write_text((ROOT / "baselines" / "identity.py").read_text())
    (folder / rival).write_text((ROOT / "tests" / "kaggle" / "cifar_kit.ipynb").read_text() if rival.endswith(".ipynb") else DEFINITION)
    out, cache = tmp_path / "out", tmp_path / "cache"
    result = in_process(command, str(folder), "--n-models", "4" if command == "leaderboard" else "4,8", "--out", str(out), "--cache-dir", str(cache),
                        "--ledger-dir", str(tmp_path / "l"), "--quiet")
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "victim.py" in result.stderr and rival in result.stderr and "rename one of them" in result.stderr
    assert not out.exists() and not cache.exists()  # refused before any reference or run


# ---------------------------------------------------------------- terminal escapes in file names


EVIL = "evil\x1b]0;pwned\x07\x1b[2J"  # sets the terminal's title, then clears the screen
SHOWN = "evil\\x1b]0;pwned\\x07\\x1b[2J"


def _console(result) -> str:
    return result.stdout + result.stderr


def _assert_inert(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text
    assert SHOWN in text


def test_an_escape_in_a_file_name_never_reaches_the_console_raw(score_cli, tmp_path):
    submission = tmp_path / f"{EVIL}.py"
    submission.write_text((ROOT / "baselines" / "identity.py").read_text())
    result, document = score_cli(submission, n_models=4, out=tmp_path / "out", report=True)
    assert result.returncode == 0, result.stderr
    _assert_inert(_console(result))
    assert document["submission"] == str(submission)  # score.json keeps the true name (JSON escapes it)
    report = (tmp_path / "out" / "report.html").read_text()
    assert "\x1b" not in report and SHOWN in report

    broken = tmp_path / f"{EVIL}.ipynb"
    broken.write_text("{not json")
    refused, _ = score_cli(broken, n_models=4)
    assert refused.returncode == EXIT_USAGE
    _assert_inert(_console(refused))
    missing, _ = score_cli(tmp_path / f"{EVIL}-gone.py", n_models=4)
    assert missing.returncode == EXIT_USAGE
    _assert_inert(_console(missing))


def test_an_escape_in_a_file_name_is_inert_in_the_leaderboard(reference_cache, tmp_path):
    folder = tmp_path / "entries"
    folder.mkdir()
    (folder / f"{EVIL}.py").write_text((ROOT / "baselines" / "identity.py").read_text())
    (folder / f"{EVIL}-\nforged | 1 |.ipynb").write_text("{not json")  # refused; the newline would forge a table row
    out = tmp_path / "board"
    result = run_cli("leaderboard", str(folder), "--n-models", "4", "--bootstrap", "0", "--mia-models", "4", "--cache-dir", str(reference_cache),
                     "--ledger-dir", str(tmp_path / "ledgers"), "--out", str(out), "--quiet", *CACHED_YARDSTICK, *ONE_WORKER)
    assert result.returncode == 0, result.stderr
    _assert_inert(_console(result))
    markdown, page = (out / "leaderboard.md").read_text(), (out / "leaderboard.html").read_text()
    for text in (markdown, page):
        assert not any(ord(c) < 0x20 and c != "\n" for c in text)
        assert SHOWN in text
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(rows) == 4 and "\\x0aforged \\| 1 \\|" in rows[3]  # header, its rule, and one row per file (the refused one last)


def test_convert_shows_the_dropped_lines_inert(in_process, tmp_path):
    notebook = _notebook(tmp_path, [DEFINITION, f'print("{EVIL}")\n'])
    result = in_process("convert", str(notebook))
    assert result.returncode == 0, result.stderr
    _assert_inert(result.stderr)
