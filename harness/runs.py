"""Running a submission N times in sandbox workers and recording each run in the ledger.

On this machine, threads each drive a sandbox worker through a shared queue of
runs. On a Dask cluster (harness.backends), each task runs a chunk of runs in
sandbox workers started on a cluster worker and returns their outcomes with
what they printed. Either way, the weights a run returns are evaluated here,
in the trusted parent, and recorded as soon as they arrive.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
import io
import math
import queue
from pathlib import Path

from joblib import Parallel, delayed
from tqdm import tqdm

from harness import failures
from harness.backends import on_dask
from harness.ledger import RunLedger, RunRecord
from harness.sandbox import RunOutcome, SandboxWorker, SetupFailed, CappedLog
from harness.weights import InvalidWeights, model_from_weights
from harness.worker import WorkerSetup
from reference_models.datasets import BenchmarkData
from reference_models.evaluation import evaluate
from reference_models.seeds import derive_seed
from reference_models.spec import BenchmarkSpec

CLUSTER_CHUNK = 8  # runs per cluster task: a sandbox worker costs seconds to start, a lost task costs its chunk


@dataclass(frozen=True)
class RunPlan:
    """What to run: how many runs, in how many workers, under which hard timeout."""

    n_runs: int
    jobs: int
    timeout_s: float
    hidden: tuple[Path, ...] = ()  # folders the worker must not see (cache, ledgers, results, the submission's)


def run_seed(spec: BenchmarkSpec, run_id: int) -> int:
    """The seed of run `run_id`: fixed by the benchmark and the run, not by the worker."""
    return derive_seed(spec.model_seed, "unlearning-run", run_id)


def _record(spec: BenchmarkSpec, data: BenchmarkData, run_id: int, outcome: RunOutcome, device: str) -> RunRecord:
    """Turn a worker's answer into a ledger row, evaluating the weights ourselves."""
    base = dict(run_id=run_id, seed=run_seed(spec, run_id), unlearn_seconds=outcome.seconds)
    empty = dict(retain_accuracy=None, test_accuracy=None, forget_accuracy=None, forget_statistic=None, test_statistic=None, retain_statistic=None)

    def failed(failure_class: str, message: str) -> RunRecord:
        return RunRecord(**base, status=failures.STATUS[failure_class], failure_class=failure_class, message=message, **empty)

    if outcome.failure_class is not None:
        return failed(outcome.failure_class, outcome.message)
    try:
        model = model_from_weights(spec, outcome.weights)
    except InvalidWeights as error:
        return failed(failures.INVALID_OUTPUT, failures.message(failures.INVALID_OUTPUT, run_id, str(error)))
    return RunRecord(**base, status="ok", failure_class=None, message="", **evaluate(model.to(device), data).to_row())


class SandboxRunner:
    """Runs a submission's runs one after another in a sandbox worker; a worker lost
    to a timeout or a crash is replaced for the next run. Threads may share one runner."""

    def __init__(self, setup: WorkerSetup, plan: RunPlan, log: CappedLog):
        self.setup, self.plan, self.log = setup, plan, log
        self.setup_error: str | None = None  # once the submission failed to import, no worker is started again

    def drive(self, run_ids: Iterable[int], finish: Callable[[int, RunOutcome], None]) -> None:
        """Run each of `run_ids` in turn and hand its outcome to `finish`."""
        worker: SandboxWorker | None = None
        try:
            for run_id in run_ids:
                if self.setup_error is None and (worker is None or not worker.alive):
                    try:
                        worker = SandboxWorker(self.setup, self.log, list(self.plan.hidden))
                    except SetupFailed as error:
                        self.setup_error = f"the submission could not be imported:\n{error}"
                if self.setup_error is not None:
                    message = failures.message(failures.IMPORT_ERROR, run_id, self.setup_error)
                    finish(run_id, RunOutcome(failures.IMPORT_ERROR, message, None, b""))
                    continue
                seed = run_seed(self.setup.spec, run_id)
                finish(run_id, worker.run(run_id, seed, self.plan.timeout_s))
        finally:
            if worker is not None:
                worker.close()


