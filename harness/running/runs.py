"""Running a submission N times in sandbox workers and recording each run in the ledger.

On this machine, threads each drive sandbox workers through a shared queue of
runs. On a Dask cluster (harness.running.backends), each task runs a chunk of runs in
sandbox workers started on a cluster worker and returns their outcomes with
what they printed. Either way, the weights a run returns are evaluated in the
trusted parent (harness.running.run_records) and recorded as soon as they arrive.

The time budget's baselines may run in the same queue (`Beside`): their runs
are spread among the submission's, so that both sides of the budget's ratio
are measured under the same load. One thread makes them while the others
make the submission's runs, so that each baseline's worker, seconds of
imports and warm-up, is started once rather than once per thread.
"""

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
import io
import logging
import math
from pathlib import Path
import threading
from typing import TypeVar

from joblib import Parallel, delayed
import numpy as np

from harness.commands.errors import Interrupted, YardstickUnmeasured
from harness.running import failures
from harness.running.backends import on_dask
from harness.running.failure_policy import standing_failure, standing_message
from harness.running.ledger import MeasurementLedger, RunLedger
from harness.running.run_records import charged_seconds, record_of
from harness.sandbox.parent import CappedLog, RunOutcome, SandboxWorker, SetupFailed, kill_live_workers
from harness.sandbox.protocol import WorkerSetup
from harness.submissions.checkpoints import Checkpoints
from reference_models.datasets import BenchmarkData
from reference_models.progress import Progress
from reference_models.progress import progress as progress_bar
from reference_models.seeds import derive_seed
from reference_models.spec import BenchmarkSpec

log = logging.getLogger(__name__)

T = TypeVar("T")
Watch = Callable[[np.ndarray], str | None]  # the ok runs' charged seconds so far -> a message to print, once
CLUSTER_CHUNK = 8  # runs per cluster task: a sandbox worker costs seconds to start, a lost task costs its chunk
SUBMISSION = "submission"  # the program of the scored runs; the others are baselines measured beside them


@dataclass(frozen=True)
class Task:
    """Run `index` of a program: the submission, or a baseline measured beside it."""

    program: str
    index: int


@dataclass(frozen=True)
class RunPlan:
    """What to run: how many runs, in how many workers, under which hard timeout, seeded by which spec."""

    n_runs: int
    jobs: int
    timeout_s: float
    spec: BenchmarkSpec  # the full (sealed) spec: run seeds follow from it, the worker only gets its public view
    hidden: tuple[Path, ...] = ()  # folders the worker must not see (cache, ledgers, results, the submission's)
    stop_after_failure: bool = False  # start no run after one has failed (the runs in flight finish)
    checkpoints: Checkpoints | None = None  # score-checkpoints: run i loads checkpoint i instead of running code
    originals: int = 1  # a study of originals: run i unlearns from original i mod K (the yardstick's baselines from the first)

    def original_of(self, task: Task) -> int:
        return task.index % self.originals if task.program == SUBMISSION else 0


@dataclass(frozen=True)
class Program:
    """What one kind of run executes, and after how many wall-clock seconds such a run is stopped."""

    setup: WorkerSetup
    timeout_s: float
    checkpoints: Checkpoints | None = None  # of a checkpoints worker (setup.checkpoints): what run i loads


@dataclass(frozen=True)
class Beside:
    """The time budget's yardstick measured beside the runs: each baseline (by name) run `count` times,
    its runs spread among the submission's, each that ends ok kept in `ledger` (a resumed score reuses
    them), what each prints in its own log, `log_dir`/yardstick-NAME.log."""

    setups: Mapping[str, WorkerSetup]
    count: int
    timeout_s: float
    ledger: MeasurementLedger
    log_dir: Path

    def log_path(self, baseline: str) -> Path:
        return self.log_dir / f"yardstick-{baseline}.log"


def run_seed(spec: BenchmarkSpec, run_id: int) -> int:
    """The seed of run `run_id`: fixed by the benchmark and the run, not by the worker."""
    return derive_seed(spec.model_seed, "unlearning-run", run_id)


