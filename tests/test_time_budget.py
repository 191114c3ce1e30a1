"""The time budget counts everything a submission does, holds under load, and decides eligibility.

Each cheat retrains from scratch where the old accounting did not look (at import, in a
thread, in a child process, through module state kept across runs); each must end over budget
against the default yardstick, retraining measured among the submission's own runs.
"""

import hashlib
from pathlib import Path
import subprocess
import sys
import uuid

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import N_SMALL, ROOT, run_cli, run_ledgers
from harness.benchmarks import get_benchmark, split_benchmark
from harness.ledger import MeasurementLedger, RunLedger
from harness.runs import Beside, MeasurementFailed, RunPlan, run_submission
from harness.sandbox.worker import imported_modules
from harness.yardstick import MEASUREMENTS, paired_count, yardstick_key
from reference_models.secret import sealed
from scoring.leaderboard import Row, rank

RETRAIN = "from harness import kit\n\n\ndef retrain(net, retain):\n    return kit.fit(kit.reinitialise(net), retain, kit.training_recipe())\n\n\n"


def _submission(tmp_path: Path, body: str) -> Path:
    path = tmp_path / f"cheat_{uuid.uuid4().hex[:8]}.py"
    path.write_text(RETRAIN + body)
    return path


CHEATS = {
    "at import": """
import torch
from reference_models.architectures import build_model

_net = build_model(kit._benchmark)  # the benchmark's architecture, trained before any clock could look


def unlearning(net, retain, forget, validation):
    if not hasattr(unlearning, "done"):
        unlearning.done = retrain(_net, retain)
    return unlearning.done
""",
    "in a background thread": """
import threading

_result = {}


def unlearning(net, retain, forget, validation):
    worker = threading.Thread(target=lambda: _result.setdefault("net", retrain(net, retain)))
    worker.start()
    worker.join()
    return _result["net"]
""",
    "in a child process": """
import io
import multiprocessing

import torch


def _train(net, retain, pipe):
    buffer = io.BytesIO()
    torch.save(retrain(net, retain).state_dict(), buffer)
    pipe.send(buffer.getvalue())


def unlearning(net, retain, forget, validation):
    parent, child = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(target=_train, args=(net, retain, child))
    process.start()
    net.load_state_dict(torch.load(io.BytesIO(parent.recv()), weights_only=True))
    process.join()
    return net
""",
    "through module state": """
_cache = {}  # filled by the first run, for the others to return at once


def unlearning(net, retain, forget, validation):
    if "net" not in _cache:
        _cache["net"] = retrain(net, retain)
    return _cache["net"]
""",
}


UNSEEN_CHILD = """
import io
import os
import signal

import torch


def unlearning(net, retain, forget, validation):
    signal.signal(signal.SIGCHLD, signal.SIG_IGN if {ignored} else signal.SIG_DFL)  # ignored: the kernel reaps the child unseen
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        buffer = io.BytesIO()
        torch.save(retrain(net, retain).state_dict(), buffer)
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(buffer.getvalue())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        net.load_state_dict(torch.load(io.BytesIO(pipe.read()), weights_only=True))
    if not {ignored}:
        os.waitpid(pid, 0)
    return net
"""


@pytest.mark.parametrize("ignored", [True, False], ids=["reaped unseen", "waited for"])
def test_a_child_reaped_unseen_is_charged_like_one_waited_for(score_cli, tmp_path, ignored):
    """Linux adds a child's CPU to getrusage only when it is waited for: with SIGCHLD ignored, a run
    retrained in a child and passed at a tenth of the budget. The cgroup counts it either way; where
    there is no cgroup, score.json and the console say the verdict is unverified."""
    result, document = score_cli(_submission(tmp_path, UNSEEN_CHILD.format(ignored=ignored)), n_models=4)
    assert result.returncode == 0, result.stderr
    assert document["runs"]["ok"] == 4
    budget = document["time_budget"]
    if document["isolation"]["cpu"].startswith("cgroup"):
        assert budget["verdict"] == "fail" and budget["ratio"] > 0.5, budget
    else:
        assert document["isolation"]["cpu"].startswith("unverified") and "verdicts are unverified" in result.stderr


@pytest.mark.parametrize("where", sorted(CHEATS))
def test_retraining_where_no_clock_looked_is_over_budget(score_cli, tmp_path, where):
    result, document = score_cli(_submission(tmp_path, CHEATS[where]), n_models=4, yardstick="paired")
    assert result.returncode == 0, result.stderr
    budget = document["time_budget"]
    assert document["runs"]["ok"] == 4
    assert budget["verdict"] == "fail" and budget["ratio"] > 0.5 and not budget["eligible"]
    assert "over budget" in result.stdout