@dataclass(frozen=True)
class ChunkResult:
    """What a chunk of runs on a cluster worker sends back."""

    outcomes: list[tuple[int, RunOutcome]]
    log: bytes  # what the submission printed, capped like the submission log


def run_chunk(setup: WorkerSetup, plan: RunPlan, run_ids: list[int]) -> ChunkResult:
    """Run `run_ids` in sandbox workers started here: a Dask task, on a cluster worker."""
    buffer = io.BytesIO()
    outcomes: list[tuple[int, RunOutcome]] = []
    SandboxRunner(setup, plan, CappedLog(buffer)).drive(run_ids, lambda run_id, outcome: outcomes.append((run_id, outcome)))
    return ChunkResult(outcomes, buffer.getvalue())


def _chunks(run_ids: list[int], jobs: int) -> list[list[int]]:
    """Runs split for cluster tasks: at most CLUSTER_CHUNK each, and at least one chunk per job."""
    size = max(1, min(CLUSTER_CHUNK, math.ceil(len(run_ids) / jobs)))
    return [run_ids[i : i + size] for i in range(0, len(run_ids), size)]


class _Driver:
    """Gets the pending runs done, in local threads or from cluster chunks, and records
    each as it finishes: its weights evaluated here, its row in the ledger, the bar moved."""

    def __init__(self, setup: WorkerSetup, data: BenchmarkData, ledger: RunLedger, plan: RunPlan, log_path: Path, bar: tqdm):
        self.setup, self.data, self.ledger, self.plan, self.bar = setup, data, ledger, plan, bar
        self.log_file = open(log_path, "ab")
        self.log = CappedLog(self.log_file)
        self.todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for run_id in ledger.pending(plan.n_runs):
            self.todo.put(run_id)
        self.runner = SandboxRunner(setup, plan, self.log)

    def _finish(self, run_id: int, outcome: RunOutcome) -> None:
        self.ledger.append(_record(self.setup.spec, self.data, run_id, outcome, self.setup.device))
        self.bar.update()

    def _queued(self) -> Iterator[int]:
        while True:
            try:
                yield self.todo.get_nowait()
            except queue.Empty:
                return

    def drive(self) -> None:
        """One local thread's share: runs from the shared queue until it is empty."""
        self.runner.drive(self._queued(), self._finish)

    def collect(self, chunk: ChunkResult) -> None:
        """A chunk that ran on the cluster: its log, then its runs."""
        self.log.drain(io.BytesIO(chunk.log))
        for run_id, outcome in chunk.outcomes:
            self._finish(run_id, outcome)

    def close(self) -> None:
        self.log_file.close()


def _run_on_cluster(driver: _Driver, pending: list[int]) -> None:
    """Chunks of runs as Dask tasks (one each), recorded as they finish, in any order."""
    tasks = (delayed(run_chunk)(driver.setup, driver.plan, chunk) for chunk in _chunks(pending, driver.plan.jobs))
    for chunk in Parallel(n_jobs=driver.plan.jobs, batch_size=1, return_as="generator_unordered")(tasks):
        driver.collect(chunk)


def run_submission(
    setup: WorkerSetup, data: BenchmarkData, ledger: RunLedger, plan: RunPlan, log_path: Path, progress: bool = True
) -> None:
    """Run every pending run of the plan; each finished run is in the ledger at once."""
    pending = ledger.pending(plan.n_runs)
    if not pending:
        return
    bar = tqdm(total=len(pending), desc="unlearning runs", unit="run", disable=None if progress else True)
    driver = _Driver(setup, data, ledger, plan, log_path, bar)
    try:
        if on_dask():
            _run_on_cluster(driver, pending)
            return
        jobs = max(1, min(plan.jobs, len(pending)))
        Parallel(n_jobs=jobs, backend="threading")(delayed(driver.drive)() for _ in range(jobs))
    finally:
        driver.close()
        bar.close()