class SandboxRunner:
    """Runs tasks one after another, each in a sandbox worker of its program, started at the program's
    first task and kept for the next; a worker lost to a timeout or a crash has its run recorded, and the
    program's next run gets a new one. Threads may share one runner."""

    def __init__(self, programs: Mapping[str, Program], plan: RunPlan, logs: Mapping[str, CappedLog]):
        self.programs, self.plan, self.logs = programs, plan, logs
        self.setup_errors: dict[str, str] = {}  # once a program's worker failed to start, none is started again

    def drive(self, tasks: Iterable[Task], finish: Callable[[Task, RunOutcome], None]) -> None:
        """Run each task in turn and hand its outcome to `finish`."""
        workers: dict[str, SandboxWorker] = {}
        try:
            for task in tasks:
                program = self.programs[task.program]
                if task.program not in self.setup_errors and task.program not in workers:
                    try:
                        workers[task.program] = SandboxWorker(program.setup, self.logs[task.program], list(self.plan.hidden))
                    except SetupFailed as error:
                        self.setup_errors[task.program] = str(error)
                if task.program in self.setup_errors:
                    message = failures.message(failures.WORKER_CRASH, task.index, self.setup_errors[task.program])
                    finish(task, RunOutcome(failures.WORKER_CRASH, message, None, None, b""))
                    continue
                payload, refused = program.checkpoints.payload(task.index) if program.checkpoints is not None else (b"", None)
                if refused is not None:  # its member failed a check of the archive: nothing to load
                    name = program.checkpoints.runs[task.index].name
                    message = failures.message(failures.INVALID_OUTPUT, task.index, f"checkpoint {name!r} was not loaded: {refused}")
                    finish(task, RunOutcome(failures.INVALID_OUTPUT, message, None, None, b""))
                    continue
                worker = workers[task.program]
                outcome = worker.run(task.index, run_seed(self.plan.spec, task.index), program.timeout_s, payload, self.plan.original_of(task))
                if not worker.alive:
                    workers.pop(task.program).close()
                finish(task, outcome)
        finally:
            for worker in workers.values():
                worker.close()


@dataclass(frozen=True)
class ChunkResult:
    """What a chunk of runs on a cluster worker sends back."""

    outcomes: list[tuple[Task, RunOutcome]]
    logs: dict[str, bytes]  # what each program printed, capped like the submission log


def run_chunk(programs: Mapping[str, Program], plan: RunPlan, tasks: list[Task]) -> ChunkResult:
    """Run `tasks` in sandbox workers started here: a Dask task, on a cluster worker."""
    buffers = {name: io.BytesIO() for name in programs}
    outcomes: list[tuple[Task, RunOutcome]] = []
    stop = threading.Event()

    def finish(task: Task, outcome: RunOutcome) -> None:
        outcomes.append((task, outcome))
        if plan.stop_after_failure and task.program == SUBMISSION and outcome.failure_class is not None:
            stop.set()

    SandboxRunner(programs, plan, {name: CappedLog(buffer) for name, buffer in buffers.items()}).drive(_until(stop, tasks), finish)
    return ChunkResult(outcomes, {name: buffer.getvalue() for name, buffer in buffers.items()})


def schedule(runs: list[int], measurements: list[Task]) -> list[Task]:
    """The submission's runs with the measurements spread evenly among them: the k-th of m goes before
    run round((k + 1/2) n / m) of n, so that every stretch of the runs, and so every load the machine
    goes through, has its share of the yardstick."""
    n, m = len(runs), len(measurements)
    placed = [(float(i), Task(SUBMISSION, run_id)) for i, run_id in enumerate(runs)]
    placed += [(round((k + 0.5) * n / m) - 0.5, task) for k, task in enumerate(measurements)]
    return [task for _, task in sorted(placed, key=lambda item: item[0])]  # stable: measurements in their order


class TaskQueue:
    """The tasks in their schedule's order, shared by the local threads: the measuring thread takes them in
    order, the others the next of the submission's runs, so that only the measuring thread starts the
    baselines' workers; once no run of the submission is left, every thread takes what remains, so that
    measurements left at the end (or alone, on a resume) are made under the same load as ever."""

    def __init__(self, tasks: Iterable[Task]):
        self._tasks, self._lock = deque(tasks), threading.Lock()

    def take(self, measuring: bool) -> Task | None:
        with self._lock:
            if not measuring:
                for position, task in enumerate(self._tasks):
                    if task.program == SUBMISSION:
                        del self._tasks[position]
                        return task
            return self._tasks.popleft() if self._tasks else None


