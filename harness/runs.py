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
import sys
import threading
from pathlib import Path
from typing import TypeVar

from joblib import Parallel, delayed
import numpy as np
from tqdm import tqdm

from harness import failures
from harness.backends import on_dask
from harness.ledger import RunLedger, RunRecord, not_finite
from harness.sandbox.parent import RunOutcome, SandboxWorker, SetupFailed, CappedLog, kill_live_workers
from harness.sandbox.weights import InvalidWeights, model_from_weights
from harness.sandbox.worker import WorkerSetup
from reference_models.datasets import BenchmarkData
from reference_models.evaluation import evaluate
from reference_models.seeds import derive_seed
from reference_models.spec import BenchmarkSpec

T = TypeVar("T")
Watch = Callable[[np.ndarray], str | None]  # the ok runs' charged seconds so far -> a message to print, once
CLUSTER_CHUNK = 8  # runs per cluster task: a sandbox worker costs seconds to start, a lost task costs its chunk


class RunsInterrupted(Exception):
    """Ctrl-C while runs were going: the workers are gone, and `saved` runs are in the ledger
    (every run that finished before the interruption), so the same command resumes."""

    def __init__(self, saved: int):
        super().__init__(f"{saved} runs saved")
        self.saved = saved


@dataclass(frozen=True)
class RunPlan:
    """What to run: how many runs, in how many workers, under which hard timeout, seeded by which spec."""

    n_runs: int
    jobs: int
    timeout_s: float
    spec: BenchmarkSpec  # the full (sealed) spec: run seeds follow from it, the worker only gets its public view
    hidden: tuple[Path, ...] = ()  # folders the worker must not see (cache, ledgers, results, the submission's)
    stop_after_failure: bool = False  # start no run after one has failed (the runs in flight finish)


def run_seed(spec: BenchmarkSpec, run_id: int) -> int:
    """The seed of run `run_id`: fixed by the benchmark and the run, not by the worker."""
    return derive_seed(spec.model_seed, "unlearning-run", run_id)


def _statistics(spec: BenchmarkSpec, data: BenchmarkData, weights: bytes, device: str) -> dict:
    """The returned model evaluated here, or InvalidWeights saying why it cannot be.

    Every failure to load or evaluate what a worker sent is the submission's:
    weights that pass the checks may still make the parent's own evaluation
    overflow (finite but huge), on every input or on one image alone, and any
    statistic or accuracy that is not finite would poison the metric.
    """
    model = model_from_weights(spec, weights)
    try:
        row = evaluate(model.to(device), data).to_row()
    except Exception as error:
        raise InvalidWeights(f"the returned model could not be evaluated: {type(error).__name__}: {error}") from None
    bad = not_finite(row)
    if bad:
        raise InvalidWeights(f"the returned model's {', '.join(bad)} are not finite (NaN or Inf logits, on some inputs at least): "
                             "are its weights far out of range?")
    return row


def _record(spec: BenchmarkSpec, data: BenchmarkData, run_id: int, outcome: RunOutcome, device: str) -> RunRecord:
    """Turn a worker's answer into a ledger row, evaluating the weights ourselves.

    A run's charged seconds are its process tree's CPU time on the CPU, and
    its wall time on a GPU (whose work the CPU clock does not see).
    """
    charged = outcome.cpu_seconds if device == "cpu" else outcome.wall_seconds
    base = dict(run_id=run_id, seed=run_seed(spec, run_id), unlearn_seconds=charged, wall_seconds=outcome.wall_seconds)
    empty = dict(retain_accuracy=None, test_accuracy=None, forget_accuracy=None, forget_statistic=None, test_statistic=None, retain_statistic=None)

    def failed(failure_class: str, message: str) -> RunRecord:
        return RunRecord(**base, status=failures.STATUS[failure_class], failure_class=failure_class, message=message, **empty)

    if outcome.failure_class is not None:
        return failed(outcome.failure_class, outcome.message)
    try:
        row = _statistics(spec, data, outcome.weights, device)
    except InvalidWeights as error:
        return failed(failures.INVALID_OUTPUT, failures.message(failures.INVALID_OUTPUT, run_id, str(error)))
    return RunRecord(**base, status="ok", failure_class=None, message="", **row)