def test_a_detached_process_is_ended_with_its_run(run_in_sandbox, tmp_path):
    """A child that keeps working after the call, to hand its result to the next run, is killed
    when the run answers; the next run finds nothing and no process is left on the host."""
    tag = f"{uuid.uuid4().int % 10**9}"
    path = tmp_path / "detached.py"
    path.write_text(f"""
import os
import subprocess
import sys


def unlearning(net, retain, forget, validation):
    if os.path.exists("/tmp/result-{tag}"):
        raise RuntimeError("a result from an earlier run's process")
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3); open('/tmp/result-{tag}', 'w').write('x')  # {tag}"],
                     start_new_session=True)
    return net
""")
    records, _ = run_in_sandbox(path, 2)
    assert [record.failure_class for record in records] == [None, None], [record.message for record in records]
    assert subprocess.run(["pgrep", "-f", tag], capture_output=True).stdout == b""


def test_import_time_is_charged(run_in_sandbox, tmp_path):
    path = tmp_path / "slow_import.py"
    path.write_text("import time\n\n_end = time.process_time() + 1.0\nwhile time.process_time() < _end:\n    pass\n\n\n"
                    "def unlearning(net, retain, forget, validation):\n    return net\n")
    records, _ = run_in_sandbox(path, 2)
    assert all(record.unlearn_seconds >= 1.0 for record in records)


def test_common_packages_the_submission_imports_are_not_charged(run_in_sandbox, tmp_path):
    """The worker imports them before any run forks: a run pays nothing for pandas, scikit-learn's linear
    models or torchvision's models, as Kaggle's starting notebook imports them (about three seconds of CPU
    time cold, against identity's twentieth)."""
    path = tmp_path / "imports.py"
    path.write_text("import pandas\nfrom sklearn import linear_model\nimport torchvision\nfrom torchvision.models import resnet18\n\n\n"
                    "def unlearning(net, retain, forget, validation):\n    return net\n")
    records, _ = run_in_sandbox(path, 2)
    assert all(record.status == "ok" and record.unlearn_seconds < 0.3 for record in records), records


def test_importing_torchvision_leaves_cuda_to_the_runs():
    """The worker imports torchvision before it forks runs; CUDA cannot be initialised again in a forked
    child, so the import must make no CUDA call (spied on in a fresh interpreter)."""
    spy = (
        "import torch\ncalls = []\n"
        "for name in ('_cuda_init', '_cuda_getDeviceCount'):\n"
        "    if hasattr(torch._C, name):\n"
        "        setattr(torch._C, name, lambda *a, _n=name, _f=getattr(torch._C, name), **k: calls.append(_n) or _f(*a, **k))\n"
        "torch.cuda._lazy_init = lambda *a, **k: calls.append('_lazy_init')\n"
        "import torchvision, torchvision.models, torchvision.transforms, torchvision.datasets\n"
        "assert 'torchvision' in __import__('sys').modules\n"
        "print(calls, torch.cuda.is_initialized())\n"
    )
    result = subprocess.run([sys.executable, "-c", spy], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "False"], result.stdout


def test_the_modules_to_import_are_read_from_the_source():
    source = "import pandas as pd\nfrom sklearn import linear_model, clone\nfrom . import mine\n\n\ndef f():\n    import matplotlib.pyplot\n"
    assert imported_modules(source) == {"pandas", "sklearn", "sklearn.linear_model", "sklearn.clone", "matplotlib.pyplot"}
    assert imported_modules("def broken(:") == set()


def test_the_yardstick_is_retrained_among_the_runs_and_kept_for_a_resume(score_cli, tmp_path):
    """By default retraining is measured among the submission's own runs, in its workers: at N = 16, 11
    retrainings and 11 runs of the identity baseline (the floor), kept beside the run ledger, so that a
    second score of the same file makes no new measurement and gives the same ratio."""
    finetune, ledgers = ROOT / "baselines" / "finetune.py", tmp_path / "ledgers"
    result, document = score_cli(finetune, ledger=ledgers, yardstick="paired")
    assert result.returncode == 0, result.stderr
    budget = document["time_budget"]
    count = paired_count(N_SMALL)
    assert count == MEASUREMENTS["retrain"] and budget["yardstick"] == "paired" and budget["retrain_runs"] == count
    assert "retrainings made among them" in result.stdout
    [path] = ledgers.glob("*/*.yardstick.parquet")
    rows = pq.read_table(path).to_pylist()
    assert sorted((row["baseline"], row["index"]) for row in rows) == [(name, i) for name in ("identity", "retrain") for i in range(count)]
    floor = np.median([row["charged_seconds"] for row in rows if row["baseline"] == "identity"])
    retrain = np.median([row["charged_seconds"] for row in rows if row["baseline"] == "retrain"])
    assert budget["floor_s"] == pytest.approx(floor) and budget["retrain_median_s"] == pytest.approx(retrain - floor)
    low, high = budget["retrain_median_ci"]  # the yardstick's own spread, beside the ratio's
    assert low < retrain < high and budget["floor_median_ci"][0] < floor < budget["floor_median_ci"][1]
    assert f"--- run {count - 1} ---" in (tmp_path / "out" / "yardstick-retrain.log").read_text()
    stored = path.read_bytes()
    again, rescored = score_cli(finetune, ledger=ledgers, out=tmp_path / "again", yardstick="paired")
    assert again.returncode == 0 and f"{N_SMALL} of {N_SMALL} runs kept" in again.stderr, again.stderr
    assert path.read_bytes() == stored and rescored["time_budget"]["ratio"] == budget["ratio"]


