"""`leaderboard`: score every submission in a folder against shared references, then rank them.

Each submission is scored exactly as `score` would (its own ledger, so each
resumes on its own, and its own score.json and report under
OUT/<name>/); the references are built once per split for all. A failing
submission is ranked last and never stops the others. With both splits, as
in the competition's public and private leaderboards, each split gets its
own folder and table, and OUT/leaderboard.* sets the ranks side by side.
"""

from dataclasses import dataclass, replace
import datetime
import logging
from pathlib import Path
import stat

import pyarrow as pa

from harness.benchmarks import forecast_benchmark, private_forget_words, split_benchmark
from harness.boards.adaptive import Adaptive, adaptive_scores
from harness.boards.entries import score_entry
from harness.outputs.results import versions
from harness.session import ScoringSession
from harness.settings import ScoreSettings
from harness.submissions.checkpoints import is_checkpoints
from harness.submissions.notebooks import ACCEPTED_SUFFIXES
from harness.submissions.untrusted import SubmissionRefused
from reference_models.files import write_atomic, write_csv_atomic, write_table_atomic
from reference_models.hardware import hardware_fingerprint
from reference_models.spec import BenchmarkSpec
from rendering.pages import Cells, html_page, markdown_page, visible
from rendering.tables import comparison_cells, leaderboard_cells
from scoring.document import NOT_MEASURED, ScoreDocument, TimeBudget
from scoring.forecast import Forecast, Standing, forecast, spread_note
from scoring.leaderboard import Row, arrow_table, group_notes, ranked_by_note, row_from_document, split_comparison, standings
from scoring.originals import POOLED
from scoring.panel import OFFICIAL

log = logging.getLogger(__name__)

SPLIT_CHOICES = ("public", "private", "both")
FORECAST_NOTE = (
    "Shake-up forecast, made from this split's scores as if no other forget set were known (docs/uncertainty.md): the "
    "chance that the entry ranked next below ends above this one on another forget set, and the central 90% of its rank "
    "there, from "
)
DEFAULT_SPLIT = "public"  # every scenario has one (the hardest selection has no private split)


def submissions_in(folder: Path, checkpoints: bool = True) -> list[Path]:
    """The folder's submission entries (Python files and notebooks by name, links and other
    non-folders included, for harness.submissions.untrusted to refuse as their rows), in name order;
    with `checkpoints`, also checkpoints made elsewhere: zip archives, and folders of them.

    Raises SubmissionRefused, naming both files, when two share a name but for
    the suffix (victim.py and a rival's victim.ipynb): results are kept by name
    (OUT/<name>/, the table's row), so one would silently replace the other.
    Names equal but for case clash too, as their folders do on macOS.
    """
    paths = sorted(path for path in folder.iterdir()
                   if (path.suffix in ACCEPTED_SUFFIXES and not stat.S_ISDIR(path.lstat().st_mode)) or (checkpoints and is_checkpoints(path)))
    seen: dict[str, Path] = {}
    for path in paths:
        other = seen.setdefault(path.stem.casefold(), path)
        if other is not path:
            raise SubmissionRefused(f"{other.name} and {path.name} in {folder} share the name {path.stem}, under which their "
                                    "results are kept (their folder and leaderboard row): rename one of them")
    return paths


def score_folder(folder: Path, out_dir: Path, session: ScoringSession) -> dict[str, ScoreDocument]:
    """Each submission's score.json document, by name, scored as `score` would into OUT/<name>/, all in one session.

    A submission whose scoring fails with an error (a fault of the harness
    that a file provoked) is recorded as failed, and the others go on.
    """
    paths = submissions_in(folder)
    documents = {}
    for position, path in enumerate(paths, start=1):
        log.info(f"[{position}/{len(paths)}] {session.spec.name}: {visible(str(path))}")
        documents[path.stem] = score_entry(path, out_dir, session, session.settings.n_models)
    return documents


