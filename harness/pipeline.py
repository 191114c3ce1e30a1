"""`score`: references, then sandboxed runs, then the metric, then score.json and report.html; and
`score-checkpoints`, the same with checkpoints made elsewhere in place of the runs."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
import hashlib
import logging
from pathlib import Path
import time

import numpy as np
import pyarrow as pa
import torch

from harness.outputs.kept_scores import KeptScores, ScoreInputs, outputs_digest
from harness.outputs.results import CHECKPOINTS, Circumstances, Scorer, score_document, unlearned_population, versions, write_score
from harness.resources import worker_folders
from harness.running.ledger import MeasurementLedger, RunLedger, RunRecord
from harness.running.runs import RunPlan, run_submission
from harness.sandbox.limits import CPU_BY_CGROUP
from harness.sandbox.protocol import WorkerSetup
from harness.session import ScoringSession
from harness.settings import ScoreSettings
from harness.submissions.checkpoints import LOAD_TIMEOUT_S, Checkpoints
from harness.submissions.notebooks import submission_program
from harness.submissions.timings import ReportedTimings, reported_seconds
from harness.submissions.untrusted import read_submission
from harness.timing.budget import MORE_RUNS, early_warning, hard_timeout, load_average, reported_budget, time_budget
from harness.timing.yardstick import Yardstick, beside, paired, paired_count
from reference_models.cache import ReferenceCache, References
from reference_models.datasets import BenchmarkData, data_folders
from reference_models.evaluation import PopulationOutputs
from reference_models.files import state_dict_bytes, write_atomic, write_table_atomic
from reference_models.secret import public_view
from reference_models.spec import BenchmarkSpec
from rendering.report import report_html
from scoring.document import CheckpointsUsed, CompetitionUsed, Isolation, ScoreDocument, TimeBudget, UnmeasuredBudget

log = logging.getLogger(__name__)


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
        original_weights=tuple(state_dict_bytes(state) for state in references.original_states),
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


def _runs_and_verdict(setup: WorkerSetup, session: ScoringSession, plan: RunPlan, sha256: str, out_dir: Path,
                      settings: ScoreSettings) -> tuple[list[RunRecord], TimeBudget, Yardstick, int]:
    """The runs (with the yardstick's measurements among them), their records, the budget's verdict, the yardstick
    it was judged by and how many runs were planned.

    Under `--borderline more-runs`, while the verdict is borderline, twice as many runs are timed, with
    twice as many measurements, up to `max_runs`. Every timed run is returned, to be scored: a run timed
    but never scored is one a file could leave undone, and a file that knew which runs were scored could
    do its work only there and be timed on the rest.
    """
    spec, cached = session.spec, session.yardstick(setup)
    timed, limit = settings.n_models, settings.max_runs or MORE_RUNS * settings.n_models
    load_before = load_average()
    with RunLedger.open(settings.ledger_dir, sha256, RunLedger.runs_key(spec.key(), settings.originals)) as ledger:
        while True:
            count = paired_count(settings.n_models) * timed // settings.n_models
            measured = beside(setup, MeasurementLedger(ledger), count, cached, out_dir) if settings.yardstick == "paired" else None
            run_submission(setup, session.data, ledger, replace(plan, n_runs=timed), out_dir / "submission.log", settings.progress,
                           watch=lambda charged_s: early_warning(charged_s, cached, settings.budget_fraction), beside=measured)
            load_after = load_average()
            retrain = (paired(measured.ledger, count, settings.device, (load_before, load_after)) if measured else None) or cached
            ok = [r for r in ledger.finished(timed) if r.status == "ok"]
            imports = np.array([np.nan if r.import_seconds is None else r.import_seconds for r in ok], dtype=float)
            budget = time_budget(np.array([r.unlearn_seconds for r in ok]), np.array([r.wall_seconds for r in ok]), retrain,
                                 settings.budget_fraction, settings.budget_policy, max(load_before, load_after), settings.borderline, imports)
            failed = len(ok) < timed and not settings.allow_failures
            if budget.verdict != "borderline" or settings.borderline != "more-runs" or timed >= limit or failed:
                return ledger.finished(timed), budget, retrain, timed
            timed = min(2 * timed, limit)
            log.info(f"time budget: borderline; timing {timed} runs (--borderline more-runs, at most {limit})")


def score(submission: Path, out_dir: Path, session: ScoringSession, n_models: int) -> ScoreDocument:
    """Score one submission file with N = n_models; writes score.json (and examples.parquet and report.html) in out_dir.

    The time budget's yardstick is retraining measured among the submission's
    own runs, in the same workers under the same load (harness.timing.yardstick), or,
    with `yardstick="cached"`, the figure measured once per benchmark and
    machine, which also sets the hard timeout and the early warning. Where the
    runs and settings are those of a score already made, its files are copied
    (harness.outputs.kept_scores) instead of computing the metric again.
    """
    spec, settings = session.spec, replace(session.settings, n_models=n_models)
    source = read_submission(submission)
    sha256 = hashlib.sha256(source).hexdigest()  # of the file as given, notebook or not
    program, conversion_log = submission_program(submission, source)  # a notebook becomes a module before anything runs
    with _stage("references and data"):
        cache, references = session.references(n_models)
        setup = _worker_setup(submission, program, spec, references, session.data, settings)
    with _stage("yardstick"):
        cached = session.yardstick(setup)
    timeout_s = settings.timeout_s or hard_timeout(cached.wall_median_s, settings.budget_fraction)
    out_dir.mkdir(parents=True, exist_ok=True)
    if conversion_log:
        with open(out_dir / "submission.log", "a") as submission_log:
            submission_log.write(conversion_log)
    isolation = session.isolation(setup)
    if not settings.sandbox:
        log.warning("--no-sandbox: the submission runs as a plain process, without network, file-system and process "
                    "isolation, and its CPU time is not verified (only its environment, memory and threads are limited)")
    elif isolation.cpu != CPU_BY_CGROUP:
        log.warning("no cgroup could be made here, so CPU time is measured by getrusage, which a submission can evade: "
                    "time-budget verdicts are unverified (see docs/sandbox.md)")
    plan = RunPlan(settings.n_models, settings.jobs, timeout_s, spec, hidden_from_worker(submission, spec, out_dir, settings),
                   stop_after_failure=not settings.allow_failures, originals=settings.originals)
    with _stage("runs"):
        records, budget, retrain, n_planned = _runs_and_verdict(setup, session, plan, sha256, out_dir, settings)
    if n_planned > settings.n_models:  # more runs were timed, so as many references are needed to score them all
        cache, references = session.references(n_planned)
    ceiling = _ceiling(cache, settings)
    inputs = _inputs(spec, str(submission), sha256, records, references, ceiling, _measured(retrain),
                     replace(settings, n_models=n_planned).numbers(), isolation)
    kept = KeptScores(settings.ledger_dir)
    document = kept.restore(inputs, out_dir)
    if document is not None:
        return document
    scorer = Scorer(references, settings.metric)
    circumstances = Circumstances(isolation, _competition_used(settings), n_planned=n_planned, ceiling=ceiling)
    with _stage("metric"):
        document, examples = score_document(spec, str(submission), sha256, records, scorer, budget, settings.allow_failures, circumstances)
    with _stage("score.json and report"):
        _write_results(out_dir, document, examples, records, scorer, settings, np.array([r.unlearn_seconds for r in records if r.status == "ok"]))
    kept.keep(inputs, out_dir)
    return document


def _inputs(spec: BenchmarkSpec, submission: str, sha256: str, records: list[RunRecord], references: References,
            ceiling: Callable[[int], PopulationOutputs] | None, yardstick: str, settings: str, isolation: Isolation) -> ScoreInputs:
    """What a kept score of these runs must have been computed from (harness.outputs.kept_scores): the references'
    outputs include the ceiling's models where --ceiling scores them."""
    scored = [*references.originals, references.retrained.head(len(records))] + ([ceiling(len(records))] if ceiling else [])
    return ScoreInputs(spec.key(), submission, sha256, outputs_digest(records), outputs_digest(scored), yardstick, settings,
                       repr((sorted(versions().items()), isolation)))


def _measured(retrain: Yardstick | None) -> str:
    """What a kept score's budget was judged by: retraining's and the floor's seconds (not the load they ran under)."""
    if retrain is None:
        return "none"
    return repr((retrain.kind, retrain.measure, retrain.seconds, retrain.wall_seconds, retrain.floor_seconds))


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
    runs' time as the budget judged it). An earlier score's files that this one does not write are removed: they
    would not explain it."""
    write_score(out_dir, document)
    if examples is None:
        (out_dir / "examples.parquet").unlink(missing_ok=True)
    else:
        write_table_atomic(out_dir / "examples.parquet", examples)
    if not settings.report or examples is None:
        (out_dir / "report.html").unlink(missing_ok=True)
    else:
        page = report_html(document, examples, unlearned_population(records), scorer.references, unlearn_seconds)
        write_atomic(out_dir / "report.html", page.encode())


def score_checkpoints(path: Path, checkpoints: Checkpoints, out_dir: Path, session: ScoringSession,
                      timings: ReportedTimings | None = None) -> ScoreDocument:
    """Score checkpoints made elsewhere (read from `path` by harness.submissions.checkpoints) as the runs of a submission:
    run i is checkpoint i, loaded in a sandboxed worker and evaluated here, against the first N references.
    No code ran, so the time budget is not measured, unless the participant's `timings` are given: then it
    is judged from them against retraining timed here, and marked as self-reported.
    """
    n_models = len(checkpoints.runs)
    spec = session.spec
    settings = replace(session.settings, n_models=n_models, allow_failures=True)  # a member that fails its check is a failed run; the rest are scored
    cache, references = session.references(n_models)
    code_setup = _worker_setup(path, "", spec, references, session.data, settings)
    setup = replace(code_setup, checkpoints=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = RunPlan(n_models, settings.jobs, LOAD_TIMEOUT_S, spec, hidden_from_worker(path, spec, out_dir, settings), checkpoints=checkpoints)
    sha256 = checkpoints.sha256()
    with RunLedger.open(settings.ledger_dir, sha256, spec.key()) as ledger:
        run_submission(setup, session.data, ledger, plan, out_dir / "submission.log", settings.progress)
        records = ledger.finished(n_models)
    ok_runs = [record.run_id for record in records if record.status == "ok"]
    retrain = None if timings is None else session.yardstick(code_setup)  # timed once on this machine, as --yardstick cached is
    used = CheckpointsUsed(tuple(checkpoint.name for checkpoint in checkpoints.runs), tuple(checkpoints.ignored), timings.source if timings else None)
    isolation = session.isolation(setup)
    ceiling = _ceiling(cache, settings)
    inputs = _inputs(spec, str(path), sha256, records, references, ceiling, f"{_measured(retrain)}, reported {timings!r}",
                     f"{settings.numbers()}, {used!r}", isolation)
    kept = KeptScores(settings.ledger_dir)
    document = kept.restore(inputs, out_dir)
    if document is not None:
        return document
    if timings is None or retrain is None:
        budget: TimeBudget | UnmeasuredBudget = UnmeasuredBudget(settings.budget_fraction, settings.budget_policy,
                                                                 "checkpoints made elsewhere: the harness ran no code, so it timed none")
        seconds = np.array([])
    else:  # there are no runs of code to time retraining among
        seconds = reported_seconds(timings, ok_runs)
        budget = reported_budget(seconds, timings.hardware, retrain, settings.budget_fraction, settings.budget_policy, settings.borderline)
        seconds = seconds + budget.floor_s  # as a run's charged seconds, from which the report's time panel takes the floor off
    scorer = Scorer(references, settings.metric)
    circumstances = Circumstances(isolation, _competition_used(settings), used, ceiling=ceiling)
    document, examples = score_document(spec, str(path), sha256, records, scorer, budget, True, circumstances, models_from=CHECKPOINTS)
    _write_results(out_dir, document, examples, records, scorer, settings, seconds)
    kept.keep(inputs, out_dir)
    return document
