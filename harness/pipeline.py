"""`score`: references, then sandboxed runs, then the metric, then score.json and report.html; and
`score-checkpoints`, the same with checkpoints made elsewhere in place of the runs."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
import hashlib
import logging
import os
from pathlib import Path
import time

import numpy as np
import pyarrow as pa
import torch

from harness.commands.errors import UsageError
from harness.competition import CompetitionUse
from harness.outputs.results import CHECKPOINTS, Circumstances, MetricSettings, Scorer, score_document, unlearned_population, write_score
from harness.resources import worker_folders
from harness.running.ledger import MeasurementLedger, RunLedger, RunRecord
from harness.running.runs import RunPlan, run_submission
from harness.sandbox.isolation import unavailable_reason as sandbox_unavailable
from harness.sandbox.limits import CPU_BY_CGROUP
from harness.sandbox.parent import isolation_report
from harness.sandbox.protocol import WorkerSetup
from harness.submissions.checkpoints import LOAD_TIMEOUT_S, CheckpointLimits, Checkpoints
from harness.submissions.notebooks import submission_program
from harness.submissions.timings import ReportedTimings, reported_seconds
from harness.submissions.untrusted import read_submission
from harness.timing.budget import MORE_RUNS, early_warning, hard_timeout, load_average, reported_budget, time_budget
from harness.timing.choices import DEFAULT_FRACTION
from harness.timing.yardstick import Yardstick, beside, paired, paired_count, yardstick
from reference_models.cache import ReferenceCache, References
from reference_models.datasets import BenchmarkData, data_folders, load_benchmark_data
from reference_models.evaluation import PopulationOutputs
from reference_models.files import state_dict_bytes, write_atomic, write_table_atomic
from reference_models.secret import public_view
from reference_models.spec import BenchmarkSpec
from rendering.report import report_html
from scoring.document import CheckpointsUsed, CompetitionUsed, ScoreDocument, TimeBudget, UnmeasuredBudget

log = logging.getLogger(__name__)


def default_jobs() -> int:
    """One job per core this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ScoreSettings:
    n_models: int = 512
    jobs: int = default_jobs()
    budget_fraction: float = DEFAULT_FRACTION
    timeout_s: float | None = None  # None: derived from the budget
    allow_failures: bool = False
    ceiling: bool = False  # also score N more retrained models: the best F reachable at this N
    report: bool = True  # write report.html with its figures (about 3 s of CPU a score); False: score.json alone
    memory_gb: float = 8.0  # address space a run may add to the worker's
    budget_policy: str = "eligible"  # over budget: ranked after those within it (eligible), or by score alone (rank-all)
    borderline: str = "pass"  # what a verdict whose interval holds the limit counts as: pass, fail, or more-runs (then pass)
    max_runs: int | None = None  # under more-runs, the most runs timed (None: MORE_RUNS x n_models)
    yardstick: str = "paired"  # retraining measured beside each submission's runs (paired), or once per machine (cached)
    rebuild: bool = True  # retrain damaged reference files (False: stop with CacheDamaged)
    cache_dir: Path = Path(".cache/references")
    ledger_dir: Path = Path(".cache/ledgers")
    progress: bool = True
    device: str = "cpu"  # where references train and are evaluated, and where a run's net is handed over
    sandbox: bool = True  # False (--no-sandbox): submissions run as plain processes, and score.json says so
    metric: MetricSettings = field(default_factory=MetricSettings)
    checkpoint_limits: CheckpointLimits = field(default_factory=CheckpointLimits)  # what score-checkpoints and leaderboards accept of an archive
    competition: CompetitionUse | None = None  # the competition file (or built-in) and what the command line overrode, for score.json


class SandboxUnavailable(UsageError):
    """No sandbox can be built here, and --no-sandbox was not given: nothing may run."""


