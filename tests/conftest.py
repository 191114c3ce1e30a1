"""Shared fixtures: the project's interpreter, a small reference cache, a CLI runner,
and sandboxed runs of a submission file without the scoring around them; and the test tiers.

A test is of the fast tier unless it carries one of TIERS' markers. The fixtures
in FIXTURE_TIERS mark the tests that use them; any other test that starts a
sandboxed worker, builds references, starts a Dask cluster or the CLI in a
subprocess must say so with the marker, or it fails naming the marker it lacks
(`guarded`), so that `make test-fast` stays fast by construction.
"""

from collections.abc import Iterator
from contextlib import contextmanager
import hashlib
import json
from pathlib import Path
import shutil
import subprocess
import sys
import uuid

from filelock import FileLock
import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
N_SMALL = 16

TIERS = ("sandbox", "references", "cluster", "gpu", "cli")  # registered in pyproject.toml; make test-fast runs none of them
FIXTURE_TIERS = {
    "reference_cache": ("references", "cli"),
    "sandbox_inputs": ("references", "cli"),
    "worker_setup": ("references", "cli"),
    "run_in_sandbox": ("sandbox", "references", "cli"),
    "score_cli": ("sandbox", "references"),
    "cifar_cache": ("references", "cli"),
    "seed_yardstick": ("sandbox", "references"),
    "cluster": ("cluster",),
    "dask_references": ("cluster", "references", "cli"),
}
TIMEOUT_S = {"fast": 120, "marked": 900}  # per test, set-up included: a hang fails its test, not the whole CI run

# The files whose tests take longest (seconds, two pytest workers on two cores: --durations=0 on 2026-12-07), started
# first: `make test` hands out whole files (--dist loadfile), and a long file handed out last keeps one core busy
# after the other is done. Longest first is the classic greedy schedule for two machines. A stale list only
# reorders the tests, and the other files follow in their usual order.
LONGEST_FILES = {
    "test_dask_backend.py": 130, "test_baselines.py": 116, "test_time_budget.py": 107, "test_score_cli.py": 93, "test_hostile.py": 82,
    "test_yardstick.py": 71, "test_image_benchmarks.py": 64, "test_sandbox_kernel.py": 49, "test_interrupt.py": 47,
    "test_score_checkpoints.py": 40, "test_stability.py": 38, "test_kaggle_code.py": 37, "test_sandbox_escape.py": 36,
    "test_leaderboard.py": 35, "test_hostile_scoring.py": 32, "test_faces_competition.py": 30, "test_sandbox_answers.py": 29,
}


class TierViolation(BaseException):
    """A test did what its tier does not allow: it names the marker to add. A BaseException, as pytest's own
    outcomes are, so that the harness's `except Exception` (a board's scorer-error row) cannot swallow it."""


_current: set[str] | None = None  # the tier markers of the test being set up or run; None between tests


