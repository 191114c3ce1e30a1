"""The command line's commands and options, with their help: what `python -m harness --help` shows.

harness.commands.cli reads what they parse into and runs the command; the options a competition file may set
default to None here, and take the file's values there (harness.commands.cli.FILE_OPTIONS).
"""

import argparse
from pathlib import Path

from harness.benchmarks import BENCHMARKS
from harness.boards.adaptive import START_N
from harness.boards.leaderboard import DEFAULT_SPLIT, SPLIT_CHOICES
from harness.commands import exit_codes
from harness.competition import setting
from harness.running.backends import BACKENDS
from harness.settings import default_jobs
from harness.submissions.checkpoints import CheckpointLimits
from harness.timing.choices import BORDERLINE, DEFAULT_FRACTION, POLICIES, YARDSTICKS
from reference_models.architectures import IMAGE_ARCHITECTURES
from reference_models.datasets import DATA_DIR_VARIABLE
from reference_models.forget_sets import SELECTIONS
from scoring.panel import RANK_BY
from scoring.quality import MIN_MODELS
from scoring.tables import RATES


def _model_count(text: str) -> int:
    """An --n-models value: the metric compares populations, so at least three models."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if count < MIN_MODELS:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_MODELS} (the metric compares populations of models), got {count}")
    return count


def _model_counts(text: str) -> tuple[int, ...]:
    """stability's --n-models: distinct counts separated by commas, in ascending order (two or more unless --originals,
    which the command checks)."""
    counts = tuple(_model_count(item.strip()) for item in text.split(","))
    if len(set(counts)) != len(counts):
        raise argparse.ArgumentTypeError(f"different Ns separated by commas (such as 32,64,128,256,512), got {text!r}")
    return tuple(sorted(counts))


def _setting(text: str) -> tuple[str, object]:
    try:
        return setting(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", type=_setting, action="append", default=[], metavar="SECTION.KEY=VALUE", dest="settings",
                        help="a key of the competition file, over the file's value (repeatable; such as --set training.epochs=2)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", default="digits-mlp", metavar="NAME|FILE.toml",
                        help=f"a built-in benchmark ({', '.join(sorted(BENCHMARKS))}; default digits-mlp) or a competition file (docs/competitions.md), "
                             "whose [runs] and [metric] set the defaults of the options they name")
    _set_option(parser)
    parser.add_argument("--n-models", type=_model_count, default=None,
                        help="unlearning runs and reference models (default: the competition's, 512 for the built-ins)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="parallel workers (default: one per core)")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/references"), help="reference cache root")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true", help="only the result, warnings and errors: no notes, no progress")
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="the details too: worker starts, cache hits, how long each stage took")
    parser.add_argument("--no-rebuild", action="store_true", help="stop on damaged reference files instead of retraining them")
    parser.add_argument("--forget-selection", default="random", choices=[name for name in SELECTIONS if name != "poisoned"],
                        help="forget set: random (default), class (a few classes), hardest (highest loss under the original)")
    parser.add_argument("--poison-fraction", type=float, default=None, metavar="P",
                        help="flip the labels of a fraction P of train; the forget set is the flipped examples")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"data of cifar10-* (the python-pickle batches) or imagefolder (class subfolders, or a CSV/Parquet "
                             f"manifest of path,label); default ${DATA_DIR_VARIABLE}")
    parser.add_argument("--image-size", type=int, default=None, help="imagefolder: images are resized to SIZE x SIZE (default 32)")
    parser.add_argument("--architecture", default=None, choices=IMAGE_ARCHITECTURES, help="imagefolder: the model (default cnn-small)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where references train, models are evaluated, runs get their net and the metric's attacks run "
                             "(default auto: cuda when a GPU is visible)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="train the references under bfloat16 autocast (their own key; evaluation stays float32)")
    parser.add_argument("--backend", default="local", choices=BACKENDS,
                        help="where reference training and unlearning runs go: local (this machine, default) or dask (a Dask cluster)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="with --backend dask: the Dask scheduler, e.g. tcp://HOST:8786 (default: a local cluster of --jobs processes)")


def _scoring(parser: argparse.ArgumentParser, default_out: str, runs_code: bool = True, reads_checkpoints: bool = True) -> None:
    """The options of every command that scores submissions; --out's default is resolved by `_default_out`.
    Without `runs_code` (score-checkpoints), the options that time or stop code are left out; without
    `reads_checkpoints` (score), the limits on archives of checkpoints."""
    _common(parser)
    defaults = CheckpointLimits()
    if reads_checkpoints:
        parser.add_argument("--max-members", type=int, default=defaults.max_members, metavar="M",
                            help=f"checkpoints: refuse an archive of more members (default {defaults.max_members})")
        parser.add_argument("--max-checkpoint-mb", type=int, default=defaults.max_member_bytes >> 20, metavar="MB",
                            help=f"checkpoints: a larger one is a failed run (default {defaults.max_member_bytes >> 20} MiB)")
        parser.add_argument("--max-total-gb", type=int, default=defaults.max_total_bytes >> 30, metavar="GB",
                            help=f"checkpoints: refuse an archive that expands to more (default {defaults.max_total_bytes >> 30} GiB)")
    else:
        parser.set_defaults(max_members=defaults.max_members, max_checkpoint_mb=defaults.max_member_bytes >> 20,
                            max_total_gb=defaults.max_total_bytes >> 30)
    parser.add_argument("--out", type=Path, default=None, help=f"output directory (default {default_out}/)")
    parser.add_argument("--ledger-dir", type=Path, default=Path(".cache/ledgers"), help="run ledger root")
    parser.add_argument("--budget-fraction", type=float, default=None,
                        help=f"allowed unlearn/retrain time ratio (default: the competition's, {DEFAULT_FRACTION:g} for the built-ins)")
    parser.add_argument("--budget-policy", default=None, choices=POLICIES,
                        help="eligible (default, as on Kaggle): over budget ranks after every submission within it; rank-all: by score alone")
    _metric_options(parser)
    if runs_code:
        _timing_options(parser)
    else:  # what _score_settings reads of them: no timing, and a failed checkpoint leaves the others scored
        parser.set_defaults(borderline=None, max_runs=None, yardstick=None, timeout=None, allow_failures=True, originals=1)


def _timing_options(parser: argparse.ArgumentParser) -> None:
    """How the runs of code are timed, judged against the budget and stopped."""
    parser.add_argument("--borderline", default=None, choices=BORDERLINE,
                        help="what a verdict counts as when the budget ratio's 95%% interval holds the limit: pass (default), fail, or "
                             "more-runs (time twice as many runs while borderline, up to --max-runs, then pass)")
    parser.add_argument("--max-runs", type=int, default=None, metavar="M",
                        help="with --borderline more-runs: the most runs timed (default 4 x --n-models); every timed run is scored")
    parser.add_argument("--yardstick", default=None, choices=YARDSTICKS,
                        help="the budget's retraining time: paired (default), measured among each submission's own runs, under the same "
                             "load; cached, measured once per machine (faster, but a verdict then depends on the load of two moments)")
    parser.add_argument("--timeout", type=float, default=None, help="hard per-run timeout in seconds (default: ten budgets, >= 10 s)")
    parser.add_argument("--allow-failures", action="store_true", help="score the successful runs even if some failed")
    parser.add_argument("--originals", type=int, default=1, metavar="K",
                        help="a study of originals (score, stability): train K originals from K seeds, run i unlearning from original i mod K, "
                             "and report the score per original and their spread beyond chance (default 1, the competition's protocol; "
                             "docs/stability.md)")


def _metric_options(parser: argparse.ArgumentParser) -> None:
    """Where runs are isolated, and how their models are scored."""
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run submissions as plain processes, unisolated and with unverified CPU time (score.json and the leaderboard say so); "
                             "without it, score and leaderboard refuse where no sandbox can be built")
    parser.add_argument("--memory-gb", type=float, default=None, help="address space a run may use on top of the worker's own (default 8)")
    parser.add_argument("--attacks", default=None, help="official (the competition's), strong, or attack names separated by commas")
    parser.add_argument("--rates", default=None, choices=RATES, help="error rates: empirical, or Clopper-Pearson upper bounds")
    parser.add_argument("--confidence", type=float, default=None, help="confidence of the Clopper-Pearson bounds (default 0.95)")
    parser.add_argument("--bootstrap", type=int, default=None, metavar="B",
                        help="half-sampling replicates for 95%% intervals of F and the score (0: none; docs/uncertainty.md)")
    parser.add_argument("--mia-models", type=int, default=None, help="models per population for the simple MIA (default 16)")
    parser.add_argument("--ceiling", action="store_true", help="also retrain N models from scratch and score them: the F perfect unlearning gets")
    parser.add_argument("--no-report", action="store_true",
                        help="write score.json without report.html, whose figures cost about 3 s of CPU a score (a board that needs only its ranking)")


def build_parser() -> argparse.ArgumentParser:
    """Every command and option of `python -m harness`, with the help its --help prints."""
    listed = {"epilog": exit_codes.help_epilog(), "formatter_class": argparse.RawDescriptionHelpFormatter}  # the epilog's lines kept
    parser = argparse.ArgumentParser(prog="python -m harness", description="Machine unlearning evaluation harness", **listed)
    commands = parser.add_subparsers(dest="command", required=True)
    score_cmd = commands.add_parser("score", help="score one submission file; writes OUT/score.json", **listed)
    score_cmd.add_argument("submission", type=Path,
                           help="Python file (or Jupyter notebook, .ipynb) defining unlearning(net, retain, forget, validation)")
    _scoring(score_cmd, default_out="results/BENCHMARK/SUBMISSION_NAME", reads_checkpoints=False)
    board_cmd = commands.add_parser(
        "leaderboard", **listed,
        help="score every *.py, *.ipynb and checkpoints (*.zip, or a folder of them) in a folder; writes OUT/leaderboard.{md,html,csv,parquet} "
             "and OUT/<name>/score.json",
    )
    board_cmd.add_argument("folder", type=Path, help="folder of submission files")
    board_cmd.add_argument("--split", default=DEFAULT_SPLIT, choices=SPLIT_CHOICES,
                           help=f"forget set: public, private (another seed) or both side by side (default {DEFAULT_SPLIT})")
    _scoring(board_cmd, default_out="results/BENCHMARK/leaderboard-FOLDER_NAME")
    board_cmd.add_argument("--rank-by", choices=RANK_BY, default=RANK_BY[0],
                           help="the metric of the panel to rank by (docs/metric.md): the official final score (default), the strong attacks', "
                                "the LiRA-style attack's, or KLoM (lower is better); the board says which it used")
    board_cmd.add_argument("--forecast", type=int, default=0, metavar="K",
                           help="score the folder on K more forget sets of the same rule (each costs what a private split costs: its references "
                                "and every entry's runs) to measure how much a change of forget set moves scores, and forecast the shake-up "
                                "on the table (docs/uncertainty.md); a both-splits board forecasts from its private split without it")
    board_cmd.add_argument("--adaptive", action="store_true", help="start every entry at N = 32 and double N only where intervals of neighbours overlap")
    board_cmd.add_argument("--top", type=int, default=None, metavar="K", help="with --adaptive: only the ranks that decide the top K count")
    board_cmd.add_argument("--max-n", type=int, default=None, metavar="N", help="with --adaptive: the largest N (default --n-models)")
    board_cmd.add_argument("--start-n", type=int, default=START_N, metavar="N", help=f"with --adaptive: every entry's first N (default {START_N})")
    # conflict_handler="resolve": its own --n-models, a list, replaces the common one
    stability_cmd = commands.add_parser(
        "stability", conflict_handler="resolve", **listed,
        help="rank every *.py and *.ipynb in a folder at each N by subsampling the largest N's runs; writes OUT/stability.{md,csv,png}",
    )
    stability_cmd.add_argument("folder", type=Path, help="folder of submission files")
    _scoring(stability_cmd, default_out="results/BENCHMARK/stability-FOLDER_NAME")
    stability_cmd.add_argument(
        "--n-models", type=_model_counts, default=(32, 64, 128, 256, 512),
        help="Ns to rank at, separated by commas (default 32,64,128,256,512); the largest is scored, the others subsampled from it. "
             "With --originals K, one N: the folder is ranked by each original's N/K runs",
    )
    checkpoints_cmd = commands.add_parser(
        "score-checkpoints", conflict_handler="resolve", **listed,
        help="score N models made elsewhere, a zip or folder of state dicts (Kaggle's submission.zip); writes OUT/score.json",
    )
    checkpoints_cmd.add_argument("checkpoints", type=Path,
                                 help="a zip archive, or a folder, of .pth/.pt files: torch.save(net.state_dict(), ...) once a run")
    _scoring(checkpoints_cmd, default_out="results/BENCHMARK/CHECKPOINTS_NAME", runs_code=False)
    checkpoints_cmd.add_argument("--n-models", type=_model_count, default=None,
                                 help="the number of checkpoints the archive must hold, as Kaggle demanded 512 (default: as many as it holds)")
    checkpoints_cmd.add_argument("--timings", type=Path, default=None, metavar="FILE.csv",
                                 help="the participant's own timings (checkpoint,seconds,hardware; one row per checkpoint): the time budget is judged "
                                      "from them, marked self-reported (default: not measured)")
    refs_cmd = commands.add_parser("references", help="build the reference cache alone", **listed)
    _common(refs_cmd)
    competition_cmd = commands.add_parser("competition", help="write a starting competition file, or check one before anything is trained", **listed)
    competition_cmd.add_argument("action", choices=("new", "check"), help="new: write a commented starting file; check: read it, load its data "
                                 "and time one epoch, printing the splits, the forget set, the content key and the cost of the references")
    competition_cmd.add_argument("file", type=Path, help="the competition file (TOML; docs/competitions.md)")
    competition_cmd.add_argument("--data-dir", type=Path, default=None, help=f"check: the data of cifar10 or imagefolder (default ${DATA_DIR_VARIABLE})")
    competition_cmd.add_argument("--n-models", type=_model_count, default=512, help="check: the references the cost is estimated for (default 512)")
    _set_option(competition_cmd)
    convert_cmd = commands.add_parser("convert", help="write a notebook's code as the harness runs it: imports, definitions and constants", **listed)
    convert_cmd.add_argument("notebook", type=Path, help="a Jupyter notebook (.ipynb)")
    convert_cmd.add_argument("--out", type=Path, default=None, metavar="FILE.py", help="write here (default: print to stdout)")
    return parser
