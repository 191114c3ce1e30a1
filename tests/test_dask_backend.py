"""`--backend dask`: the same numbers as the local backend, on a LocalCluster on the loopback.

References built through each backend and the runs scored on each are
compared field by field (timings aside), and the time budget's retrainings are
measured among the runs on the cluster as locally; a run past its hard timeout on a
cluster worker is recorded and its chunk goes on; GPU tasks land only on
workers that offer the GPU resource; an unreachable scheduler and a missing
Dask say so.
"""

import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from conftest import CACHED_YARDSTICK, NO_REPORT, ROOT, cli_spec, run_cli, run_ledgers
from harness.benchmarks import get_benchmark
from harness.running.backends import BackendUnavailable, compute_backend
from harness.running.runs import run_seed
from reference_models.secret import SECRET_FILE

distributed = pytest.importorskip("distributed")

N = 8
SPEC = get_benchmark("digits-mlp")


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes on the loopback, as an organiser's cluster would have."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0") as local:
        yield local


@pytest.fixture(scope="module")
def submission(tmp_path_factory) -> Path:
    """A copy of finetune: every command here scores the same bytes."""
    path = tmp_path_factory.mktemp("submission") / "finetune.py"
    shutil.copy(ROOT / "baselines" / "finetune.py", path)
    return path


@pytest.fixture(scope="module")
def dask_references(tmp_path_factory, seed_yardstick) -> Path:
    """References for N models, built through a LocalCluster that the harness starts itself, with the
    session's cached yardstick (the paired one is measured where a test asks for it)."""
    cache = tmp_path_factory.mktemp("dask-cache")
    built = run_cli("references", "--n-models", str(N), "--jobs", "2", "--cache-dir", str(cache), "--quiet", "--backend", "dask",
                    "--device", "cpu")  # bit-identical on CPUs; cuDNN is not deterministic
    assert built.returncode == 0, built.stderr
    seed_yardstick(cache)
    return cache


def _score(submission: Path, root: Path, cache: Path, *extra: str, n_models: int = N) -> tuple[subprocess.CompletedProcess, dict | None]:
    out = root / "out"
    result = run_cli("score", str(submission), "--n-models", str(n_models), "--jobs", "2", "--cache-dir", str(cache),
                     "--ledger-dir", str(root / "ledgers"), "--out", str(out), "--quiet", "--bootstrap", "0", "--mia-models", "4",
                     "--device", "cpu", *NO_REPORT, *extra)
    path = out / "score.json"
    return result, (json.loads(path.read_text()) if path.exists() else None)


def _ledger(root: Path) -> list[dict]:
    """The ledger's rows by run id, without the clock."""
    (path,) = run_ledgers(root / "ledgers")
    rows = sorted(pq.read_table(path).to_pylist(), key=lambda row: row["run_id"])
    return [{key: value for key, value in row.items() if key not in ("unlearn_seconds", "wall_seconds", "import_seconds")} for row in rows]


def _measured(root: Path) -> list[tuple[str, int]]:
    """Which baseline runs were measured beside the runs, as the yardstick."""
    (path,) = (root / "ledgers").glob("*/*.yardstick.parquet")
    return sorted((row["baseline"], row["index"]) for row in pq.read_table(path).to_pylist())


def _references(cache: Path) -> dict:
    """What the cache holds of each model: its outputs, and its weights' checksum from the manifest."""
    (manifest,) = cache.glob("*/manifest.json")
    tables = {path.stem: sorted(pq.read_table(path).to_pylist(), key=lambda row: row["index"]) for path in manifest.parent.glob("*.parquet")}
    return {"models": json.loads(manifest.read_text())["models"], "outputs": tables}