# Evaluated by pytest when a sandbox test is set up, not at collection: probing bubblewrap starts it, which the fast tier never does.
_NO_SANDBOX = pytest.mark.skipif("not __import__('harness.sandbox.isolation').sandbox.isolation.available()",
                                 reason="bubblewrap cannot build a sandbox here")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the tiers its fixtures imply, skip the sandbox tier where no sandbox can be built and
    the gpu tier without CUDA, and bound every test."""
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            for tier in FIXTURE_TIERS.get(fixture, ()):
                item.add_marker(tier)
        tiers = _tiers(item)
        if "sandbox" in tiers:
            item.add_marker(_NO_SANDBOX)
        if "gpu" in tiers and not _cuda():
            item.add_marker(pytest.mark.skip(reason="no GPU here"))
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TIMEOUT_S["marked" if tiers else "fast"]))
    items.sort(key=lambda item: -LONGEST_FILES.get(item.path.name, 0))  # stable: each file's tests stay together and in order


def _tiers(item: pytest.Item) -> set[str]:
    return {tier for tier in TIERS if item.get_closest_marker(tier) is not None}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def require_tier(tier: str, what: str) -> None:
    """Fail the running test unless it carries `tier`: it does `what`."""
    if _current is not None and tier not in _current:
        raise TierViolation(f"this test {what}: mark it @pytest.mark.{tier} (the fast tier does none of {', '.join(TIERS)})")


def _guard(owner: object, name: str, tier: str, what: str) -> None:
    """Wrap owner.name, once and for the whole session, in the check of `tier` (a test may still monkeypatch it)."""
    function = owner.__dict__[name]
    if getattr(function, "tier_guard", False):
        return

    def checked(*args, **kwargs):
        require_tier(tier, what)
        return function(*args, **kwargs)

    checked.tier_guard = True
    setattr(owner, name, checked)


@contextmanager
def guarded(item: pytest.Item) -> Iterator[None]:
    """While `item` is set up and run, the entry points of the heavy tiers fail unless it carries their marker."""
    global _current
    from harness.running import backends
    from harness.sandbox import isolation
    from harness.sandbox.parent import SandboxWorker
    from reference_models.cache import ReferenceCache

    _guard(isolation, "launch_command", "sandbox", "starts bubblewrap (a worker, or the probe of whether a sandbox can be built)")
    _guard(SandboxWorker, "__init__", "sandbox", "starts a sandboxed worker")
    _guard(ReferenceCache, "build", "references", "builds references")
    _guard(backends, "_local_cluster", "cluster", "starts a Dask cluster")
    if "distributed" in sys.modules:  # imported by the tests that start clusters, and by nothing else
        _guard(sys.modules["distributed"].LocalCluster, "__init__", "cluster", "starts a Dask cluster")
    _current = _tiers(item)
    try:
        yield
    finally:
        _current = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with guarded(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with guarded(item):
        yield


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


def runs_recorded(ledger_dir: Path) -> int:
    """Runs recorded under a ledger root so far, those a harness still scoring (or killed) has only in its ledger's
    journal included."""
    from harness.running.ledger import RunLedger

    while True:
        stems = {(path.parent.name, path.name.split(".")[0]) for path in [*run_ledgers(ledger_dir), *ledger_dir.glob("*/*.journal")]}
        try:
            return sum(len(RunLedger(ledger_dir, stem, key).records) for key, stem in stems)
        except FileNotFoundError:  # a journal file compacted away while it was read: read again
            continue


def assert_all_ok(records) -> None:
    """Every run ended ok: each attack failed (an attack that works raises `Escaped`)."""
    assert failure_classes(records) == [None] * len(records), [record.message for record in records]


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m harness ARGS` in a real subprocess, from the project root (tests of the cli tier only:
    the fast tier calls harness.commands.cli.main in-process)."""
    require_tier("cli", "starts the CLI in a subprocess")
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session", autouse=True)
def every_score_json_is_valid(tmp_path_factory) -> Iterator[None]:
    """After the session, every score.json its tests wrote (all under its temporary folders) is checked against the
    schema the package ships (scoring/score.schema.json): what the schema promises is what the harness writes."""
    yield
    import jsonschema

    validator = jsonschema.Draft202012Validator(json.loads((ROOT / "scoring" / "score.schema.json").read_text()))
    invalid = []
    for path in sorted(tmp_path_factory.getbasetemp().rglob("score.json")):
        errors = sorted(validator.iter_errors(json.loads(path.read_text())), key=lambda error: list(error.absolute_path))
        invalid += [f"{path}: {errors[0].message} (at {'/'.join(map(str, errors[0].absolute_path))})"] if errors else []
    assert not invalid, "score.json that its schema refuses:\n" + "\n".join(invalid)


