"""The gate for participants' files, attacked as a cheater would: links to the reference cache's secret,
FIFOs, sparse files of 512 MiB, names whose stem is `..`, notebooks nested 100,000 deep. Each attack is
judged from outside: the exit code, the console, what was written and where."""

import os
from pathlib import Path
import shutil
import time

import pyarrow.parquet as pq
import pytest

from conftest import CACHED_YARDSTICK, ONE_WORKER, ROOT, run_cli
from harness.commands.cli import main
from harness.submissions.untrusted import MAX_JSON_DEPTH, MAX_SUBMISSION_BYTES, SubmissionRefused, json_depth, loads_bounded, read_submission, results_folder

SECRET = "c0ffee" * 11  # what a cheater wants quoted back: the cache's secret seals the references' seeds
IDENTITY = (ROOT / "baselines" / "identity.py").read_text()


def _secret_file(tmp_path: Path) -> Path:
    secret = tmp_path / "cache" / "secret"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    return secret


def _deep_notebook(path: Path, depth: int = 100_000) -> Path:
    """A notebook whose metadata nests `depth` lists: the JSON around the cells, not a cell."""
    path.write_text('{"cells": [], "metadata": {"x": ' + "[" * depth + "]" * depth + '}, "nbformat": 4, "nbformat_minor": 5}')
    return path


def test_a_regular_file_is_read_whole(tmp_path):
    (tmp_path / "mine.py").write_text(IDENTITY)
    assert read_submission(tmp_path / "mine.py") == IDENTITY.encode()


def test_a_link_to_the_secret_is_refused_without_reading_it(tmp_path):
    link = tmp_path / "mine.py"
    link.symlink_to(_secret_file(tmp_path))
    with pytest.raises(SubmissionRefused, match="mine.py is a symbolic link") as refused:
        read_submission(link)
    assert SECRET not in str(refused.value)


def test_a_hard_link_a_fifo_and_a_sparse_giant_are_refused(tmp_path):
    os.link(_secret_file(tmp_path), tmp_path / "hard.py")
    os.mkfifo(tmp_path / "fifo.py")  # opened without O_NONBLOCK, this would hang the harness
    with open(tmp_path / "big.py", "wb") as big:
        big.truncate(512 << 20)  # sparse: costs no disk, would cost 512 MiB per worker once read
    with pytest.raises(SubmissionRefused, match="hard link"):
        read_submission(tmp_path / "hard.py")
    with pytest.raises(SubmissionRefused, match="not a regular file"):
        read_submission(tmp_path / "fifo.py")
    with pytest.raises(SubmissionRefused, match=f"over the {MAX_SUBMISSION_BYTES:,}"):
        read_submission(tmp_path / "big.py")


@pytest.mark.parametrize("name", ["...py", ".hidden.py", "a\u202egnp.py", "tab\there.py", ".py"])
def test_names_that_cannot_name_a_folder_are_refused(tmp_path, name):
    with pytest.raises(SubmissionRefused, match="cannot name its results folder"):
        results_folder(tmp_path / "out", tmp_path / name)


def test_a_results_folder_stays_inside_the_output_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert results_folder(out, tmp_path / "my entry.py") == out / "my entry"
    (out / "linked").symlink_to(tmp_path)  # a folder of that name left as a link elsewhere
    with pytest.raises(SubmissionRefused, match="outside the output folder"):
        results_folder(out, tmp_path / "linked.py")


def test_json_depth_takes_linear_time_on_an_unterminated_string():
    """A string of escaped quotes that never closes made the string pattern retry from each quote:
    16 kB took 1.4 s, and a notebook at the cap would have held the scorer for weeks."""
    start = time.perf_counter()
    assert json_depth('["' + '\\"' * 500_000) == 1
    assert time.perf_counter() - start < 5


def test_json_depth_counts_brackets_outside_strings_only():
    assert json_depth('{"a": [[1], {"b": "]]]]["}]}') == 3
    assert json_depth('["\\"[[[[", []]') == 2
    assert json_depth("1") == 0
    with pytest.raises(SubmissionRefused, match=f"100000 levels deep, over the {MAX_JSON_DEPTH}"):
        loads_bounded("[" * 100_000 + "]" * 100_000, "deep.ipynb")


def test_score_and_convert_refuse_a_deeply_nested_notebook_with_exit_2(tmp_path, capsys):
    notebook = _deep_notebook(tmp_path / "deep.ipynb")
    for argv in (["convert", str(notebook)], ["score", str(notebook), "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "deep.ipynb nests its JSON 100002 levels deep" in err and "Traceback" not in err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()  # refused before anything was made


def test_score_refuses_a_link_and_a_dotted_name_with_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "linked.py").symlink_to(_secret_file(tmp_path))
    (tmp_path / "...py").write_text(IDENTITY)
    assert main(["score", "linked.py", "--cache-dir", "cache"]) == 2
    assert "linked.py is a symbolic link" in capsys.readouterr().err
    assert main(["score", "...py", "--cache-dir", "cache"]) == 2
    assert "'...py' cannot name its results folder" in capsys.readouterr().err
    assert not (tmp_path / "results").exists() and sorted(os.listdir(tmp_path / "cache")) == ["secret"]


def test_a_board_refuses_hostile_entries_by_name_and_scores_the_rest(reference_cache, tmp_path):
    secret = (reference_cache / "secret").read_text()
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(ROOT / "baselines" / "identity.py", folder / "identity.py")
    (folder / "...py").write_text(IDENTITY)
    (folder / "leak.py").symlink_to(reference_cache / "secret")
    with open(folder / "huge.py", "wb") as huge:
        huge.truncate(512 << 20)
    out = tmp_path / "boards" / "board"
    result = run_cli("leaderboard", str(folder), "--n-models", "4", "--cache-dir", str(reference_cache), "--ledger-dir", str(tmp_path / "ledgers"),
                     "--out", str(out), "--quiet", "--bootstrap", "0", "--mia-models", "2", *CACHED_YARDSTICK, *ONE_WORKER)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "boards")) == ["board"]  # `...py` wrote nothing beside the board
    rows = {row["submission"]: row for row in pq.read_table(out / "leaderboard.parquet").to_pylist()}
    assert rows["identity"]["status"] == "scored" and rows["identity"]["final_score"] is not None
    assert {name: rows[name]["status"] for name in ("..", "leak", "huge")} == dict.fromkeys(("..", "leak", "huge"), "failed: refused")
    for name, reason in (("leak", "symbolic link"), ("huge", "bytes, over the"), ("..", "cannot name its results folder")):
        assert reason in result.stderr, name
    written = [path for path in out.rglob("*") if path.is_file()] + list((tmp_path / "ledgers").rglob("*"))
    for text in [result.stdout, result.stderr, *(path.read_bytes().decode("latin-1") for path in written if path.is_file())]:
        assert secret not in text
