"""`python -m harness leaderboard`: a folder scored against shared references, ranked."""

import shutil

from conftest import ROOT, run_cli

HOSTILE = ROOT / "tests" / "hostile"


def _table_rows(markdown: str) -> list[list[str]]:
    """The cells of each table row below the header."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")][2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_failing_submission_is_ranked_last(reference_cache, tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(ROOT / "baselines" / "identity.py", folder / "identity.py")
    shutil.copy(ROOT / "baselines" / "finetune.py", folder / "finetune.py")
    shutil.copy(HOSTILE / "returns_none.py", folder / "a_failure.py")  # first by name, last by rank
    out = tmp_path / "board"
    result = run_cli(
        "leaderboard", str(folder), "--n-models", "4", "--cache-dir", str(reference_cache),
        "--ledger-dir", str(tmp_path / "ledgers"), "--out", str(out), "--quiet", "--bootstrap", "0", "--mia-models", "2",
    )
    assert result.returncode == 0, result.stderr
    markdown = (out / "leaderboard.md").read_text()
    assert markdown == result.stdout.split("written ")[0].rstrip("\n") + "\n"
    rows = _table_rows(markdown)
    assert [row[1] for row in rows] == ["`finetune`", "`identity`", "`a_failure`"]
    assert [row[0] for row in rows] == ["1", "2", "-"]
    assert rows[2][-1] == "failed: invalid-output" and rows[2][2] == "n/a"
    assert float(rows[0][2]) > float(rows[1][2]) == 0.0
    for name in ("identity", "finetune", "a_failure"):
        assert (out / name / "score.json").is_file()
    assert "digits-mlp" in markdown and "Versions:" in markdown and "Hardware:" in markdown


def test_folder_without_submissions_is_a_clear_error(tmp_path):
    result = run_cli("leaderboard", str(tmp_path), "--n-models", "4")
    assert result.returncode == 2
    assert "not a folder with submission files" in result.stderr
