"""Adaptive leaderboards against the fixed-N one they stand in for.

Reads the leaderboards' `leaderboard.parquet` (and their score.json files
for each entry's N) and reports, per adaptive board, Kendall's tau between
its ranks and the fixed board's, whether their top K agree, and the share of
the fixed table's unlearning runs that it made. The target (issue 17): tau of
at least 0.9, the same top 3, at most a third of the runs.

    make baselines N=512
    make leaderboard SUBMISSIONS=baselines N=512 ADAPTIVE=1
    make leaderboard SUBMISSIONS=baselines N=512 ADAPTIVE=1 TOP=3
    .venv/bin/python -m benchmarks.adaptive_agreement results/digits-mlp/baselines \\
        results/digits-mlp/leaderboard-baselines-adaptive results/digits-mlp/leaderboard-baselines-adaptive-top3 [--write-doc]

With --write-doc the table goes into docs/uncertainty.md, between its markers.
"""

import argparse
from pathlib import Path
import sys

from scipy.stats import kendalltau

from benchmarks.doc_tables import replace_between
from reference_models.files import read_table
from scoring.document import read_score

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "uncertainty.md"
START, END = "<!-- adaptive validation: python -m benchmarks.adaptive_agreement -->", "<!-- end adaptive validation -->"


def _ranks(board: Path) -> dict[str, float]:
    """Submission -> rank; unranked (failed) entries share the place after the last ranked one."""
    rows = read_table(board / "leaderboard.parquet").to_pylist()
    last = max((row["rank"] for row in rows if row["rank"] is not None), default=0)
    return {row["submission"]: row["rank"] if row["rank"] is not None else last + 1 for row in rows}


def _runs(board: Path, names: list[str]) -> int:
    """Unlearning runs behind a board: each entry's N, from its score.json."""
    return sum(read_score(board / name / "score.json").n_models or 0 for name in names)


def agreement(fixed: Path, adaptive: Path, top: int) -> dict:
    """Tau, top-K agreement and runs used, for the submissions both boards list."""
    fixed_ranks, adaptive_ranks = _ranks(fixed), _ranks(adaptive)
    names = sorted(set(fixed_ranks) & set(adaptive_ranks))
    tau = kendalltau([fixed_ranks[n] for n in names], [adaptive_ranks[n] for n in names]).statistic

    def best(ranks: dict[str, float]) -> list[str]:
        return sorted(names, key=lambda name: (ranks[name], name))[:top]

    fixed_runs, adaptive_runs = _runs(fixed, names), _runs(adaptive, names)
    return {
        "board": adaptive.name, "entries": len(names), "tau": float(tau), "top": top, "fixed_top": best(fixed_ranks),
        "adaptive_top": best(adaptive_ranks), "fixed_runs": fixed_runs, "adaptive_runs": adaptive_runs,
    }


def met(result: dict) -> bool:
    """Issue 17's target: tau of at least 0.9, the same top K, at most a third of the runs."""
    return result["tau"] >= 0.9 and set(result["fixed_top"]) == set(result["adaptive_top"]) and result["adaptive_runs"] * 3 <= result["fixed_runs"]


def markdown(results: list[dict]) -> str:
    top = results[0]["top"]
    lines = [
        f"| adaptive board | entries | Kendall tau | same top {top} | fixed top {top} | adaptive top {top} | runs: adaptive / fixed |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        same = "yes" if set(result["fixed_top"]) == set(result["adaptive_top"]) else "no"
        order = "same order" if result["fixed_top"] == result["adaptive_top"] else "other order"
        share = result["adaptive_runs"] / result["fixed_runs"]
        lines.append(
            f"| `{result['board']}` | {result['entries']} | {result['tau']:.3f} | {same} ({order}) | {', '.join(result['fixed_top'])} | "
            f"{', '.join(result['adaptive_top'])} | {result['adaptive_runs']} / {result['fixed_runs']} = {share:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixed", type=Path, help="the fixed-N leaderboard's folder")
    parser.add_argument("adaptive", type=Path, nargs="+", help="the adaptive leaderboards' folders")
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--write-doc", action="store_true", help=f"write the table into {PAGE.relative_to(ROOT)}")
    args = parser.parse_args()
    for board in (args.fixed, *args.adaptive):
        if not (board / "leaderboard.parquet").exists():
            parser.error(f"{board} holds no leaderboard.parquet: make the leaderboard first (see this script's docstring)")
    results = [agreement(args.fixed, board, args.top) for board in args.adaptive]
    table = markdown(results)
    print(table, end="")
    if args.write_doc:
        replace_between(PAGE, START, END, table)
    return 0 if any(met(result) for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
