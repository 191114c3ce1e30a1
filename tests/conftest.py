"""Shared fixtures: the project's interpreter, a small reference cache, a CLI runner."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
N_SMALL = 16


def small_folder(folder: Path) -> Path:
    """A folder of submissions to rank: identity, finetune and one that always fails
    (named to come first by name, so that ranking must move it last)."""
    folder.mkdir(parents=True)
    for name in ("identity.py", "finetune.py"):
        shutil.copy(ROOT / "baselines" / name, folder / name)
    shutil.copy(ROOT / "tests" / "hostile" / "returns_tensor.py", folder / "a_failure.py")
    return folder


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m harness ARGS` in a real subprocess, from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def reference_cache(tmp_path_factory) -> Path:
    """digits-mlp references for N_SMALL models, built once for the whole session."""
    cache = tmp_path_factory.mktemp("references")
    result = run_cli("references", "--n-models", str(N_SMALL), "--cache-dir", str(cache), "--device", "cpu", "--quiet")
    assert result.returncode == 0, result.stderr
    return cache


@pytest.fixture
def score_cli(reference_cache, tmp_path):
    """Score a submission on digits-mlp with the shared cache; returns (process, score.json or None)."""

    def score(submission: Path, *extra: str, n_models: int = N_SMALL, out: Path | None = None, ledger: Path | None = None, bootstrap: int = 0):
        out = out or tmp_path / "out"
        ledger = ledger or tmp_path / "ledgers"
        result = run_cli(
            "score", str(submission),
            "--n-models", str(n_models),
            "--cache-dir", str(reference_cache),
            "--ledger-dir", str(ledger),
            "--out", str(out),
            "--quiet",
            "--bootstrap", str(bootstrap),
            "--mia-models", "4",
            *extra,
        )
        path = out / "score.json"
        return result, (json.loads(path.read_text()) if path.exists() else None)

    return score
