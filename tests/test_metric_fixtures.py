"""The official preset equals the organisers' scorer on every fixture case, by API and by CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from scoring import cli as scoring_cli
from scoring.epsilon import estimate_epsilon
from scoring.quality import forgetting_quality

FIXTURES = ROOT / "tests" / "fixtures" / "official_metric_cases.npz"  # provenance: tests/fixtures/README.md


def _cases() -> list[str]:
    with np.load(FIXTURES) as data:
        return sorted({name.split("__")[0] for name in data.files})


def _case(name: str):
    with np.load(FIXTURES) as data:
        return data[f"{name}__U"], data[f"{name}__R"], data[f"{name}__eps"].astype(np.float32), float(data[f"{name}__score"])


@pytest.mark.parametrize("case", _cases())
@pytest.mark.parametrize("device", [None, "cpu"])
def test_matches_organisers_scorer(case, device):
    unlearned, retrained, expected_eps, expected_f = _case(case)
    estimate = estimate_epsilon(unlearned, retrained, device=device)
    np.testing.assert_allclose(estimate.epsilon, expected_eps, rtol=0, atol=1e-5)
    assert abs(forgetting_quality(estimate.epsilon, unlearned.shape[0]) - expected_f) <= 1e-12


@pytest.mark.parametrize("case", _cases())
def test_cli_matches_organisers_scorer(case, tmp_path):
    """Every case through the CLI's entry point (in this process: a subprocess per case
    costs seconds of imports; test_cli_bootstrap_and_bad_input runs the real command)."""
    unlearned, retrained, expected_eps, expected_f = _case(case)
    np.save(tmp_path / "u.npy", unlearned)
    np.save(tmp_path / "r.npy", retrained)
    out = tmp_path / "result.json"
    argv = ["forget-quality", "--unlearned", str(tmp_path / "u.npy"), "--retrained", str(tmp_path / "r.npy"), "--out", str(out)]
    assert scoring_cli.main(argv) == 0
    document = json.loads(out.read_text())
    assert abs(document["forget_quality"] - expected_f) <= 1e-12
    np.testing.assert_allclose(np.array(document["epsilons"], dtype=np.float32), expected_eps, rtol=0, atol=1e-5)
    assert set(document["epsilon_by_attack"]) == {"interval", "single-threshold"}
    assert (document["n_models"], document["n_examples"]) == unlearned.shape


def test_cli_bootstrap_and_bad_input(tmp_path):
    unlearned, retrained, _, expected_f = _case("same_dist")
    np.save(tmp_path / "u.npy", unlearned)
    np.save(tmp_path / "r.npy", retrained)
    args = [sys.executable, "-m", "scoring", "forget-quality", "--retrained", str(tmp_path / "r.npy"), "--out", str(tmp_path / "o.json")]
    ok = subprocess.run(args + ["--unlearned", str(tmp_path / "u.npy"), "--bootstrap", "5", "--attacks", "strong"], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    low, high = json.loads((tmp_path / "o.json").read_text())["forget_quality_ci95"]
    assert 0 <= low <= high <= 1
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    bad = subprocess.run(args + ["--unlearned", str(tmp_path / "bad.npy")], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "not a readable .npy array" in bad.stderr


def test_fixture_set_is_complete():
    assert set(_cases()) >= {"same_dist", "shifted", "separated", "narrower", "peaky", "discrete_ties", "wide_range", "n100"}


def test_cli_degenerate_inputs(tmp_path):
    """All values 1e30 give a defined result; no forget examples is refused."""
    def run(unlearned, retrained):
        np.save(tmp_path / "u.npy", unlearned)
        np.save(tmp_path / "r.npy", retrained)
        args = ["forget-quality", "--unlearned", str(tmp_path / "u.npy"), "--retrained", str(tmp_path / "r.npy"), "--out", str(tmp_path / "o.json")]
        return subprocess.run([sys.executable, "-m", "scoring", *args], cwd=ROOT, capture_output=True, text=True)

    huge = run(np.full((8, 3), 1e30), np.full((8, 3), 1e30))
    assert huge.returncode == 0, huge.stderr
    document = json.loads((tmp_path / "o.json").read_text())
    assert document["epsilons"] == [0.0, 0.0, 0.0] and document["undetermined_examples"] == 3
    assert document["forget_quality"] == 1.0
    empty = run(np.zeros((8, 0)), np.zeros((8, 0)))
    assert empty.returncode == 2 and "no forget examples" in empty.stderr