class SandboxRunner:
    """Runs a submission's runs one after another in a sandbox worker; a worker lost
    to a timeout or a crash has its run recorded, and the next run gets a new one.
    Threads may share one runner."""

    def __init__(self, setup: WorkerSetup, plan: RunPlan, log: CappedLog):
        self.setup, self.plan, self.log = setup, plan, log
        self.setup_error: str | None = None  # once the worker failed to start, no worker is started again

    def drive(self, run_ids: Iterable[int], finish: Callable[[int, RunOutcome], None]) -> None:
        """Run each of `run_ids` in turn and hand its outcome to `finish`."""
        worker: SandboxWorker | None = None
        try:
            for run_id in run_ids:
                if self.setup_error is None and worker is None:
                    try:
                        worker = SandboxWorker(self.setup, self.log, list(self.plan.hidden))
                    except SetupFailed as error:
                        self.setup_error = str(error)
                if self.setup_error is not None:
                    message = failures.message(failures.WORKER_CRASH, run_id, self.setup_error)
                    finish(run_id, RunOutcome(failures.WORKER_CRASH, message, None, None, b""))
                    continue
                outcome = worker.run(run_id, run_seed(self.plan.spec, run_id), self.plan.timeout_s)
                if not worker.alive:
                    worker.close()
                    worker = None
                finish(run_id, outcome)
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
    stop = threading.Event()

    def finish(run_id: int, outcome: RunOutcome) -> None:
        outcomes.append((run_id, outcome))
        if plan.stop_after_failure and outcome.failure_class is not None:
            stop.set()

    SandboxRunner(setup, plan, CappedLog(buffer)).drive(_until(stop, run_ids), finish)
    return ChunkResult(outcomes, buffer.getvalue())


def _chunks(run_ids: list[int], jobs: int) -> list[list[int]]:
    """Runs split for cluster tasks: at most CLUSTER_CHUNK each, and at least one chunk per job."""
    size = max(1, min(CLUSTER_CHUNK, math.ceil(len(run_ids) / jobs)))
    return [run_ids[i : i + size] for i in range(0, len(run_ids), size)]


# ---------------------------------------------------------------- stopping at the first failure


def _until(stop: threading.Event, items: Iterable[T]) -> Iterator[T]:
    """`items` (runs, or chunks of them) up to the moment `stop` is set: checked just before each would start."""
    for item in items:
        if stop.is_set():
            return
        yield item


def not_started_note(n_runs: int, records: list[RunRecord]) -> dict | None:
    """For score.json: how many runs were never started, and why; None if every run finished."""
    missing = n_runs - len(records)
    if missing <= 0:
        return None
    first = next((record for record in records if record.status != "ok"), None)
    cause = f"run {first.run_id} failed ({first.failure_class})" if first else "an earlier run failed"
    return {"count": missing, "reason": f"{cause}, and without --allow-failures one failed run fails the submission: "
                                        "the remaining runs were not started (score again to resume, or fix the failure first)"}


