"""The time budget's yardstick: retraining from scratch, measured as a submission is.

The retrain baseline (baselines/retrain.py: the benchmark's own recipe on the
retain set, from fresh weights) runs in the same sandbox, through the same
forked run processes and the same loaders as every submission, and is
charged the same way: CPU time of its whole process tree on the CPU, wall
time on a GPU. By default it is measured beside each submission's runs
(`beside`, `paired`): one retraining per block of BLOCK runs and never fewer
than MEASUREMENTS["retrain"], spread among the submission's runs in the same
workers, so that both sides of the ratio see the same load; on a loaded
machine a yardstick measured at another moment charged an honest baseline
twice its share (docs/sandbox.md). The `cached` yardstick is measured once
per benchmark, device and machine and kept beside the reference cache; it
sets the runs' hard timeout and their early warning, and is the verdict's
yardstick only where the organiser asks for it (`--yardstick cached`).

Every run also pays the harness's own cost of a run: the fork, the copy of
the net, the loaders, the answer. The identity baseline (which returns the
net it was given) measures that floor the same way, and the budget takes it
off both sides, so that a fast method is not judged by the harness's overhead.
"""

from dataclasses import asdict, dataclass, replace
import hashlib
import json
import logging
import math
import os
from pathlib import Path

from filelock import FileLock
from joblib import Parallel, delayed
import numpy as np

from harness.commands.errors import YardstickUnmeasured
from harness.resources import baseline_source
from harness.running.ledger import MeasurementLedger
from harness.running.run_records import charged_seconds
from harness.running.runs import Beside, Program, RunPlan, SandboxRunner, Task
from harness.sandbox.parent import CappedLog, RunOutcome
from harness.sandbox.protocol import WorkerSetup
from reference_models.files import write_atomic
from reference_models.hardware import hardware_fingerprint
from reference_models.secret import public_view
from reference_models.spec import BenchmarkSpec

log = logging.getLogger(__name__)

# Retraining and the floor are measured 11 times each: the fewest whose order-statistic interval for the
# median (2nd to 10th of 11, 98.8%) reaches the coverage harness.timing.budget asks of each (0.95^(1/3), 98.3%).
MEASUREMENTS = {"retrain": 11, "identity": 11}
BLOCK = 32  # beside the runs: one retraining (and one run of the identity baseline) per BLOCK of the submission's runs
_FORMAT = 5  # 3: charged CPU from the worker's cgroup where it has one; 4: 11 retrain measurements; 5: 11 of the floor
_TIMEOUT_S = 24 * 3600.0  # the yardstick has no budget to exceed


@dataclass(frozen=True)
class Yardstick:
    """Retraining's charged seconds, measured runs, and the conditions they ran in."""

    kind: str  # "paired" (measured beside the submission's runs) or "cached" (once per machine)
    measure: str  # "cpu" (process-tree CPU time) or "wall" (on a GPU)
    seconds: tuple[float, ...]  # charged seconds of each retraining
    wall_seconds: tuple[float, ...]
    floor_seconds: tuple[float, ...]  # charged seconds of each run of the identity baseline: the harness's own cost
    load_average: tuple[float, float]  # the machine's 1-minute load before and after measuring
    hardware: dict

    @property
    def median_s(self) -> float:
        return float(np.median(self.seconds))

    @property
    def wall_median_s(self) -> float:
        return float(np.median(self.wall_seconds))

    @property
    def floor_s(self) -> float:
        return float(np.median(self.floor_seconds))

    def to_dict(self) -> dict:
        return {**asdict(self), "median_s": self.median_s, "floor_s": self.floor_s}


def charged_measure(device: str) -> str:
    """What a run is charged on this device."""
    return "cpu" if device == "cpu" else "wall"


def yardstick_key(spec: BenchmarkSpec, device: str) -> str:
    """What retraining's cost depends on: the data, model and recipe (not the name, the seeds or which
    examples are forgotten, so both splits share one), the device and the machine."""
    fields = {"format": _FORMAT, "spec": public_view(spec).to_dict(), "device": device, "hardware": hardware_fingerprint(device)}
    for name in ("name", "forget_selection"):
        fields["spec"].pop(name)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _baseline_setup(setup: WorkerSetup, baseline: str) -> WorkerSetup:
    """The worker setup of a baseline: the submission's, with the baseline's file in its place."""
    path, source = baseline_source(baseline)
    return replace(setup, submission=path, source=source)