def test_a_failed_measurement_stops_the_score_and_a_resume_makes_only_what_is_missing(sandbox_inputs, worker_setup, tmp_path):
    """A retraining that fails beside the runs leaves no yardstick: MeasurementFailed names the baseline
    and its log, once the submission's runs are done and in their ledger; the next attempt makes the
    missing measurements only."""
    cache, data, _ = sandbox_inputs
    spec = get_benchmark("digits-mlp")
    finetune = ROOT / "baselines" / "finetune.py"
    ledger = RunLedger(tmp_path / "ledgers", hashlib.sha256(finetune.read_bytes()).hexdigest(), spec.key())
    plan = RunPlan(4, 2, 30.0, spec, hidden=(cache, tmp_path / "ledgers"))

    def beside(retrain: Path) -> Beside:
        setups = {"retrain": worker_setup(retrain), "identity": worker_setup(ROOT / "baselines" / "identity.py")}
        return Beside(setups, 3, 60.0, MeasurementLedger(ledger), tmp_path)

    with pytest.raises(MeasurementFailed, match=r"the retrain baseline.*yardstick-retrain\.log"):
        run_submission(worker_setup(finetune), data, ledger, plan, tmp_path / "submission.log", progress=False,
                       beside=beside(ROOT / "tests" / "hostile" / "returns_tensor.py"))
    assert [record.status for record in ledger.finished(4)] == ["ok"] * 4
    measured = MeasurementLedger(ledger)
    assert measured.pending(["retrain", "identity"], 3) == [("retrain", 0), ("retrain", 1), ("retrain", 2)]
    run_submission(worker_setup(finetune), data, ledger, plan, tmp_path / "submission.log", progress=False,
                   beside=beside(ROOT / "baselines" / "retrain.py"))
    assert MeasurementLedger(ledger).pending(["retrain", "identity"], 3) == []


