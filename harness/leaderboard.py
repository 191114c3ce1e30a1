"""`leaderboard`: score every submission in a folder against shared references, then rank them.

Each submission is scored exactly as `score` would (its own ledger, so each
resumes on its own, and its own score.json and report under
OUT/<name>/); the references are built once per split for all. A failing
submission is ranked last and never stops the others. With both splits, as
in the competition's public and private leaderboards, each split gets its
own folder and table, and OUT/leaderboard.* sets the ranks side by side.
"""

import datetime
from pathlib import Path
import sys

import pyarrow as pa
import pyarrow.csv

from harness.benchmarks import split_benchmark
from harness.pipeline import ScoreSettings, score
from harness.results import versions
from reference_models.files import write_atomic, write_table_atomic
from reference_models.hardware import hardware_fingerprint
from reference_models.spec import BenchmarkSpec
from scoring.leaderboard import (
    Cells, Row, arrow_table, comparison_cells, html_page, leaderboard_cells, markdown_page, row_from_document, split_comparison,
)

SPLIT_CHOICES = ("public", "private", "both")


def submissions_in(folder: Path) -> list[Path]:
    """The folder's submission files, in name order."""
    return sorted(path for path in folder.glob("*.py") if path.is_file())


def _score_all(folder: Path, spec: BenchmarkSpec, out_dir: Path, settings: ScoreSettings) -> tuple[list[Row], float]:
    """Each submission's row, and the median retrain seconds its budget was measured against."""
    paths = submissions_in(folder)
    rows, retrain_s = [], 0.0
    for position, path in enumerate(paths, start=1):
        print(f"[{position}/{len(paths)}] {spec.name}: {path}", file=sys.stderr, flush=True)
        document = score(path, spec, out_dir / path.stem, settings)
        rows.append(row_from_document(path.stem, document))
        retrain_s = document["time_budget"]["retrain_median_s"]
    return rows, retrain_s


def _notes(folder: Path, split: str, benchmark: str, settings: ScoreSettings, retrain_s: float) -> list[str]:
    """Where the numbers come from: date, command, versions and hardware."""
    library = ", ".join(f"{name} {version}" for name, version in versions().items())
    machine = hardware_fingerprint()
    return [
        f"Made on {datetime.date.today().isoformat()} by: python -m harness leaderboard {folder} "
        f"--benchmark {benchmark} --split {split} --n-models {settings.n_models} "
        f"({settings.metric.bootstrap} bootstrap replicates, attacks {settings.metric.attacks}).",
        f"Versions: {library}.",
        f"Hardware: {machine['cpu']}, {machine['cpu_count']} cores, {settings.jobs} parallel runs; median retrain "
        f"{retrain_s:.3f} s, so the budget ({settings.budget_fraction:g} x retrain) is {settings.budget_fraction * retrain_s:.3f} s per call.",
    ]


def _write(out_dir: Path, title: str, notes: list[str], sections: list[tuple[str, Cells]], table: pa.Table) -> str:
    """OUT/leaderboard.md, .html, .csv and .parquet; returns the Markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown_page(title, notes, sections)
    write_atomic(out_dir / "leaderboard.md", text.encode())
    write_atomic(out_dir / "leaderboard.html", html_page(title, notes, sections).encode())
    csv = pa.BufferOutputStream()
    pyarrow.csv.write_csv(table, csv)
    write_atomic(out_dir / "leaderboard.csv", csv.getvalue().to_pybytes())
    write_table_atomic(out_dir / "leaderboard.parquet", table)
    return text


def _one_split(folder: Path, spec: BenchmarkSpec, split: str, out_dir: Path, settings: ScoreSettings) -> tuple[list[Row], float, str]:
    """Score and write one split's leaderboard: its rows, the median retrain seconds and its Markdown."""
    rows, retrain_s = _score_all(folder, split_benchmark(spec, split), out_dir, settings)
    title = f"{folder.resolve().name} on {spec.name} ({split} split), N = {settings.n_models}"
    notes = _notes(folder, split, spec.name, settings, retrain_s)
    return rows, retrain_s, _write(out_dir, title, notes, [("", leaderboard_cells(rows))], arrow_table(rows))


def leaderboard(folder: Path, spec: BenchmarkSpec, split: str, out_dir: Path, settings: ScoreSettings) -> str:
    """Score the folder on one split or both; writes the four leaderboard files; returns the Markdown."""
    if split != "both":
        return _one_split(folder, spec, split, out_dir, settings)[2]
    public, retrain_s, _ = _one_split(folder, spec, "public", out_dir / "public", settings)
    private, _, _ = _one_split(folder, spec, "private", out_dir / "private", settings)
    comparison = split_comparison(public, private)
    sections = [
        ("Public against private rank", comparison_cells(comparison)),
        ("Public split", leaderboard_cells(public)),
        ("Private split (forget set drawn with another seed)", leaderboard_cells(private)),
    ]
    title = f"{folder.resolve().name} on {spec.name}, N = {settings.n_models}, public and private splits"
    notes = [
        *_notes(folder, "both", spec.name, settings, retrain_s),
        f"Each split's own files are in {out_dir / 'public'} and {out_dir / 'private'}; a positive rank change moved up in private.",
    ]
    return _write(out_dir, title, notes, sections, comparison)