def _runs_of(baseline: str, spec: BenchmarkSpec, setup: WorkerSetup, jobs: int, log_path: Path) -> list[RunOutcome]:
    """MEASUREMENTS[baseline] sandboxed runs of a baseline, as many side by side as the runs will be."""
    outcomes: list[RunOutcome] = []
    count = MEASUREMENTS[baseline]
    jobs = max(1, min(jobs, count))
    with open(log_path, "ab") as log:
        programs = {baseline: Program(_baseline_setup(setup, baseline), _TIMEOUT_S)}
        runner = SandboxRunner(programs, RunPlan(count, jobs, _TIMEOUT_S, spec), {baseline: CappedLog(log)})
        share = [[Task(baseline, index) for index in range(job, count, jobs)] for job in range(jobs)]
        Parallel(n_jobs=jobs, backend="threading")(delayed(runner.drive)(tasks, lambda _, outcome: outcomes.append(outcome)) for tasks in share)
    failed = [outcome.message for outcome in outcomes if outcome.failure_class is not None]
    if failed:
        raise YardstickUnmeasured(f"the {baseline} baseline failed while measuring the time budget's yardstick (see {log_path}):\n{failed[0]}")
    return outcomes


def _measure(spec: BenchmarkSpec, setup: WorkerSetup, jobs: int, log_path: Path) -> Yardstick:
    """Retraining and the harness's floor, measured MEASUREMENTS times each."""
    load_before = os.getloadavg()[0]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    retraining, floor = (_runs_of(baseline, spec, setup, jobs, log_path) for baseline in ("retrain", "identity"))

    def charged(outcomes: list[RunOutcome]) -> tuple[float, ...]:
        return tuple(charged_seconds(outcome, setup.device) for outcome in outcomes)

    return Yardstick(
        kind="cached",
        measure=charged_measure(setup.device),
        seconds=charged(retraining),
        wall_seconds=tuple(o.wall_seconds for o in retraining),
        floor_seconds=charged(floor),
        load_average=(load_before, os.getloadavg()[0]),
        hardware=hardware_fingerprint(setup.device),
    )


def yardstick(cache_root: Path, spec: BenchmarkSpec, setup: WorkerSetup, jobs: int) -> Yardstick:
    """The benchmark's yardstick on this machine: read from the cache root, or measured once and kept there."""
    folder = Path(cache_root) / "yardsticks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{yardstick_key(spec, setup.device)}.json"
    with FileLock(str(path) + ".lock"):
        if path.exists():
            try:
                stored = json.loads(path.read_text())
                for derived in ("median_s", "floor_s"):
                    stored.pop(derived)
                stored.setdefault("kind", "cached")
                log.debug(f"yardstick: measured before on this machine, read from {path}")
                return Yardstick(**{name: tuple(value) if isinstance(value, list) else value for name, value in stored.items()})
            except (OSError, ValueError, KeyError, TypeError):
                pass  # unreadable: measured again below
        log.info("yardstick: timing retraining once on this machine (kept for the next scores)")
        measured = _measure(spec, setup, jobs, folder / "retrain.log")
        write_atomic(path, (json.dumps(measured.to_dict(), indent=1) + "\n").encode())
        return measured


def paired_count(n_runs: int) -> int:
    """How many times each baseline is measured beside n runs: one per BLOCK runs, and enough retrainings
    for the interval of their median (MEASUREMENTS)."""
    return max(MEASUREMENTS["retrain"], math.ceil(n_runs / BLOCK))


def beside(setup: WorkerSetup, ledger: MeasurementLedger, count: int, cached: Yardstick, log_dir: Path) -> Beside:
    """The retrain and identity baselines, `count` runs each, to run among a submission's runs in its workers'
    pool; a retraining is stopped at ten times the cached yardstick's wall-clock median, and never before a minute."""
    setups = {baseline: _baseline_setup(setup, baseline) for baseline in ("retrain", "identity")}
    return Beside(setups, count, max(60.0, 10 * cached.wall_median_s), ledger, log_dir)


def paired(ledger: MeasurementLedger, count: int, device: str, load_average: tuple[float, float]) -> Yardstick | None:
    """The yardstick of the first `count` measurements of each baseline made beside a submission's runs: all
    of them, or those made before a failed run stopped the runs; None if either baseline has none."""
    seconds, wall_seconds = ledger.seconds("retrain", count)
    floor_seconds, _ = ledger.seconds("identity", count)
    if not seconds or not floor_seconds:
        return None
    return Yardstick(kind="paired", measure=charged_measure(device), seconds=seconds, wall_seconds=wall_seconds,
                     floor_seconds=floor_seconds, load_average=load_average, hardware=hardware_fingerprint(device))