@pytest.fixture
def in_process(capsys):
    """`python -m harness ARGS` as harness.commands.cli.main in this process, as a CompletedProcess: how the fast
    tier tests usage errors and refusals, and how score_cli scores (the CLI's imports are paid once per
    test process, not per call)."""
    from harness.commands.cli import main

    def call(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as stop:  # argparse's own usage errors
            code = stop.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return call


@pytest.fixture(scope="session")
def reference_cache(tmp_path_factory, worker_id) -> Path:
    """digits-mlp references for N_SMALL models, built once for the whole test session and shared by its
    pytest workers: the first to get here builds them under a lock, the others find them (and the cached
    yardstick measured beside them, which harness.timing.yardstick keeps under a lock of its own)."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # pytest-N/, above each worker's popen-gwK/
    cache = shared / "references"
    with FileLock(str(shared / "references.lock")):
        if not (cache / "built").exists():
            cache.mkdir(exist_ok=True)
            (cache / "secret").write_text("5eed" * 16)  # a fixed secret: the same references, and the same test outcomes, every session
            result = run_cli("references", "--n-models", str(N_SMALL), "--cache-dir", str(cache), "--device", "cpu", "--quiet")
            assert result.returncode == 0, result.stderr
            (cache / "built").touch()
    return cache


# What tests of anything but the time budget's verdict pass: the yardstick measured once per cache, not retrained
# among every score's runs (the default, which costs about eight seconds a score at N = 16 on 2 cores).
CACHED_YARDSTICK = ("--yardstick", "cached")

# What tests that read no report.html pass: its six figures cost about 3 s of CPU a score, a third of the suite's
# scoring time. score_cli passes it unless asked for `report=True`.
NO_REPORT = ("--no-report",)

# What tests of anything but parallel runs pass: one sandboxed worker a submission, not one per core. Each worker
# pays its imports (about 1 s of CPU), and the suite, two pytest workers on two cores, is bound by CPU.
ONE_WORKER = ("--jobs", "1")


@pytest.fixture(scope="session")
def seed_yardstick(reference_cache, worker_setup):
    """Copies the shared cache's cached yardstick into another digits-mlp cache on cpu, so that a test
    that is not about the yardstick does not measure it again (22 sandboxed runs): its key names the
    data, model, recipe, device and machine, not the cache or its secret. Measured here if no test has
    yet, under harness.timing.yardstick's own lock."""
    from harness.benchmarks import get_benchmark
    from harness.timing.yardstick import yardstick

    yardstick(reference_cache, get_benchmark("digits-mlp"), worker_setup(ROOT / "baselines" / "identity.py"), jobs=2)

    def seed(cache: Path) -> None:
        shutil.copytree(reference_cache / "yardsticks", cache / "yardsticks", dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.lock", "*.log"))

    return seed


@pytest.fixture
def score_cli(reference_cache, tmp_path, in_process):
    """Score a submission on digits-mlp with the shared cache; returns (process, score.json or None).
    The yardstick is the cached one unless `yardstick="paired"`, runs go to one worker unless `extra` says `--jobs`,
    no report.html is written unless `report=True`, and the harness's notes are left out (-q) unless `quiet=False`.

    The harness runs in this process (harness.commands.cli.main), its sandboxed workers as real processes: a new
    interpreter would cost each score about 2.5 s of imports, a quarter of its time. The tests that need
    the harness itself as a process of its own (Ctrl-C, a killed harness, another working directory)
    start `python -m harness` with run_cli or subprocess."""

    def score(submission: Path, *extra: str, n_models: int = N_SMALL, out: Path | None = None, ledger: Path | None = None, bootstrap: int = 0,
              yardstick: str = "cached", report: bool = False, quiet: bool = True):
        out = out or tmp_path / "out"
        ledger = ledger or tmp_path / "ledgers"
        result = in_process(
            "score", str(submission),
            "--n-models", str(n_models),
            "--cache-dir", str(reference_cache),
            "--ledger-dir", str(ledger),
            "--out", str(out),
            *(("--quiet",) if quiet else ()),
            "--bootstrap", str(bootstrap),
            "--mia-models", "4",
            "--yardstick", yardstick,
            *ONE_WORKER,
            *(() if report else NO_REPORT),
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
            submission=str(path), source=path.read_text(), spec=public_view(get_benchmark("digits-mlp")), original_weights=(original,),
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
    from harness.running.ledger import RunLedger
    from harness.running.runs import RunPlan, run_submission

    cache, data, _ = sandbox_inputs
    spec = get_benchmark("digits-mlp")

    def run_file(path: Path, n_runs: int = 2, timeout_s: float = 30.0, memory_bytes: int = 2 << 30):
        ledger = RunLedger(tmp_path / "ledgers", hashlib.sha256(path.read_bytes()).hexdigest(), spec.key())
        plan = RunPlan(n_runs, 1, timeout_s, spec, hidden=(cache, tmp_path / "ledgers", path.parent))
        log = tmp_path / "submission.log"
        run_submission(worker_setup(path, memory_bytes), data, ledger, plan, log, progress=False)
        return ledger.first(n_runs), log

    return run_file
