"""Is the shake-up forecast calibrated? Forecasts made from one forget set against the ranks observed on others.

Reads boards of the same entries at the same N, each scored on its own forget set (the public split, the private
one, and more drawn with other seeds), and for each board taken as the public one: kappa, the forget set's spread,
is estimated against a second board (the private split, as a both-splits leaderboard does), and the forecast is
checked against every other board (held out), and against the second board itself (in sample). Reports, by band
of forecast probability, how many public neighbours each board reversed, and how often an entry's rank fell in
its 90% range.

    make leaderboard SUBMISSIONS=baselines N=32 SPLIT=both OUT=results/calibration/both
    .venv/bin/python -m harness leaderboard baselines --n-models 32 --benchmark harness/competitions/digits-mlp.toml \\
        --set forget.seed=2 --out results/calibration/seed2          # and seed 3, ...
    .venv/bin/python -m benchmarks.forecast_calibration results/calibration/both/public results/calibration/both/private \\
        results/calibration/seed2 results/calibration/seed3 [--write-doc]

With --write-doc the tables go into docs/uncertainty.md, between its markers.
"""

import argparse
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path
import sys

from benchmarks.doc_tables import replace_between
from rendering.pages import markdown
from scoring.document import read_score
from scoring.forecast import COVERAGE, Forecast, Standing, forecast
from scoring.leaderboard import row_from_document, standings

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "uncertainty.md"
START, END = "<!-- forecast calibration: python -m benchmarks.forecast_calibration -->", "<!-- end forecast calibration -->"
BANDS = ((0.0, 0.05), (0.05, 0.2), (0.2, 0.35), (0.35, 0.5))


def read_standings(board: Path) -> list[Standing]:
    """A board's scored entries, best first, as the forecast sees them."""
    documents = {path.parent.name: read_score(path) for path in sorted(board.glob("*/score.json"))}
    if not documents:
        raise SystemExit(f"{board}: no */score.json; score the board first")
    return standings([row_from_document(name, document) for name, document in documents.items()], documents)


@dataclass
class Tally:
    """Reversals forecast and seen, by band, and rank ranges that held."""

    forecast: dict[tuple[float, float], list[float]]
    reversed: dict[tuple[float, float], list[bool]]
    covered: int = 0
    entries: int = 0

    def add(self, made: Forecast, ranked: list[Standing], seen: list[Standing]) -> None:
        score = {entry.name: entry.score for entry in seen}
        for upper, lower in zip(ranked, ranked[1:], strict=False):
            if upper.name not in made.overtaken or upper.name not in score or lower.name not in score or upper.score == lower.score:
                continue  # a tie on the public board orders nothing
            probability = made.overtaken[upper.name]
            band = next(band for band in BANDS if band[0] <= min(probability, 0.4999) < band[1])
            self.forecast[band].append(probability)
            self.reversed[band].append(score[lower.name] > score[upper.name])
        seen_rank = _ranks(seen)
        for name, (low, high) in made.likely_rank.items():
            if name in seen_rank:
                self.covered += low <= seen_rank[name] <= high
                self.entries += 1


def _ranks(entries: list[Standing]) -> dict[str, int]:
    """Each entry's rank as the board ranks: within the budget first, then by score (ties share the better rank)."""
    def ahead(first: Standing, second: Standing) -> bool:
        return (first.eligible, first.score) > (second.eligible, second.score)

    return {entry.name: 1 + sum(ahead(other, entry) for other in entries) for entry in entries}


def _tally() -> Tally:
    return Tally({band: [] for band in BANDS}, {band: [] for band in BANDS})


def calibrate(boards: list[list[Standing]]) -> tuple[Tally, Tally]:
    """(held out, in sample): each board as public, kappa estimated against the next board, checked against the rest."""
    held_out, in_sample = _tally(), _tally()
    for first, second in permutations(range(len(boards)), 2):
        made = forecast(boards[first], [boards[second]])
        in_sample.add(made, boards[first], boards[second])
        for third in range(len(boards)):
            if third not in (first, second):
                held_out.add(made, boards[first], boards[third])
    return held_out, in_sample


def table(held_out: Tally, in_sample: Tally) -> str:
    header = ("forecast P(next overtakes)", "pairs held out", "mean forecast", "reversed", "pairs in sample", "mean forecast", "reversed")
    rows = []
    for band in BANDS:
        cells = [f"{band[0]:.0%} to {band[1]:.0%}"]
        for tally in (held_out, in_sample):
            forecasts, reversals = tally.forecast[band], tally.reversed[band]
            cells += [str(len(forecasts)), f"{sum(forecasts) / len(forecasts):.0%}" if forecasts else "-",
                      f"{sum(reversals) / len(reversals):.0%}" if reversals else "-"]
        rows.append(cells)
    coverage = (f"Ranks within the {COVERAGE:.0%} range: {held_out.covered} of {held_out.entries} held out "
                f"({held_out.covered / max(held_out.entries, 1):.0%}), {in_sample.covered} of {in_sample.entries} in sample "
                f"({in_sample.covered / max(in_sample.entries, 1):.0%}).")
    return markdown((header, rows)) + "\n" + coverage + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("boards", type=Path, nargs="+", help="board folders of the same entries, each on its own forget set (at least 3)")
    parser.add_argument("--write-doc", action="store_true", help=f"write the table into {PAGE.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    if len(args.boards) < 3:
        parser.error("give at least 3 boards: one to forecast from, one to estimate kappa against, one held out")
    text = table(*calibrate([read_standings(board) for board in args.boards]))
    print(text)
    if args.write_doc:
        replace_between(PAGE, START, END, text)
        print(f"written {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
