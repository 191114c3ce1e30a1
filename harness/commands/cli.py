"""Command line: `python -m harness score|score-checkpoints|leaderboard|stability|references|competition|convert ...`.

Exit codes are those of harness.commands.exit_codes, which every command's --help lists.
"""

import argparse
from dataclasses import dataclass, replace
from pathlib import Path
import shlex
import sys

from harness.benchmarks import declared_images, forecast_benchmark, get_competition, scenario_benchmark, split_benchmark
from harness.boards.adaptive import START_N, Adaptive
from harness.boards.leaderboard import leaderboard, submissions_in
from harness.boards.stability import originals_stability, stability
from harness.commands import exit_codes
from harness.commands.arguments import build_parser
from harness.commands.errors import ScoringStopped, UsageError, exit_code_of
from harness.competition import Competition, CompetitionUse, built_in_competitions, read_competition
from harness.competition_check import check_competition, check_text
from harness.competition_docs import starting_file
from harness.outputs.console import summary, written
from harness.outputs.results import MetricSettings
from harness.pipeline import score, score_checkpoints
from harness.running.backends import compute_backend
from harness.running.failures import inert
from harness.session import ScoringSession, reference_cache, require_sandbox
from harness.settings import ScoreSettings
from harness.submissions.checkpoints import CheckpointLimits, Checkpoints, read_checkpoints, scorable
from harness.submissions.notebooks import check_suffix, convert_notebook, submission_program
from harness.submissions.timings import ReportedTimings, read_timings
from harness.submissions.untrusted import SubmissionRefused, read_submission, results_folder
from reference_models.architectures import ARCHITECTURES, require_classifier
from reference_models.datasets import locate_data
from reference_models.errors import InputError
from reference_models.hardware import resolve_device
from reference_models.progress import configure as configure_output
from reference_models.secret import cache_secret, sealed
from reference_models.spec import BenchmarkSpec
from reference_models.supplied import load_original
from rendering.pages import visible
from scoring.attacks import resolve_attacks
from scoring.quality import MIN_MODELS

EXIT_OK, EXIT_SUBMISSION_FAILED, EXIT_INTERRUPTED = exit_codes.OK.code, exit_codes.SUBMISSION_FAILED.code, exit_codes.INTERRUPTED.code


@dataclass(frozen=True)
class Archive:
    """What score-checkpoints scores, read before anything is built: the checkpoints, and the participant's timings if given."""

    checkpoints: Checkpoints
    timings: ReportedTimings | None


def _report(error: Exception, exit_code: exit_codes.ExitCode) -> int:
    """Print the error's message inert (it may name a participant's file, terminal escapes and all); return its code."""
    prefix = "" if exit_code == exit_codes.INTERRUPTED else "error: "  # Ctrl-C is what the user asked for
    print(f"{prefix}{inert(str(error), limit=None)}", file=sys.stderr)
    return exit_code.code