def require_sandbox(settings: ScoreSettings) -> None:
    """Fail closed: stop, saying why, before anything is computed, where the sandbox cannot be built."""
    reason = sandbox_unavailable() if settings.sandbox else None
    if reason:
        raise SandboxUnavailable(f"no sandbox can be built here: {reason}. Fix that (see docs/sandbox.md), or pass --no-sandbox "
                                 "to run submissions as plain processes (score.json and the leaderboard then say so)")


def reference_cache(spec: BenchmarkSpec, settings: ScoreSettings) -> ReferenceCache:
    """The cache with the original, N references and, if asked for, N ceiling models built."""
    cache = ReferenceCache(settings.cache_dir, spec, settings.device)
    populations = ("retrained", "ceiling") if settings.ceiling else ("retrained",)
    cache.build(settings.n_models, populations, jobs=settings.jobs, progress=settings.progress, rebuild=settings.rebuild)
    return cache


def hidden_from_worker(submission: Path, spec: BenchmarkSpec, out_dir: Path, settings: ScoreSettings) -> tuple[Path, ...]:
    """Folders a submission must not read: the references, the ledgers, the results,
    the data (the test set is there) and its own folder (other submissions), unless
    a folder holds the harness's packages (a submission in the checkout's root, or beside site-packages)."""
    packages = worker_folders()
    folders = [settings.cache_dir, settings.ledger_dir, out_dir, submission.parent, *data_folders(spec)]
    resolved = {folder.resolve() for folder in folders}
    return tuple(sorted(f for f in resolved if not any(f == package or f in package.parents for package in packages)))


def _worker_setup(submission: Path, source: str, spec: BenchmarkSpec, references: References, data: BenchmarkData, settings: ScoreSettings) -> WorkerSetup:
    """What the worker receives: never the test set, the references or any path to them."""
    return WorkerSetup(
        submission=str(submission.resolve()),
        source=source,
        spec=public_view(spec),  # no seeds to rebuild the references or the split with, no data folder
        original_weights=state_dict_bytes(references.original_state),
        retain=data.retain,
        forget=data.forget,
        validation=data.validation,
        memory_bytes=int(settings.memory_gb * (1 << 30)),
        device=settings.device,
        max_answer_bytes=answer_limit(references.original_state),
        sandboxed=settings.sandbox,
    )


def answer_limit(original_state: dict[str, torch.Tensor]) -> int:
    """The largest answer a run may send: its weights in float64 (four times float32's), and room to spare."""
    return 4 * sum(tensor.numel() * tensor.element_size() for tensor in original_state.values()) + (1 << 20)


def _runs_and_verdict(setup: WorkerSetup, data: BenchmarkData, spec: BenchmarkSpec, plan: RunPlan, sha256: str, cached: Yardstick,
                      out_dir: Path, settings: ScoreSettings) -> tuple[list[RunRecord], TimeBudget, int]:
    """The runs (with the yardstick's measurements among them), their records, the budget's verdict and
    how many runs were planned.

    Under `--borderline more-runs`, while the verdict is borderline, twice as many runs are timed, with
    twice as many measurements, up to `max_runs`. Every timed run is returned, to be scored: a run timed
    but never scored is one a file could leave undone, and a file that knew which runs were scored could
    do its work only there and be timed on the rest.
    """
    timed, limit = settings.n_models, settings.max_runs or MORE_RUNS * settings.n_models
    load_before = load_average()
    with RunLedger.open(settings.ledger_dir, sha256, spec.key()) as ledger:
        while True:
            count = paired_count(settings.n_models) * timed // settings.n_models
            measured = beside(setup, MeasurementLedger(ledger), count, cached, out_dir) if settings.yardstick == "paired" else None
            run_submission(setup, data, ledger, replace(plan, n_runs=timed), out_dir / "submission.log", settings.progress,
                           watch=lambda charged_s: early_warning(charged_s, cached, settings.budget_fraction), beside=measured)
            load_after = load_average()
            retrain = (paired(measured.ledger, count, settings.device, (load_before, load_after)) if measured else None) or cached
            ok = [r for r in ledger.finished(timed) if r.status == "ok"]
            imports = np.array([np.nan if r.import_seconds is None else r.import_seconds for r in ok], dtype=float)
            budget = time_budget(np.array([r.unlearn_seconds for r in ok]), np.array([r.wall_seconds for r in ok]), retrain,
                                 settings.budget_fraction, settings.budget_policy, max(load_before, load_after), settings.borderline, imports)
            failed = len(ok) < timed and not settings.allow_failures
            if budget.verdict != "borderline" or settings.borderline != "more-runs" or timed >= limit or failed:
                return ledger.finished(timed), budget, timed
            timed = min(2 * timed, limit)
            log.info(f"time budget: borderline; timing {timed} runs (--borderline more-runs, at most {limit})")