def _chunks(tasks: list[Task], jobs: int) -> list[list[Task]]:
    """Tasks split for cluster tasks: at most CLUSTER_CHUNK each, and at least one chunk per job."""
    size = max(1, min(CLUSTER_CHUNK, math.ceil(len(tasks) / jobs)))
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


# ---------------------------------------------------------------- stopping at the first failure


def _until(stop: threading.Event, items: Iterable[T]) -> Iterator[T]:
    """`items` (runs, or chunks of them) up to the moment `stop` is set: checked just before each would start."""
    for item in items:
        if stop.is_set():
            return
        yield item


class _Driver:
    """Gets the pending tasks done, in local threads or from cluster chunks, and records each as it
    finishes: a submission's run has its weights evaluated here and its row in the ledger, a baseline's
    its charged seconds in the measurement ledger; either moves the bar."""

    def __init__(self, setup: WorkerSetup, data: BenchmarkData, ledger: RunLedger, plan: RunPlan, tasks: list[Task], log_path: Path, bar: Progress,
                 watch: Watch | None, beside: Beside | None):
        self.setup, self.data, self.ledger, self.plan, self.tasks = setup, data, ledger, plan, tasks
        self.bar, self.watch, self.beside = bar, watch, beside
        self.charged: list[float] = []  # the ok runs' charged seconds, for the watch
        self.watched = threading.Lock()
        self.programs = {SUBMISSION: Program(setup, plan.timeout_s, plan.checkpoints)}
        self.log_files = {SUBMISSION: open(log_path, "ab")}
        if beside is not None:
            self.programs.update({name: Program(baseline, beside.timeout_s) for name, baseline in beside.setups.items()})
            self.log_files.update({name: open(beside.log_path(name), "ab") for name in beside.setups})
        self.logs = {name: CappedLog(file) for name, file in self.log_files.items()}
        self.todo = TaskQueue(self.tasks)
        self.runner = SandboxRunner(self.programs, plan, self.logs)
        self.failed_measurements: list[str] = []
        self.stopping = threading.Event()  # set on Ctrl-C: no new runs, and killed ones are not recorded
        self.stop = threading.Event()  # set after a failed run when the plan says so

    def _finish(self, task: Task, outcome: RunOutcome) -> None:
        if self.stopping.is_set():  # the run's worker was killed under it: it runs again on resume
            return
        self.bar.update()
        if task.program != SUBMISSION:
            self._measured(task, outcome)
            return
        record = record_of(self.plan.spec, self.data, task.index, run_seed(self.plan.spec, task.index), outcome, self.setup.device)
        self.ledger.append(record)
        if record.status == "ok":
            self._watch(record.unlearn_seconds)
        if self.plan.stop_after_failure and record.status != "ok":
            self.stop.set()

    def _measured(self, task: Task, outcome: RunOutcome) -> None:
        """A baseline's run: kept when it ended ok; a failure is raised once the runs are done."""
        if outcome.failure_class is not None:
            self.failed_measurements.append(f"the {task.program} baseline, measured beside the runs as the time budget's yardstick, "
                                            f"failed (see {self.beside.log_path(task.program)}):\n{outcome.message}")
            return
        self.beside.ledger.append(task.program, task.index, charged_seconds(outcome, self.setup.device), outcome.wall_seconds)

    def _watch(self, charged_s: float) -> None:
        """Hands the charged seconds so far to the watch, until it has said something once."""
        with self.watched:
            if self.watch is None:
                return
            self.charged.append(charged_s)
            message = self.watch(np.array(self.charged))
            if message is not None:
                log.warning(message)
                self.watch = None

    def _queued(self, measuring: bool) -> Iterator[Task]:
        while not self.stopping.is_set():
            task = self.todo.take(measuring)
            if task is None:
                return
            yield task

    def drive(self, measuring: bool) -> None:
        """One local thread's share: tasks from the shared queue until it is empty (see TaskQueue)."""
        self.runner.drive(_until(self.stop, self._queued(measuring)), self._finish)

    def collect(self, chunk: ChunkResult) -> None:
        """A chunk that ran on the cluster: its logs, then its tasks."""
        for name, text in chunk.logs.items():
            self.logs[name].write(text)  # already marked with its runs on the cluster worker
        for task, outcome in chunk.outcomes:
            self._finish(task, outcome)

    def close(self) -> None:
        for name, file in self.log_files.items():
            file.close()
            if self.logs[name].capped:
                log.warning(f"{file.name} reached its cap of {self.logs[name].cap_mib} MiB: the rest of what was printed is not in it")