class _Driver:
    """Gets the pending runs done, in local threads or from cluster chunks, and records
    each as it finishes: its weights evaluated here, its row in the ledger, the bar moved."""

    def __init__(self, setup: WorkerSetup, data: BenchmarkData, ledger: RunLedger, plan: RunPlan, log_path: Path, bar: tqdm,
                 watch: Watch | None):
        self.setup, self.data, self.ledger, self.plan, self.bar, self.watch = setup, data, ledger, plan, bar, watch
        self.charged: list[float] = []  # the ok runs' charged seconds, for the watch
        self.watched = threading.Lock()
        self.log_file = open(log_path, "ab")
        self.log = CappedLog(self.log_file)
        self.todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for run_id in ledger.pending(plan.n_runs):
            self.todo.put(run_id)
        self.runner = SandboxRunner(setup, plan, self.log)
        self.stopping = threading.Event()  # set on Ctrl-C: no new runs, and killed ones are not recorded
        self.stop = threading.Event()  # set after a failed run when the plan says so

    def _finish(self, run_id: int, outcome: RunOutcome) -> None:
        if self.stopping.is_set():  # the run's worker was killed under it: it runs again on resume
            return
        record = _record(self.plan.spec, self.data, run_id, outcome, self.setup.device)
        self.ledger.append(record)
        self.bar.update()
        if record.status == "ok":
            self._watch(record.unlearn_seconds)
        if self.plan.stop_after_failure and record.status != "ok":
            self.stop.set()

    def _watch(self, charged_s: float) -> None:
        """Hands the charged seconds so far to the watch, until it has said something once."""
        with self.watched:
            if self.watch is None:
                return
            self.charged.append(charged_s)
            message = self.watch(np.array(self.charged))
            if message is not None:
                tqdm.write(message, file=sys.stderr)
                self.watch = None

    def _queued(self) -> Iterator[int]:
        while not self.stopping.is_set():
            try:
                yield self.todo.get_nowait()
            except queue.Empty:
                return

    def drive(self) -> None:
        """One local thread's share: runs from the shared queue until it is empty."""
        self.runner.drive(_until(self.stop, self._queued()), self._finish)

    def collect(self, chunk: ChunkResult) -> None:
        """A chunk that ran on the cluster: its log, then its runs."""
        self.log.drain(io.BytesIO(chunk.log))
        for run_id, outcome in chunk.outcomes:
            self._finish(run_id, outcome)

    def close(self) -> None:
        self.log_file.close()


def _run_on_cluster(driver: _Driver, pending: list[int]) -> None:
    """Chunks of runs as Dask tasks (one each), recorded as they finish, in any order."""
    chunks = _until(driver.stop, _chunks(pending, driver.plan.jobs))  # chunks not yet handed out are skipped
    tasks = (delayed(run_chunk)(driver.setup, driver.plan, chunk) for chunk in chunks)
    for chunk in Parallel(n_jobs=driver.plan.jobs, batch_size=1, return_as="generator_unordered")(tasks):
        driver.collect(chunk)


def _run_in_threads(driver: _Driver, jobs: int) -> None:
    """`jobs` threads share the queue of runs. The main thread only waits, so that Ctrl-C
    reaches it at once; it then stops the threads and kills the workers they drive."""
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            driver.drive()
        except BaseException as error:  # handed to the main thread, raised there
            errors.append(error)

    threads = [threading.Thread(target=drive, name=f"runs-{index}", daemon=True) for index in range(jobs)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        driver.stopping.set()
        for thread in threads:
            while thread.is_alive():
                kill_live_workers()  # each time: a thread may have started one as the flag was set
                thread.join(timeout=0.2)
        raise
    if errors:
        raise errors[0]


def run_submission(
    setup: WorkerSetup, data: BenchmarkData, ledger: RunLedger, plan: RunPlan, log_path: Path, progress: bool = True, watch: Watch | None = None
) -> None:
    """Run every pending run of the plan; each finished run is in the ledger at once. `watch` sees the
    charged seconds of the ok runs so far after each, until it returns a message, which is printed.

    Raises RunsInterrupted on Ctrl-C, once no worker is left.
    """
    pending = ledger.pending(plan.n_runs)
    if len(pending) < plan.n_runs:
        print(f"{plan.n_runs - len(pending)} of {plan.n_runs} runs kept from the ledger; {len(pending)} to run", file=sys.stderr, flush=True)
    if not pending:
        return
    bar = tqdm(total=len(pending), desc="unlearning runs", unit="run", disable=None if progress else True)
    driver = _Driver(setup, data, ledger, plan, log_path, bar, watch)
    try:
        if on_dask():
            _run_on_cluster(driver, pending)
            return
        _run_in_threads(driver, max(1, min(plan.jobs, len(pending))))
    except KeyboardInterrupt:
        driver.stopping.set()
        raise RunsInterrupted(plan.n_runs - len(ledger.pending(plan.n_runs))) from None
    finally:
        driver.close()
        bar.close()
