"""Shared fixtures: the project's interpreter, a small reference cache, a CLI runner,
and sandboxed runs of a submission file without the scoring around them."""

import hashlib
import json
from pathlib import Path
import shutil
import subprocess
import sys
import uuid

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Tests that use these build references, start sandboxed workers or a cluster: marked slow, left out by `make test-fast`.
HEAVY_FIXTURES = frozenset({"reference_cache", "sandbox_inputs", "worker_setup", "run_in_sandbox", "score_cli", "cifar_cache", "cluster", "dask_references"})
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
N_SMALL = 16


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow every test that needs a reference cache or a sandbox, so that the fast tier is the rest."""
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def small_folder(folder: Path) -> Path:
    """A folder of submissions to rank: identity, finetune and one that always fails
    (named to come first by name, so that ranking must move it last)."""
    folder.mkdir(parents=True)
    for name in ("identity.py", "finetune.py"):
        shutil.copy(ROOT / "baselines" / name, folder / name)
    shutil.copy(ROOT / "tests" / "hostile" / "returns_tensor.py", folder / "a_failure.py")
    return folder


def cli_spec(cache_dir: Path, name: str = "digits-mlp"):
    """The spec the CLI scores with a cache: the named benchmark, its seeds sealed by the cache's secret."""
    from harness.benchmarks import get_benchmark
    from reference_models.secret import cache_secret, sealed

    return sealed(get_benchmark(name), cache_secret(cache_dir))


def failure_classes(records) -> list[str | None]:
    """Each ledger record's failure class, None for a run that ended ok."""
    return [record.failure_class for record in records]


ESCAPED = "class Escaped(Exception):\n    pass\n\n\n"  # what an attack submission raises when its attack worked


def attack_submission(tmp_path: Path, body: str, name: str | None = None) -> Path:
    """A hostile submission file under tmp_path/attacks/, its body after the `Escaped` class."""
    folder = tmp_path / "attacks"
    folder.mkdir(exist_ok=True)
    path = folder / (name or f"attack_{uuid.uuid4().hex[:8]}.py")
    path.write_text(ESCAPED + body)
    return path


def run_ledgers(ledger_dir: Path) -> list[Path]:
    """The run ledgers under a ledger root, without the yardstick's measurements kept beside them."""
    return sorted(path for path in ledger_dir.glob("*/*.parquet") if not path.name.endswith(".yardstick.parquet"))


def assert_all_ok(records) -> None:
    """Every run ended ok: each attack failed (an attack that works raises `Escaped`)."""
    assert failure_classes(records) == [None] * len(records), [record.message for record in records]


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
    (cache / "secret").write_text("5eed" * 16)  # a fixed secret: the same references, and the same test outcomes, every session
    result = run_cli("references", "--n-models", str(N_SMALL), "--cache-dir", str(cache), "--device", "cpu", "--quiet")
    assert result.returncode == 0, result.stderr
    return cache


# What tests of anything but the time budget's verdict pass: the yardstick measured once per cache, not retrained
# among every score's runs (the default, which costs about eight seconds a score at N = 16 on 2 cores).
CACHED_YARDSTICK = ("--yardstick", "cached")


@pytest.fixture
def score_cli(reference_cache, tmp_path):
    """Score a submission on digits-mlp with the shared cache; returns (process, score.json or None).
    The yardstick is the cached one unless `yardstick="paired"`."""

    def score(submission: Path, *extra: str, n_models: int = N_SMALL, out: Path | None = None, ledger: Path | None = None, bootstrap: int = 0,
              yardstick: str = "cached"):
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
            "--yardstick", yardstick,
            *extra,
        )
        path = out / "score.json"
        return result, (json.loads(path.read_text()) if path.exists() else None)

    return score


@pytest.fixture(scope="session")
def sandbox_inputs(reference_cache):
    """What run_in_sandbox hands a worker: the cache folder, the benchmark's data and the original weights."""
    from harness.benchmarks import get_benchmark
    from reference_models.cache import ReferenceCache
    from reference_models.datasets import load_benchmark_data
    from reference_models.files import state_dict_bytes
    from reference_models.secret import cache_secret, sealed

    spec = sealed(get_benchmark("digits-mlp"), cache_secret(reference_cache))
    references = ReferenceCache(reference_cache, spec).load(N_SMALL)
    return reference_cache, load_benchmark_data(spec), state_dict_bytes(references.original_state)


@pytest.fixture(scope="session")
def worker_setup(sandbox_inputs):
    """The WorkerSetup of a submission file on digits-mlp, as the harness builds it (the benchmark's public
    view, the cache's original weights and data)."""
    from harness.benchmarks import get_benchmark
    from harness.pipeline import answer_limit
    from harness.sandbox.protocol import WorkerSetup
    from reference_models.files import load_state_dict_bytes
    from reference_models.secret import public_view

    _, data, original = sandbox_inputs

    def setup_of(path: Path, memory_bytes: int = 2 << 30) -> WorkerSetup:
        return WorkerSetup(
            submission=str(path), source=path.read_text(), spec=public_view(get_benchmark("digits-mlp")), original_weights=original,
            retain=data.retain, forget=data.forget, validation=data.validation, memory_bytes=memory_bytes,
            max_answer_bytes=answer_limit(load_state_dict_bytes(original)),
        )

    return setup_of


@pytest.fixture
def run_in_sandbox(sandbox_inputs, worker_setup, tmp_path):
    """Runs a submission file through the real sandbox (`run_submission`, digits-mlp); returns (ledger
    records, submission.log path). Run seeds follow from the benchmark's public seeds, so that a
    hostile file can find which run it is; the references and data are the cache's (sealed)."""
    from harness.benchmarks import get_benchmark
    from harness.ledger import RunLedger
    from harness.runs import RunPlan, run_submission

    cache, data, _ = sandbox_inputs
    spec = get_benchmark("digits-mlp")

    def run_file(path: Path, n_runs: int = 2, timeout_s: float = 30.0, memory_bytes: int = 2 << 30):
        ledger = RunLedger(tmp_path / "ledgers", hashlib.sha256(path.read_bytes()).hexdigest(), spec.key())
        plan = RunPlan(n_runs, 1, timeout_s, spec, hidden=(cache, tmp_path / "ledgers", path.parent))
        log = tmp_path / "submission.log"
        run_submission(worker_setup(path, memory_bytes), data, ledger, plan, log, progress=False)
        return ledger.first(n_runs), log

    return run_file