def _run_on_cluster(driver: _Driver) -> None:
    """Chunks of tasks as Dask tasks (one each), recorded as they finish, in any order."""
    chunks = _until(driver.stop, _chunks(driver.tasks, driver.plan.jobs))  # chunks not yet handed out are skipped
    tasks = (delayed(run_chunk)(driver.programs, driver.plan, chunk) for chunk in chunks)
    for chunk in Parallel(n_jobs=driver.plan.jobs, batch_size=1, return_as="generator_unordered")(tasks):
        driver.collect(chunk)


def _run_in_threads(driver: _Driver, jobs: int) -> None:
    """`jobs` threads share the queue of runs. The main thread only waits, so that Ctrl-C
    reaches it at once; it then stops the threads and kills the workers they drive.

    It waits on events, not on Thread.join: a join that Ctrl-C interrupts marks a live thread
    as stopped (CPython 3.11 and 3.12, gh-90882), and a thread still evaluating a model as the
    interpreter exits aborts the harness ("terminate called without an active exception").
    """
    errors: list[BaseException] = []
    finished = [threading.Event() for _ in range(jobs)]

    def drive(done: threading.Event, measuring: bool) -> None:
        try:
            driver.drive(measuring)
        except BaseException as error:  # handed to the main thread, raised there
            errors.append(error)
        finally:
            done.set()

    for index, done in enumerate(finished):
        threading.Thread(target=drive, args=(done, index == 0), name=f"runs-{index}", daemon=True).start()
    try:
        for done in finished:
            done.wait()
    except KeyboardInterrupt:
        driver.stopping.set()
        for done in finished:
            while not done.is_set():
                kill_live_workers()  # each time: a thread may have started one as the flag was set
                done.wait(timeout=0.2)
        raise
    if errors:
        raise errors[0]


def run_submission(
    setup: WorkerSetup, data: BenchmarkData, ledger: RunLedger, plan: RunPlan, log_path: Path, progress: bool = True, watch: Watch | None = None,
    beside: Beside | None = None,
) -> None:
    """Run every pending run of the plan, and every pending measurement of `beside` among them; each
    finished run is in its ledger at once. `watch` sees the charged seconds of the ok runs so far after
    each, until it returns a message, which is printed.

    Raises Interrupted on Ctrl-C, once no worker is left, and YardstickUnmeasured once the runs are
    done if a baseline's run failed.
    """
    standing = standing_failure(ledger, plan.n_runs) if plan.stop_after_failure else None
    if standing is not None:
        log.warning(standing_message(standing))
        return
    pending, again = ledger.pending(plan.n_runs), ledger.again(plan.n_runs)
    if len(pending) < plan.n_runs or again:
        log.info(f"{plan.n_runs - len(pending)} of {plan.n_runs} runs kept from the ledger; {len(pending)} to run"
                 + (f", {len(again)} of them again after a timeout or a worker crash" if again else ""))
    measured = [Task(name, index) for name, index in beside.ledger.pending(list(beside.setups), beside.count)] if beside else []
    tasks = schedule(pending, measured)
    if not tasks:
        return
    bar = progress_bar(len(tasks), "unlearning runs" + (" and yardstick" if measured else ""), "run", progress)
    driver = _Driver(setup, data, ledger, plan, tasks, log_path, bar, watch, beside)
    try:
        if on_dask() and plan.checkpoints is None:  # checkpoints load here, from the archive this process holds open
            _run_on_cluster(driver)
        else:
            _run_in_threads(driver, max(1, min(plan.jobs, len(driver.tasks))))
    except KeyboardInterrupt:
        driver.stopping.set()
        raise Interrupted(plan.n_runs - len(ledger.pending(plan.n_runs))) from None
    finally:
        driver.close()
        bar.close()
    if driver.failed_measurements:
        raise YardstickUnmeasured(driver.failed_measurements[0])