def score(submission: Path, spec: BenchmarkSpec, out_dir: Path, settings: ScoreSettings) -> ScoreDocument:
    """Score one submission file; writes score.json (and examples.parquet) in out_dir.

    The time budget's yardstick is retraining measured among the submission's
    own runs, in the same workers under the same load (harness.timing.yardstick), or,
    with `yardstick="cached"`, the figure measured once per benchmark and
    machine, which also sets the hard timeout and the early warning.
    """
    require_sandbox(settings)
    torch.set_num_threads(1)
    source = read_submission(submission)
    sha256 = hashlib.sha256(source).hexdigest()  # of the file as given, notebook or not
    program, conversion_log = submission_program(submission, source)  # a notebook becomes a module before anything runs
    with _stage("references and data"):
        cache = reference_cache(spec, settings)
        references = cache.load(settings.n_models)
        data = load_benchmark_data(spec)
    setup = _worker_setup(submission, program, spec, references, data, settings)
    with _stage("yardstick"):
        cached = yardstick(settings.cache_dir, spec, setup, settings.jobs)
    timeout_s = settings.timeout_s or hard_timeout(cached.wall_median_s, settings.budget_fraction)
    out_dir.mkdir(parents=True, exist_ok=True)
    if conversion_log:
        with open(out_dir / "submission.log", "a") as submission_log:
            submission_log.write(conversion_log)
    isolation = isolation_report(setup)
    if not settings.sandbox:
        log.warning("--no-sandbox: the submission runs as a plain process, without network, file-system and process "
                    "isolation, and its CPU time is not verified (only its environment, memory and threads are limited)")
    elif isolation.cpu != CPU_BY_CGROUP:
        log.warning("no cgroup could be made here, so CPU time is measured by getrusage, which a submission can evade: "
                    "time-budget verdicts are unverified (see docs/sandbox.md)")
    plan = RunPlan(settings.n_models, settings.jobs, timeout_s, spec, hidden_from_worker(submission, spec, out_dir, settings),
                   stop_after_failure=not settings.allow_failures)
    with _stage("runs"):
        records, budget, n_models = _runs_and_verdict(setup, data, spec, plan, sha256, cached, out_dir, settings)
    if n_models > settings.n_models:  # more runs were timed, so as many references are needed to score them all
        cache = reference_cache(spec, replace(settings, n_models=n_models))
        references = cache.load(n_models)
    scorer = Scorer(references, settings.metric)
    circumstances = Circumstances(isolation, _competition_used(settings), n_planned=n_models, ceiling=_ceiling(cache, settings))
    with _stage("metric"):
        document, examples = score_document(spec, str(submission), sha256, records, scorer, budget, settings.allow_failures, circumstances)
    with _stage("score.json and report"):
        _write_results(out_dir, document, examples, records, scorer, settings, np.array([r.unlearn_seconds for r in records if r.status == "ok"]))
    return document


@contextmanager
def _stage(name: str) -> Iterator[None]:
    """-v: how long a stage of a score took."""
    start = time.perf_counter()
    yield
    log.debug(f"{name}: {time.perf_counter() - start:.1f} s")


def _competition_used(settings: ScoreSettings) -> CompetitionUsed | None:
    use = settings.competition
    return None if use is None else CompetitionUsed(use.source, dict(use.overrides))


