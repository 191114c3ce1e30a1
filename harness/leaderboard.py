"""`leaderboard`: score every submission in a folder against shared references, then rank them.

Each submission is scored exactly as `score` would (its own ledger, so each
resumes on its own, and its own score.json under OUT/<name>/); the references
are built once for all. A failing submission is ranked last, never stops the
others.
"""

from dataclasses import dataclass
import datetime
from pathlib import Path
import sys

from harness.pipeline import ScoreSettings, score
from harness.results import versions
from reference_models.hardware import hardware_fingerprint
from reference_models.files import write_atomic
from reference_models.spec import BenchmarkSpec
from scoring.leaderboard import Row, markdown_table, row_from_document


@dataclass(frozen=True)
class Leaderboard:
    rows: list[Row]
    markdown: str


def submissions_in(folder: Path) -> list[Path]:
    """The folder's submission files, in name order."""
    return sorted(path for path in folder.glob("*.py") if path.is_file())


def _stamp(folder: Path, spec: BenchmarkSpec, settings: ScoreSettings, retrain_s: float) -> str:
    """Where the numbers come from: date, command, versions and hardware."""
    library = ", ".join(f"{name} {version}" for name, version in versions().items())
    machine = hardware_fingerprint()
    return "\n".join([
        f"Made on {datetime.date.today().isoformat()} by `python -m harness leaderboard {folder} "
        f"--benchmark {spec.name} --n-models {settings.n_models}` (benchmark key `{spec.key()}`, "
        f"{settings.metric.bootstrap} bootstrap replicates, attacks `{settings.metric.attacks}`).",
        f"Versions: {library}.",
        f"Hardware: {machine['cpu']}, {machine['cpu_count']} cores, {settings.jobs} parallel runs; "
        f"median retrain {retrain_s:.3f} s, so the budget ({settings.budget_fraction:g} x retrain) is "
        f"{settings.budget_fraction * retrain_s:.3f} s per call.",
    ])


def score_folder(folder: Path, spec: BenchmarkSpec, out_dir: Path, settings: ScoreSettings) -> Leaderboard:
    """Score each submission in `folder`; writes OUT/<name>/score.json and OUT/leaderboard.md."""
    paths = submissions_in(folder)
    rows, retrain_s = [], 0.0
    for position, path in enumerate(paths, start=1):
        print(f"[{position}/{len(paths)}] {path}", file=sys.stderr, flush=True)
        document = score(path, spec, out_dir / path.stem, settings)
        rows.append(row_from_document(path.stem, document))
        retrain_s = document["time_budget"]["retrain_median_s"]
    heading = f"# {folder.resolve().name} on {spec.name}, N = {settings.n_models}"
    markdown = f"{heading}\n\n{_stamp(folder, spec, settings, retrain_s)}\n\n{markdown_table(rows)}"
    write_atomic(out_dir / "leaderboard.md", markdown.encode())
    return Leaderboard(rows, markdown)