def provenance(command: str, settings: ScoreSettings, documents: dict[str, ScoreDocument]) -> list[str]:
    """Where the numbers come from: date, command, versions, hardware, the documents' time budget and, in a study of
    originals, what its scores pool."""
    library = ", ".join(f"{name} {version}" for name, version in versions().items())
    machine = hardware_fingerprint(settings.device)
    budgets = [document.time_budget for document in documents.values() if isinstance(document.time_budget, TimeBudget)]
    measure = budgets[0].measure if budgets else NOT_MEASURED
    retrain_s = budgets[0].retrain_median_s if budgets else float("nan")  # one yardstick for every submission and split
    return [
        f"Made on {datetime.date.today().isoformat()} by: {command} "
        f"({settings.metric.bootstrap} half-sampling replicates for 95% intervals, attacks {settings.metric.attacks}).",
        f"Versions: {library}.",
        f"Hardware: {machine['cpu']}, {machine['cpu_count']} cores, device {machine['device']}, {settings.jobs} parallel runs; median retrain "
        f"{retrain_s:.3f} s, so the budget ({settings.budget_fraction:g} x retrain) is {settings.budget_fraction * retrain_s:.3f} s per call, "
        f"measured as {measure}.",
        "Time budget policy: " + (
            "eligible (as on Kaggle): submissions over budget are ranked after every submission within it."
            if settings.budget_policy == "eligible" else "rank-all: every scored submission is ranked by its score, over budget or not."
        ) + " A verdict is borderline where the budget ratio's 95% interval holds the limit; " + (
            "a borderline entry is timed on twice as many runs at a time, up to --max-runs, and counts as pass if it stays borderline; "
            "every timed run is scored, so its score is at that larger N (n_models_scored in its score.json)"
            if settings.borderline == "more-runs" else f"borderline counts as {settings.borderline}") + f" (--borderline {settings.borderline}).",
        *([f"A study of {settings.originals} originals (--originals {settings.originals}): run i unlearned from original i mod "
           f"{settings.originals}; each entry's score.json and report give the score per original. {POOLED}"] if settings.originals > 1 else []),
    ]


def _write(out_dir: Path, title: str, notes: list[str], sections: list[tuple[str, Cells]], table: pa.Table) -> str:
    """OUT/leaderboard.md, .html, .csv and .parquet; returns the Markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown_page(title, notes, sections)
    write_atomic(out_dir / "leaderboard.md", text.encode())
    write_atomic(out_dir / "leaderboard.html", html_page(title, notes, sections).encode())
    write_csv_atomic(out_dir / "leaderboard.csv", table)
    write_table_atomic(out_dir / "leaderboard.parquet", table)
    return text


def _rows(documents: dict[str, ScoreDocument], rank_by: str) -> list[Row]:
    return [row_from_document(name, document, rank_by) for name, document in documents.items()]


def _forecast_notes(shake_up: Forecast | None) -> list[str]:
    """The forecast's note, naming what it rests on (none without a forecast)."""
    return [] if shake_up is None else [FORECAST_NOTE + spread_note(shake_up.spread) + "."]


@dataclass(frozen=True)
class SplitBoard:
    """One split scored: its rows, the score.json documents, and its table's title and notes."""

    rows: list[Row]
    documents: dict[str, ScoreDocument]
    title: str
    notes: list[str]


def _score_split(folder: Path, spec: BenchmarkSpec, split: str, out_dir: Path, settings: ScoreSettings, command: str, adaptive: Adaptive | None,
                 rank_by: str) -> SplitBoard:
    """Score the folder on one split into out_dir/<name>/."""
    session = ScoringSession(split_benchmark(spec, split), settings)
    if adaptive is None:
        documents = score_folder(folder, out_dir, session)
        rows = _rows(documents, rank_by)
        title = f"{folder.resolve().name} on {spec.name} ({split} split), N = {settings.n_models}"
        notes = provenance(command, settings, documents)
    else:
        result = adaptive_scores(submissions_in(folder, checkpoints=False), out_dir, session, adaptive)
        documents = result.documents
        rows = [
            replace(row_from_document(name, document, rank_by), n_models=result.n_models[name], why=result.why(name), block=result.block(name))
            for name, document in documents.items()
        ]
        scope = "every rank" if adaptive.top is None else f"the top {adaptive.top}"
        title = f"{folder.resolve().name} on {spec.name} ({split} split), adaptive N up to {settings.n_models} for {scope}"
        notes = [*provenance(command, settings, documents), result.savings_note()]
    return SplitBoard(rows, documents, title, notes + ranked_by_note(rows) + group_notes(rows))