def test_dask_scores_as_the_local_backend(cluster, dask_references, submission, tmp_path):
    (tmp_path / "local-cache").mkdir()
    shutil.copy(dask_references / SECRET_FILE, tmp_path / "local-cache" / SECRET_FILE)  # one secret: the same references
    shutil.copytree(dask_references / "yardsticks", tmp_path / "local-cache" / "yardsticks")  # and the same cached yardstick
    local, local_doc = _score(submission, tmp_path / "local", tmp_path / "local-cache")
    assert local.returncode == 0, local.stderr
    dask, dask_doc = _score(submission, tmp_path / "dask", dask_references, "--backend", "dask", "--scheduler", cluster.scheduler_address)
    assert dask.returncode == 0, dask.stderr

    assert _references(dask_references) == _references(tmp_path / "local-cache")
    assert _ledger(tmp_path / "dask") == _ledger(tmp_path / "local")
    assert len(_ledger(tmp_path / "dask")) == N
    assert _measured(tmp_path / "dask") == _measured(tmp_path / "local") == [(name, i) for name in ("identity", "retrain") for i in range(11)]
    assert dask_doc["time_budget"]["yardstick"] == "paired" and (tmp_path / "dask" / "out" / "yardstick-retrain.log").exists()
    timings = ("time_budget",)
    assert {k: v for k, v in dask_doc.items() if k not in timings} == {k: v for k, v in local_doc.items() if k not in timings}
    assert dask_doc["runs"]["ok"] == N and (tmp_path / "dask" / "out" / "submission.log").exists()


def test_timeout_on_a_cluster_worker_is_recorded_and_the_chunk_goes_on(cluster, dask_references, tmp_path):
    """Run 0 sleeps past the hard timeout; run 1, in the same chunk, gets a new sandbox worker."""
    sleeper = tmp_path / "sleeps_on_run_0.py"
    sleeper.write_text(
        "import time\nimport torch\n\n\ndef unlearning(net, retain, forget, validation):\n"
        f"    if torch.initial_seed() == {run_seed(cli_spec(dask_references), 0)}:\n        time.sleep(600)\n"
        "    print('run done', flush=True)\n    return net\n"
    )
    result, document = _score(sleeper, tmp_path, dask_references, "--timeout", "3", "--allow-failures", *CACHED_YARDSTICK,
                              "--backend", "dask", "--scheduler", cluster.scheduler_address, n_models=4)
    assert result.returncode == 0, result.stderr
    assert document["runs"] == {"ok": 3, "timeout": 1, "error": 0, "invalid": 0}
    assert [row["status"] for row in _ledger(tmp_path)] == ["timeout", "ok", "ok", "ok"]
    assert (tmp_path / "out" / "submission.log").read_text().count("run done") == 3


@pytest.mark.cluster
def test_gpu_tasks_run_only_on_gpu_workers():
    """Through joblib's Dask backend, tasks ask for the GPU resource: a worker without one gets none."""
    from joblib import Parallel, delayed

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=":0") as cpu_only:
        address = cpu_only.scheduler_address
        with pytest.raises(BackendUnavailable, match="offers a GPU"):
            with compute_backend("dask", address, jobs=2, gpu=True):
                pass
        dask = Path(sys.executable).with_name("dask")
        gpu_worker = subprocess.Popen([str(dask), "worker", address, "--no-nanny", "--nthreads", "1", "--resources", "GPU=1"])
        try:
            with distributed.Client(address, set_as_default=False) as client:
                client.wait_for_workers(2, timeout=60)
            with compute_backend("dask", address, jobs=2, gpu=True):
                pids = Parallel(n_jobs=2, batch_size=1)(delayed(os.getpid)() for _ in range(16))
        finally:
            gpu_worker.terminate()
            gpu_worker.wait(timeout=30)
    assert set(pids) == {gpu_worker.pid}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_scheduler_and_misused_options_are_usage_errors(in_process, tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    result = in_process("references", "--n-models", "4", "--cache-dir", str(tmp_path), "--backend", "dask", "--scheduler", address)
    assert result.returncode == 2
    assert f"cannot reach the Dask scheduler at {address}" in result.stderr and "dask scheduler" in result.stderr
    result = in_process("references", "--n-models", "4", "--cache-dir", str(tmp_path), "--scheduler", address)
    assert result.returncode == 2 and "--scheduler needs --backend dask" in result.stderr
    assert not any(tmp_path.iterdir())


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    with pytest.raises(BackendUnavailable, match=r"pip install 'unlearning-harness\[cluster\]'"):
        with compute_backend("dask", None, jobs=1, gpu=False):
            pass