def _score_argument_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the score command's arguments, if anything."""
    if args.command == "stability" and args.originals <= 1 and len(args.n_models) < 2:
        return "stability compares rankings at two or more different Ns: give them separated by commas (such as 32,64,128,256,512)"
    if args.command == "stability" and args.originals > 1 and len(args.n_models) > 1:
        return f"stability --originals ranks the folder by each original at one N: give one --n-models (such as {max(args.n_models)})"
    if args.command == "score" and not args.submission.exists():
        return f"submission {args.submission} does not exist"
    if args.command == "score-checkpoints" and not (args.checkpoints.exists() or args.checkpoints.is_symlink()):
        return f"{args.checkpoints} does not exist: give the zip archive, or the folder, of the checkpoints"
    if args.command == "score-checkpoints" and args.timings is not None and not (args.timings.exists() or args.timings.is_symlink()):
        return f"--timings {args.timings} does not exist"
    if min(args.max_members, args.max_checkpoint_mb, args.max_total_gb) < 1:
        return "--max-members, --max-checkpoint-mb and --max-total-gb must be at least 1"
    if args.command == "score":
        try:
            check_suffix(args.submission)
            # a link, a FIFO, an oversized file or an unreadable notebook is refused before any reference is built
            submission_program(args.submission, read_submission(args.submission))
        except SubmissionRefused as refused:
            return str(refused)
    if args.command in ("leaderboard", "stability"):
        try:
            entries = submissions_in(args.folder) if args.folder.is_dir() else []
            if not entries:
                return f"{args.folder} is not a folder with submission files (*.py or *.ipynb) or checkpoints (*.zip, or folders of them) in it"
            if getattr(args, "adaptive", False) and entries != submissions_in(args.folder, checkpoints=False):
                return (f"{args.folder} holds checkpoints made elsewhere, whose N is fixed: an adaptive leaderboard cannot give them more "
                        "runs. Rank them on a fixed-N leaderboard (without --adaptive)")
        except SubmissionRefused as refused:  # two files sharing a name
            return str(refused)
    if not 0 < args.budget_fraction:
        return "--budget-fraction must be positive"
    if args.max_runs is not None and (args.borderline != "more-runs" or args.max_runs < args.n_models):
        return "--max-runs needs --borderline more-runs and must be at least --n-models"
    if args.command == "leaderboard" and not args.adaptive and (args.top is not None or args.max_n is not None or args.start_n != START_N):
        return "--top, --max-n and --start-n need --adaptive"
    if args.command == "leaderboard" and args.adaptive and (args.rank_by != "official" or args.forecast):
        return ("--adaptive refines N by the official score's intervals: it ranks by the official score only and forecasts nothing "
                "(leave out --rank-by and --forecast)")
    if args.command == "leaderboard" and args.forecast < 0:
        return "--forecast K needs K >= 0 more forget sets"
    if args.command == "leaderboard" and args.adaptive and (args.bootstrap < 2 or (args.top is not None and args.top < 1) or args.start_n < 4):
        return "--adaptive needs --bootstrap of at least 2 (its intervals decide), --top of at least 1 and --start-n of at least 4"
    if args.originals < 1:
        return "--originals K needs K >= 1 (1: the competition's one original)"
    n_models = max(args.n_models) if args.command == "stability" else args.n_models
    if args.originals > 1 and (n_models % args.originals or n_models // args.originals < MIN_MODELS + 1):
        return (f"--originals {args.originals} gives each original N/K of the runs: --n-models ({n_models}) must be a multiple of K "
                f"and give each original at least {MIN_MODELS + 1} runs, enough to halve for its interval")
    if args.command == "leaderboard" and args.originals > 1:
        return ("a leaderboard ranks by one score, and a study's pooled score is no measure of a method (identity, which returns "
                "each original unchanged, scores well above 0): rank by each original with `stability --originals K --n-models N`")
    if args.bootstrap == 1 or args.bootstrap < 0:
        return "--bootstrap must be 0 (none) or at least 2 half-sampling replicates"
    if not 0.5 <= args.confidence < 1:
        return "--confidence must be in [0.5, 1)"
    if not args.memory_gb > 0:
        return "--memory-gb must be positive"
    if args.mia_models < 1:
        return "--mia-models must be at least 1"
    try:
        resolve_attacks(args.attacks)
    except ValueError as error:
        return str(error)
    return None


def _checkpoint_limits(args: argparse.Namespace) -> CheckpointLimits:
    return CheckpointLimits(args.max_members, args.max_checkpoint_mb << 20, args.max_total_gb << 30)


def _score_settings(args: argparse.Namespace, n_models: int) -> ScoreSettings:
    metric = MetricSettings(
        attacks=args.attacks,
        rates=args.rates,
        confidence=args.confidence,
        bootstrap=args.bootstrap,
        mia_models=args.mia_models,
        jobs=args.jobs,
        device=None if args.device == "cpu" else args.device,  # None: the attacks' numpy path
        progress=not args.quiet,
    )
    return ScoreSettings(
        n_models=n_models,
        jobs=args.jobs,
        budget_fraction=args.budget_fraction,
        timeout_s=args.timeout,
        allow_failures=args.allow_failures,
        ceiling=args.ceiling,
        originals=args.originals,
        report=not args.no_report,
        memory_gb=args.memory_gb,
        budget_policy=args.budget_policy,
        borderline=args.borderline,
        max_runs=args.max_runs,
        yardstick=args.yardstick,
        rebuild=not args.no_rebuild,
        cache_dir=args.cache_dir,
        ledger_dir=args.ledger_dir,
        progress=not args.quiet,
        device=args.device,
        sandbox=not args.no_sandbox,
        metric=metric,
        checkpoint_limits=_checkpoint_limits(args),
        competition=args.competition,
    )


def _command_line(argv: list[str] | None) -> str:
    """This invocation as a command to paste, for the notes of the tables it writes."""
    return "python -m harness " + shlex.join(sys.argv[1:] if argv is None else argv)


# The options a competition file's [runs] and [metric] set: option -> (section, key). The command line overrides the file.
FILE_OPTIONS = {
    "n_models": ("runs", "n_models"), "budget_fraction": ("runs", "budget_fraction"), "budget_policy": ("runs", "budget_policy"),
    "borderline": ("runs", "borderline"), "yardstick": ("runs", "yardstick"), "timeout": ("runs", "timeout_s"), "memory_gb": ("runs", "memory_gb"),
    "attacks": ("metric", "attacks"), "rates": ("metric", "rates"), "confidence": ("metric", "confidence"), "bootstrap": ("metric", "bootstrap"),
    "mia_models": ("metric", "mia_models"),
}
_OWN_N = ("stability", "score-checkpoints")  # N is a list of counts, or the archive's count unless --n-models says otherwise


def _settle_options(args: argparse.Namespace, competition: Competition) -> CompetitionUse:
    """Each option of FILE_OPTIONS the command line left out takes the file's value; what was used, and overridden
    (by an option or by --set), for score.json."""
    overrides = list(args.settings)
    for option, (section, key) in FILE_OPTIONS.items():
        if not hasattr(args, option) or (option == "n_models" and args.command in _OWN_N):
            continue
        if getattr(args, option) is None:
            setattr(args, option, getattr(getattr(competition, section), key))
        else:
            overrides.append((f"{section}.{key}", getattr(args, option)))
    return CompetitionUse(args.benchmark, tuple(overrides))


def _benchmark_spec(args: argparse.Namespace, competition: Competition) -> BenchmarkSpec:
    """The competition's spec with the scenario, image settings, precision and data that the options ask for."""
    spec = scenario_benchmark(competition.spec(), args.forget_selection, args.poison_fraction)
    spec = declared_images(spec, args.image_size, args.architecture)
    if args.mixed_precision:
        spec = replace(spec, recipe=replace(spec.recipe, mixed_precision=True))
    spec = locate_data(spec, args.data_dir)
    _require_model_fits(spec, args.benchmark)
    return spec


def _require_model_fits(spec: BenchmarkSpec, source: str) -> None:
    """InputError naming the competition (and the key) where a torchvision model or an organiser's factory cannot
    classify the data, or a supplied original does not fit the model: refused before anything is built."""
    try:
        if spec.architecture not in ARCHITECTURES:
            require_classifier(spec)
        if spec.original_file is not None:
            load_original(spec)
    except InputError as error:
        raise InputError(f"{source}: {error}") from None


def _default_out(args: argparse.Namespace, spec: BenchmarkSpec) -> Path:
    """A folder per benchmark and submission (or folder), so that one score never overwrites another's
    (nor an adaptive leaderboard the fixed-N one it is checked against, or one for the top K another)."""
    if args.command == "score":
        return results_folder(Path("results") / spec.name, args.submission)
    if args.command == "score-checkpoints":
        return results_folder(Path("results") / spec.name, args.checkpoints)
    adaptive = ""
    if getattr(args, "adaptive", False):
        adaptive = "-adaptive" if args.top is None else f"-adaptive-top{args.top}"
    by = "" if getattr(args, "rank_by", "official") == "official" else f"-by-{args.rank_by}"
    return Path("results") / spec.name / f"{args.command}-{args.folder.resolve().name}{adaptive}{by}"


def _run(args: argparse.Namespace, spec: BenchmarkSpec, command: str, archive: Archive | None) -> int:
    """The command itself, once its arguments (and score-checkpoints' archive) are checked and its backend
    is up; its exit code.

    The spec's seeds are sealed here with the reference cache's secret (made on
    first use), so that a usage error leaves nothing behind.
    """
    spec = sealed(spec, cache_secret(args.cache_dir))
    if args.command == "references":
        settings = ScoreSettings(n_models=args.n_models, jobs=args.jobs, cache_dir=args.cache_dir, progress=not args.quiet,
                                 rebuild=not args.no_rebuild, device=args.device)
        reference_cache(spec, settings)
        print(f"references for {spec.name} ({spec.key()}): {args.n_models} models in {args.cache_dir / spec.key()}")
        return EXIT_OK
    if args.command == "leaderboard":
        adaptive = Adaptive(args.top, args.start_n) if args.adaptive else None
        max_n = args.max_n if args.adaptive and args.max_n is not None else args.n_models
        if args.forecast:
            forecast_benchmark(spec, 1)  # a selection that has no other forget set is refused before anything is scored
            print(f"--forecast {args.forecast}: the folder is scored on {args.forecast} more forget set(s) as well, each costing what a "
                  "private split costs (its references and every entry's runs)", file=sys.stderr)
        print(leaderboard(args.folder, spec, args.split, args.out, _score_settings(args, max_n), command, adaptive, args.rank_by, args.forecast))
        print(f"written {visible(str(args.out / 'leaderboard.md'))}")
        return EXIT_OK
    if args.command == "stability" and args.originals > 1:
        print(originals_stability(args.folder, spec, args.out, _score_settings(args, max(args.n_models)), command))
        print(f"written {visible(str(args.out / 'stability.md'))}")
        return EXIT_OK
    if args.command == "stability":
        print(stability(args.folder, spec, args.n_models, args.out, _score_settings(args, max(args.n_models)), command))
        print(f"written {visible(str(args.out / 'stability.md'))}")
        return EXIT_OK
    if archive is not None:
        session = ScoringSession(spec, _score_settings(args, len(archive.checkpoints.runs)))
        document = score_checkpoints(args.checkpoints, archive.checkpoints, args.out, session, archive.timings)
    else:
        document = score(args.submission, args.out, ScoringSession(spec, _score_settings(args, args.n_models)), args.n_models)
    print(summary(document))
    print(written(args.out, document))
    return EXIT_OK if document.scored else EXIT_SUBMISSION_FAILED


def _convert(notebook: Path, out: Path | None) -> int:
    """`convert`: the notebook as the module the harness would run, with what was dropped listed."""
    if notebook.suffix != ".ipynb" or not notebook.exists():
        raise UsageError(f"{notebook} is not a notebook file: convert takes a Jupyter notebook (.ipynb)")
    conversion = convert_notebook(read_submission(notebook).decode("utf-8", errors="replace"), notebook.name)
    if out is None:
        print(conversion.source, end="")
    else:
        out.write_text(conversion.source)
        print(f"written {visible(str(out))}", file=sys.stderr)
    print(inert(conversion.log_text(notebook.name), limit=None), end="", file=sys.stderr)  # the dropped lines are the participant's
    return EXIT_OK


def _competition(action: str, file: Path, data_dir: Path | None, n_models: int, settings: tuple[tuple[str, object], ...]) -> int:
    """`competition new`: a commented starting file (the digits-mlp competition); `competition check`: what the file will cost."""
    if action == "new":
        if file.exists() or file.is_symlink():
            raise UsageError(f"{file} exists: name a new file, or check this one with: python -m harness competition check {file}")
        file.write_text(starting_file(built_in_competitions()["digits-mlp"]))
        print(f"written {visible(str(file))}: edit it, then run python -m harness competition check {visible(str(file))}")
        return EXIT_OK
    spec = locate_data(read_competition(file, settings).spec(), data_dir)
    _require_model_fits(spec, str(file))
    print(check_text(check_competition(spec), n_models))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """The command's exit code. Its foreseen errors end it with their line and code (harness.commands.errors.exit_code_of),
    mapped here and nowhere else; anything else is a bug, raised with its traceback (exit code 1)."""
    args = build_parser().parse_args(argv)
    configure_output(-1 if getattr(args, "quiet", False) else 1 if getattr(args, "verbose", False) else 0)
    try:
        return _command(args, argv)
    except KeyboardInterrupt:
        print("interrupted; run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        exit_code = exit_code_of(error)
        if exit_code is None:
            raise
        return _report(error, exit_code)


def _command(args: argparse.Namespace, argv: list[str] | None) -> int:
    """The command, its arguments, competition and data checked before anything is built."""
    if args.command == "convert":
        return _convert(args.notebook, args.out)
    if args.command == "competition":
        return _competition(args.action, args.file, args.data_dir, args.n_models, tuple(args.settings))
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.scheduler is not None and args.backend != "dask":
        raise UsageError("--scheduler needs --backend dask")
    args.device = resolve_device(args.device)
    competition = get_competition(args.benchmark, tuple(args.settings))
    args.competition = _settle_options(args, competition)
    spec = _benchmark_spec(args, competition)
    if getattr(args, "split", "public") != "public":
        split_benchmark(spec, "private")  # not every scenario has one
    error = None if args.command == "references" else _score_argument_error(args)
    if error:
        raise UsageError(error)
    if getattr(args, "originals", 1) > 1 and spec.original_file is not None:
        raise UsageError(f"{args.benchmark} supplies its original model ({spec.original_file}): a study of originals trains its originals "
                         "from K seeds, so leave out --originals")
    if args.command != "score-checkpoints":
        return _prepared(args, spec, argv, None)
    # read once, and refused before the sandbox is probed, the cache's secret made or any reference built
    with scorable(read_checkpoints(args.checkpoints, _checkpoint_limits(args)), args.checkpoints.name, args.n_models) as checkpoints:
        timings = None if args.timings is None else read_timings(args.timings, checkpoints)
        return _prepared(args, spec, argv, Archive(checkpoints, timings))


def _prepared(args: argparse.Namespace, spec: BenchmarkSpec, argv: list[str] | None, archive: Archive | None) -> int:
    """The command, once its arguments are checked: its output folder, the sandbox's check, its backend, then
    the command itself. Data found unusable from here on is no longer the command line's fault."""
    if args.command != "references" and args.out is None:
        args.out = _default_out(args, spec)  # refused where a name such as '...py' would leave results/
    if args.command != "references":
        require_sandbox(_score_settings(args, 3))  # before any reference is built
    with compute_backend(args.backend, args.scheduler, args.jobs, gpu=args.device == "cuda"):
        try:
            return _run(args, spec, _command_line(argv), archive)
        except InputError as error:  # an image found unreadable while loading
            raise ScoringStopped(f"scoring stopped: {error}") from error