def _busy_loops(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def test_charged_time_holds_under_load(run_in_sandbox):
    """Two busy loops on a 2-core machine make wall time about double; charged CPU time moves little."""
    finetune = ROOT / "baselines" / "finetune.py"
    quiet = np.median([record.unlearn_seconds for record in run_in_sandbox(finetune, 6)[0]])
    loops = _busy_loops(2)
    try:
        loaded = np.median([record.unlearn_seconds for record in run_in_sandbox(finetune, 6)[0]])
    finally:
        for loop in loops:
            loop.kill()
    assert 1 / 1.5 < loaded / quiet < 1.5, (quiet, loaded)


def _row(name: str, score: float | None, eligible: bool = True) -> Row:
    return Row(name, "scored" if score is not None else "failed: exception", score, None, None, score, 1.0, 1.0, 0.1,
               0.1 if eligible else 1.0, "pass" if eligible else "fail", eligible)


def test_over_budget_ranks_after_every_submission_within_it():
    rows = [_row("fast", 0.1), _row("retrain", 0.2, eligible=False), _row("slow_but_good", 0.15, eligible=False),
            _row("fast_too", 0.1), _row("broken", None)]
    ranked = [(position, row.submission) for position, row in rank(rows)]
    assert ranked == [(1, "fast"), (1, "fast_too"), (3, "retrain"), (4, "slow_but_good"), (None, "broken")]


def test_one_yardstick_serves_both_splits_on_one_machine():
    """The public and private forget sets differ only by seed: one stored retrain figure for both."""
    spec = sealed(get_benchmark("digits-mlp"), "ab" * 32)
    assert yardstick_key(spec, "cpu") == yardstick_key(split_benchmark(spec, "private"), "cpu")
    assert yardstick_key(spec, "cpu") != yardstick_key(get_benchmark("cifar10-cnn-small"), "cpu")


@pytest.mark.parametrize("busy_s", [0.0, 0.4], ids=["within budget", "over budget"])
def test_a_score_clearly_over_budget_says_so_after_its_first_runs(score_cli, tmp_path, busy_s):
    """A warning once the first 16 runs are beyond the limit, interval and all (the score goes on), and
    none for a submission within it."""
    path = _submission(tmp_path, f"""
import time


def unlearning(net, retain, forget, validation):
    end = time.process_time() + {busy_s}
    while time.process_time() < end:
        pass
    return net
""")
    result, document = score_cli(path, n_models=20)
    assert result.returncode == 0, result.stderr
    assert document["runs"]["ok"] == 20
    warned = "time budget: the first 16 runs are over budget" in result.stderr
    assert warned == (busy_s > 0) and (document["time_budget"]["verdict"] == "fail") == warned, (result.stderr, document["time_budget"])


def test_the_console_shows_the_imports_share_and_says_when_it_dominates(score_cli, tmp_path):
    """A file that works 0.3 s of CPU at its import and returns the net at once: score.json and the console
    say the import is most of the charged time, with the hint; finetune's import is a small share, unhinted."""
    heavy = _submission(tmp_path, """
import time

_end = time.process_time() + 0.3
while time.process_time() < _end:
    pass


def unlearning(net, retain, forget, validation):
    return net
""")
    result, document = score_cli(heavy, n_models=4)
    assert result.returncode == 0, result.stderr
    budget = document["time_budget"]
    assert budget["import_median_s"] >= 0.3 and budget["import_share"] > 0.8, budget
    assert f"import: {budget['import_median_s']:.3f} s a run" in result.stdout and "most of it is the import" in result.stdout
    result, document = score_cli(ROOT / "baselines" / "finetune.py", n_models=4, out=tmp_path / "finetune")
    assert result.returncode == 0, result.stderr
    assert document["time_budget"]["import_share"] < 0.5 and "most of it is the import" not in result.stdout


def test_a_ledger_written_before_imports_were_reported_still_scores(tmp_path):
    """Older ledgers have no import column: their runs read with no import, and the budget reports none."""
    import pyarrow as pa

    from harness.budget import import_part
    from harness.ledger import RunRecord

    row = dict(run_id=0, seed=1, status="ok", failure_class=None, message="", unlearn_seconds=0.1, wall_seconds=0.2, retain_accuracy=1.0,
               test_accuracy=1.0, forget_accuracy=1.0, forget_statistic=[0.5], test_statistic=[0.5], retain_statistic=[0.5])
    ledger = RunLedger(tmp_path, "ab" * 32, "key")
    ledger.path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([row]), ledger.path)
    [record] = RunLedger(tmp_path, "ab" * 32, "key").finished(1)
    assert record == RunRecord(**row) and record.import_seconds is None
    assert import_part(np.array([np.nan]), np.array([0.1])) == (None, None)
    assert import_part(np.array([0.02, np.nan, 0.06]), np.array([0.1, 0.1, 0.1])) == (pytest.approx(0.04), pytest.approx(0.4))


def test_more_runs_time_a_borderline_entry_again_and_score_only_the_first_n(score_cli, tmp_path):
    """Half the runs (drawn by the run's seeded `random`) work 0.3 s, the others return at once: the
    median's interval spans both, so the ratio's holds the limit however many runs are timed.
    --borderline more-runs times 4, 8 then 16 runs (--max-runs 16), counts the verdict still borderline
    as a pass, and scores the first 4 runs only."""
    path = _submission(tmp_path, """
import random
import time


def unlearning(net, retain, forget, validation):
    if random.random() < 0.5:
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
    return net
""")
    ledgers = tmp_path / "ledgers"
    result, document = score_cli(path, "--borderline", "more-runs", "--max-runs", "16", n_models=4, ledger=ledgers)
    assert result.returncode == 0, result.stderr
    budget = document["time_budget"]
    assert budget["verdict"] == "borderline" and budget["borderline"] == "more-runs" and budget["eligible"], budget
    assert budget["runs_timed"] == 16 and document["n_models_scored"] == 4 and document["runs"]["ok"] == 4
    assert "timing 8 runs" in result.stderr and "timing 16 runs" in result.stderr
    assert "counted as pass, after more runs" in result.stdout
    [ledger] = run_ledgers(ledgers)
    assert pq.read_table(ledger).num_rows == 16
    refused = run_cli("score", "baselines/identity.py", "--max-runs", "8")
    assert refused.returncode == 2 and "--max-runs needs --borderline more-runs" in refused.stderr


def test_every_thread_pool_a_run_may_start_has_one_thread(run_in_sandbox, tmp_path):
    """Idle threads of OpenMP or of a BLAS spin on the run's CPU time: each pool is set to one thread."""
    path = tmp_path / "threads.py"
    path.write_text("""import os

import torch


def unlearning(net, retain, forget, validation):
    pools = [os.environ.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")]
    assert pools == ["1"] * 3 and torch.get_num_threads() == 1, pools
    return net
""")
    records, log = run_in_sandbox(path, 1)
    assert [record.status for record in records] == ["ok"], log.read_text()
