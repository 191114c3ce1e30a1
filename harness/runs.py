"""Running a submission N times in sandbox workers and recording each run in the ledger."""

from dataclasses import dataclass
import queue
from pathlib import Path

from joblib import Parallel, delayed
from tqdm import tqdm

from harness import failures
from harness.ledger import RunLedger, RunRecord
from harness.sandbox import RunOutcome, SandboxWorker, SetupFailed, CappedLog
from harness.weights import InvalidWeights, model_from_weights
from harness.worker import WorkerSetup
from reference_models.datasets import BenchmarkData
from reference_models.evaluation import evaluate
from reference_models.seeds import derive_seed
from reference_models.spec import BenchmarkSpec


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


def _record(spec: BenchmarkSpec, data: BenchmarkData, run_id: int, outcome: RunOutcome) -> RunRecord:
    """Turn a worker's answer into a ledger row, evaluating the weights ourselves."""
    base = dict(run_id=run_id, seed=run_seed(spec, run_id), unlearn_seconds=outcome.seconds)
    empty = dict(retain_accuracy=None, test_accuracy=None, forget_accuracy=None, forget_statistic=None, test_statistic=None)

    def failed(failure_class: str, message: str) -> RunRecord:
        return RunRecord(**base, status=failures.STATUS[failure_class], failure_class=failure_class, message=message, **empty)

    if outcome.failure_class is not None:
        return failed(outcome.failure_class, outcome.message)
    try:
        model = model_from_weights(spec, outcome.weights)
    except InvalidWeights as error:
        return failed(failures.INVALID_OUTPUT, failures.message(failures.INVALID_OUTPUT, run_id, str(error)))
    return RunRecord(**base, status="ok", failure_class=None, message="", **evaluate(model, data).to_row())


class _Driver:
    """Feeds pending runs to sandbox workers, one worker per job."""

    def __init__(self, setup: WorkerSetup, data: BenchmarkData, ledger: RunLedger, plan: RunPlan, log_path: Path, bar: tqdm):
        self.setup, self.data, self.ledger, self.plan, self.bar = setup, data, ledger, plan, bar
        self.log_file = open(log_path, "ab")
        self.log = CappedLog(self.log_file)
        self.todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for run_id in ledger.pending(plan.n_runs):
            self.todo.put(run_id)
        self.setup_error: str | None = None

    def _finish(self, run_id: int, outcome: RunOutcome) -> None:
        self.ledger.append(_record(self.setup.spec, self.data, run_id, outcome))
        self.bar.update()

    def drive(self) -> None:
        worker: SandboxWorker | None = None
        try:
            while True:
                try:
                    run_id = self.todo.get_nowait()
                except queue.Empty:
                    return
                if self.setup_error is None and (worker is None or not worker.alive):
                    try:
                        worker = SandboxWorker(self.setup, self.log, list(self.plan.hidden))
                    except SetupFailed as error:
                        self.setup_error = f"the submission could not be imported:\n{error}"
                if self.setup_error is not None:
                    message = failures.message(failures.IMPORT_ERROR, run_id, self.setup_error)
                    self._finish(run_id, RunOutcome(failures.IMPORT_ERROR, message, None, b""))
                    continue
                seed = run_seed(self.setup.spec, run_id)
                self._finish(run_id, worker.run(run_id, seed, self.plan.timeout_s))
        finally:
            if worker is not None:
                worker.close()

    def close(self) -> None:
        self.log_file.close()


def run_submission(
    setup: WorkerSetup, data: BenchmarkData, ledger: RunLedger, plan: RunPlan, log_path: Path, progress: bool = True
) -> None:
    """Run every pending run of the plan; each finished run is in the ledger at once."""
    pending = len(ledger.pending(plan.n_runs))
    if not pending:
        return
    bar = tqdm(total=pending, desc="unlearning runs", unit="run", disable=None if progress else True)
    driver = _Driver(setup, data, ledger, plan, log_path, bar)
    try:
        jobs = max(1, min(plan.jobs, pending))
        Parallel(n_jobs=jobs, backend="threading")(delayed(driver.drive)() for _ in range(jobs))
    finally:
        driver.close()
        bar.close()