def _ceiling(cache: ReferenceCache, settings: ScoreSettings) -> Callable[[int], PopulationOutputs] | None:
    """The first n models retrained from scratch for the ceiling's F, where --ceiling asks for it."""
    return partial(cache.population, "ceiling") if settings.ceiling else None


def _write_results(out_dir: Path, document: ScoreDocument, examples: pa.Table | None, records: list[RunRecord], scorer: Scorer,
                   settings: ScoreSettings, unlearn_seconds: np.ndarray) -> None:
    """score.json, and where the runs were scored, examples.parquet and report.html (with `unlearn_seconds`, the ok
    runs' time as the budget judged it)."""
    if examples is not None:
        write_table_atomic(out_dir / "examples.parquet", examples)
    write_score(out_dir, document)
    if not settings.report:
        (out_dir / "report.html").unlink(missing_ok=True)  # an earlier score's report would not explain this one
    elif examples is not None:
        epsilon = examples["epsilon"].to_numpy()
        page = report_html(document, epsilon, unlearned_population(records), scorer.references, unlearn_seconds)
        write_atomic(out_dir / "report.html", page.encode())


def score_checkpoints(path: Path, checkpoints: Checkpoints, spec: BenchmarkSpec, out_dir: Path, settings: ScoreSettings,
                      timings: ReportedTimings | None = None) -> ScoreDocument:
    """Score checkpoints made elsewhere (read from `path` by harness.submissions.checkpoints) as the runs of a submission:
    run i is checkpoint i, loaded in a sandboxed worker and evaluated here, against the first N references.
    No code ran, so the time budget is not measured, unless the participant's `timings` are given: then it
    is judged from them against retraining timed here, and marked as self-reported.
    """
    require_sandbox(settings)
    torch.set_num_threads(1)
    n_models = len(checkpoints.runs)
    settings = replace(settings, n_models=n_models, allow_failures=True)  # a member that fails its check is a failed run; the rest are scored
    cache = reference_cache(spec, settings)
    references = cache.load(n_models)
    data = load_benchmark_data(spec)
    code_setup = _worker_setup(path, "", spec, references, data, settings)
    setup = replace(code_setup, checkpoints=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = RunPlan(n_models, settings.jobs, LOAD_TIMEOUT_S, spec, hidden_from_worker(path, spec, out_dir, settings), checkpoints=checkpoints)
    sha256 = checkpoints.sha256()
    with RunLedger.open(settings.ledger_dir, sha256, spec.key()) as ledger:
        run_submission(setup, data, ledger, plan, out_dir / "submission.log", settings.progress)
        records = ledger.finished(n_models)
    ok_runs = [record.run_id for record in records if record.status == "ok"]
    if timings is None:
        budget = UnmeasuredBudget(settings.budget_fraction, settings.budget_policy, "checkpoints made elsewhere: the harness ran no code, so it timed none")
        seconds = np.array([])
    else:  # retraining timed once on this machine, as --yardstick cached does: there are no runs of code to time it among
        seconds = reported_seconds(timings, ok_runs)
        budget = reported_budget(seconds, timings.hardware, yardstick(settings.cache_dir, spec, code_setup, settings.jobs), settings.budget_fraction,
                                 settings.budget_policy, settings.borderline)
        seconds = seconds + budget.floor_s  # as a run's charged seconds, from which the report's time panel takes the floor off
    scorer = Scorer(references, settings.metric)
    used = CheckpointsUsed(tuple(checkpoint.name for checkpoint in checkpoints.runs), tuple(checkpoints.ignored), timings.source if timings else None)
    circumstances = Circumstances(isolation_report(setup), _competition_used(settings), used, ceiling=_ceiling(cache, settings))
    document, examples = score_document(spec, str(path), sha256, records, scorer, budget, True, circumstances, models_from=CHECKPOINTS)
    _write_results(out_dir, document, examples, records, scorer, settings, seconds)
    return document
