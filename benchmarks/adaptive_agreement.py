"""Adaptive leaderboards against the fixed-N one they stand in for.

Reads the leaderboards' `leaderboard.parquet` (ranks and rank groups) and their score.json files (each
entry's N), and reports, per adaptive board, for every pair of entries ranked on both boards: the pairs
the fixed board separates (different rank groups), how many of them the adaptive board reverses (the
other order, in different groups of its own) and how many it leaves in one group (merged: not claimed
either way); the pairs the fixed board cannot separate (one rank group)
and how many of them the adaptive board splits; Kendall's tau between the ranks; and the share of the
fixed board's unlearning runs it made. The target (issue 42): no separated pair reversed and at most
half of the runs; and, as far as can be, every inseparable pair in one group.

    make baselines N=512
    make leaderboard SUBMISSIONS=baselines N=512 ADAPTIVE=1
    make leaderboard SUBMISSIONS=baselines N=512 ADAPTIVE=1 TOP=3
    .venv/bin/python -m benchmarks.adaptive_agreement results/digits-mlp/baselines \\
        results/digits-mlp/leaderboard-baselines-adaptive results/digits-mlp/leaderboard-baselines-adaptive-top3 [--write-doc]

With --write-doc the table goes into docs/uncertainty.md, between its markers.
"""

import argparse
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
import sys

from scipy.stats import kendalltau

from benchmarks.doc_tables import replace_between
from reference_models.files import read_table
from rendering.pages import markdown
from scoring.document import read_score

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "uncertainty.md"
START, END = "<!-- adaptive validation: python -m benchmarks.adaptive_agreement -->", "<!-- end adaptive validation -->"


@dataclass(frozen=True)
class Placing:
    rank: int
    group: str | None  # None: in no group (failed, or scored without intervals)


def _placings(board: Path) -> dict[str, Placing]:
    """The ranked entries' rank and rank group."""
    rows = read_table(board / "leaderboard.parquet").to_pylist()
    return {row["submission"]: Placing(row["rank"], row["rank_group"] if row["rank_group"] not in (None, "-") else None)
            for row in rows if row["rank"] is not None}


def _runs(board: Path, names: list[str]) -> int:
    """Unlearning runs behind a board: each entry's N, from its score.json."""
    return sum(read_score(board / name / "score.json").n_models or 0 for name in names)


@dataclass(frozen=True)
class Agreement:
    board: str
    entries: int
    tau: float
    separated: int  # pairs in different rank groups of the fixed board
    reversed: int  # of those, in the other order and in different groups of the adaptive board
    merged: int  # of those, in one group of the adaptive board: told apart by the fixed board, not by the adaptive one
    inseparable: int  # pairs in one rank group of the fixed board
    split: int  # of those, in different groups of the adaptive board
    fixed_runs: int
    adaptive_runs: int

    @property
    def met(self) -> bool:
        """Issue 42's done-when: no separated pair reversed, at most half the runs (the pairs split are reported beside it)."""
        return self.reversed == 0 and 2 * self.adaptive_runs <= self.fixed_runs


def agreement(fixed: Path, adaptive: Path) -> Agreement:
    """How the adaptive board's ranking and groups stand against the fixed board's, over the entries both rank in a group."""
    fixed_at, adaptive_at = _placings(fixed), _placings(adaptive)
    names = sorted(name for name in set(fixed_at) & set(adaptive_at) if fixed_at[name].group and adaptive_at[name].group)
    tau = kendalltau([fixed_at[n].rank for n in names], [adaptive_at[n].rank for n in names]).statistic
    separated = reversed_ = merged = inseparable = split = 0
    for a, b in combinations(names, 2):
        fixed_a, fixed_b, adaptive_a, adaptive_b = fixed_at[a], fixed_at[b], adaptive_at[a], adaptive_at[b]
        apart = adaptive_a.group != adaptive_b.group
        if fixed_a.group != fixed_b.group:
            separated += 1
            reversed_ += apart and (fixed_a.rank - fixed_b.rank) * (adaptive_a.rank - adaptive_b.rank) < 0
            merged += not apart
        else:
            inseparable += 1
            split += apart
    return Agreement(adaptive.name, len(names), float(tau), separated, reversed_, merged, inseparable, split, _runs(fixed, names),
                     _runs(adaptive, names))


def table(results: list[Agreement]) -> str:
    header = ("adaptive board", "entries", "Kendall tau", "pairs the fixed board separates", "of them reversed", "of them in one group",
              "pairs it cannot separate", "of them split", "runs: adaptive / fixed")
    rows = [[f"`{r.board}`", str(r.entries), f"{r.tau:.3f}", str(r.separated), str(r.reversed), str(r.merged), str(r.inseparable), str(r.split),
             f"{r.adaptive_runs} / {r.fixed_runs} = {r.adaptive_runs / r.fixed_runs:.2f}"] for r in results]
    return markdown((header, rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixed", type=Path, help="the fixed-N leaderboard's folder")
    parser.add_argument("adaptive", type=Path, nargs="+", help="the adaptive leaderboards' folders")
    parser.add_argument("--write-doc", action="store_true", help=f"write the table into {PAGE.relative_to(ROOT)}")
    args = parser.parse_args()
    for board in (args.fixed, *args.adaptive):
        if not (board / "leaderboard.parquet").exists():
            parser.error(f"{board} holds no leaderboard.parquet: make the leaderboard first (see this script's docstring)")
    results = [agreement(args.fixed, board) for board in args.adaptive]
    text = table(results)
    print(text, end="")
    if args.write_doc:
        replace_between(PAGE, START, END, text)
    return 0 if any(result.met for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