def _write_split(board: SplitBoard, out_dir: Path, shake_up: Forecast | None = None) -> str:
    """One split's leaderboard files (with the forecast's columns and note where there is one); returns the Markdown."""
    notes = board.notes + _forecast_notes(shake_up)
    cells = leaderboard_cells(board.rows, reports(out_dir, board.documents), shake_up)
    return _write(out_dir, board.title, notes, [("", cells)], arrow_table(board.rows, shake_up))


def _forecast_standings(folder: Path, spec: BenchmarkSpec, out_dir: Path, settings: ScoreSettings, rank_by: str, count: int) -> list[list[Standing]]:
    """The folder scored on `count` more forget sets (OUT/forecast-K/<name>/), as the forecast sees each."""
    others = []
    for k in range(1, count + 1):
        session = ScoringSession(forecast_benchmark(spec, k), settings)
        documents = score_folder(folder, out_dir / f"forecast-{k}", session)
        others.append(standings(_rows(documents, rank_by), documents))
    return others


def reports(board_dir: Path, documents: dict[str, ScoreDocument], prefix: str = "") -> dict[str, str]:
    """Each entry's report.html that exists, as a link relative to the page (`prefix`: the split's folder, for the
    both-splits page), so that the board still links its reports once copied elsewhere."""
    return {name: f"{prefix}{name}/report.html" for name in documents if (board_dir / name / "report.html").is_file()}


def leaderboard(
    folder: Path, spec: BenchmarkSpec, split: str, out_dir: Path, settings: ScoreSettings, command: str, adaptive: Adaptive | None = None,
    rank_by: str = OFFICIAL.name, forecast_sets: int = 0,
) -> str:
    """Score the folder on one split or both; writes the four leaderboard files; returns the Markdown.

    `command` is the command line as given, recorded in the notes so that anyone can remake the table.
    With `adaptive`, each entry gets only the N its rank needs (harness.boards.adaptive), by the official
    score; otherwise `rank_by` names the panel's metric the entries are ranked by (scoring.panel). A fixed board
    on both splits forecasts the shake-up from the public one; `forecast_sets` more forget sets (scored into
    OUT/forecast-K/) measure the forget set's spread for it, also on one split.
    """
    if adaptive is not None and (rank_by != OFFICIAL.name or forecast_sets):
        raise ValueError("an adaptive leaderboard refines N by the official score's intervals: it neither ranks by another metric nor forecasts")
    if split != "both":
        board = _score_split(folder, spec, split, out_dir, settings, command, adaptive, rank_by)
        shake_up = None
        if forecast_sets:
            others = _forecast_standings(folder, split_benchmark(spec, split), out_dir, settings, rank_by, forecast_sets)
            shake_up = forecast(standings(board.rows, board.documents), others, settings.metric.seed)
        return _write_split(board, out_dir, shake_up)
    public = _score_split(folder, spec, "public", out_dir / "public", settings, command, adaptive, rank_by)
    private = _score_split(folder, spec, "private", out_dir / "private", settings, command, adaptive, rank_by)
    _write_split(public, out_dir / "public")
    _write_split(private, out_dir / "private")
    shake_up = None
    if adaptive is None:
        others = [standings(private.rows, private.documents)]
        others += _forecast_standings(folder, spec, out_dir, settings, rank_by, forecast_sets)
        shake_up = forecast(standings(public.rows, public.documents), others, settings.metric.seed)
    comparison = split_comparison(public.rows, private.rows, shake_up)
    sections = [
        ("Public against private rank", comparison_cells(comparison, rank_by)),
        ("Public split", leaderboard_cells(public.rows, reports(out_dir / "public", public.documents, "public/"))),
        (f"Private split ({private_forget_words(spec)})", leaderboard_cells(private.rows, reports(out_dir / "private", private.documents, "private/"))),
    ]
    title = f"{folder.resolve().name} on {spec.name}, N = {settings.n_models}, public and private splits"
    notes = [
        *provenance(command, settings, public.documents),
        f"Each split's own files are in {out_dir / 'public'} and {out_dir / 'private'}; a positive rank change moved up in private.",
        *_forecast_notes(shake_up),
        *ranked_by_note(public.rows),
        *group_notes(public.rows + private.rows),
    ]
    return _write(out_dir, title, notes, sections, comparison)
