"""How far the metric panel's rankings agree on a scored board, and which conclusions survive a change of metric.

Reads every entry's score.json in a board folder (`panel`: each metric's value and its value on each half-sample,
the same halves for every entry) and reports: Kendall's tau between each pair of metrics' rankings, with a 95%
interval from the half-samples (tau on each, the same half-sampling interval as the scores'); each entry's rank
under each metric and the entries that move most; and whether the board's main conclusions hold under each
metric. Entries are ranked by value alone, over budget or not (the board's own ranking puts entries over budget
last; that is a rule, not a metric).

    make agreement                     # scores the baselines at N = 512, then writes docs/agreement.md
    .venv/bin/python -m benchmarks.metric_agreement results/digits-mlp/agreement [--write-doc]
"""

import argparse
from dataclasses import dataclass
import datetime
from itertools import combinations
from pathlib import Path
import sys

import numpy as np
from scipy.stats import kendalltau, rankdata

from harness.outputs.results import versions
from rendering.pages import markdown
from scoring.document import ScoreDocument, read_score
from scoring.intervals import INTERVAL_LABEL, normal_interval
from scoring.panel import OFFICIAL, RANK_BY, goodness

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "agreement.md"
MOVERS = 5


@dataclass(frozen=True)
class Board:
    """The panel of every scored entry: each metric's value at full N and on each half-sample (rankings compare their
    `goodness`: KLoM negated)."""

    names: tuple[str, ...]
    eligible: dict[str, bool]
    values: dict[str, np.ndarray]  # metric -> [entries]
    intervals: dict[str, list[tuple[float, float] | None]]  # metric -> each entry's 95% interval
    replicates: dict[str, np.ndarray]  # metric -> [entries, half-samples]
    n_models: int

    def ranks(self, metric: str) -> np.ndarray:
        """Rank 1 the best; ties share the better rank."""
        return rankdata(-goodness(metric, self.values[metric]), method="min").astype(int)


def read_board(folder: Path) -> Board:
    documents: dict[str, ScoreDocument] = {}
    for path in sorted(folder.glob("*/score.json")):
        document = read_score(path)
        if document.scored and document.panel:
            documents[path.parent.name] = document
    if len(documents) < 3:
        raise SystemExit(f"{folder}: {len(documents)} entries scored with the metric panel; agreement needs at least 3 (rescore the board)")
    names = tuple(documents)
    counts = {len(document.panel[metric].replicates) for document in documents.values() for metric in RANK_BY}
    if len(counts) != 1 or counts == {0}:
        raise SystemExit(f"{folder}: the entries' half-samples differ in number ({sorted(counts)}); score the board with one --bootstrap, at least 2")
    return Board(
        names=names,
        eligible={name: documents[name].time_budget.eligible for name in names},
        values={metric: np.array([documents[name].panel[metric].value for name in names]) for metric in RANK_BY},
        intervals={metric: [documents[name].panel[metric].ci95 for name in names] for metric in RANK_BY},
        replicates={metric: np.array([documents[name].panel[metric].replicates for name in names]) for metric in RANK_BY},
        n_models=documents[names[0]].n_models_scored or 0,
    )


@dataclass(frozen=True)
class Tau:
    first: str
    second: str
    tau: float
    ci95: tuple[float, float]


def taus(board: Board) -> list[Tau]:
    """Kendall's tau between each pair of metrics' rankings, with its half-sampling interval."""
    result = []
    for first, second in combinations(RANK_BY, 2):
        full = kendalltau(goodness(first, board.values[first]), goodness(second, board.values[second])).statistic
        halves = [
            kendalltau(goodness(first, board.replicates[first][:, k]), goodness(second, board.replicates[second][:, k])).statistic
            for k in range(board.replicates[first].shape[1])
        ]
        result.append(Tau(first, second, float(full), normal_interval(float(full), np.nan_to_num(np.array(halves)), upper=1.0, lower=-1.0)))
    return result


def separated_pairs(board: Board, metric: str) -> list[tuple[int, int]]:
    """(better, worse) entry indices whose 95% intervals under `metric` are apart."""
    pairs = []
    better = goodness(metric, board.values[metric])
    for i, j in combinations(range(len(board.names)), 2):
        first, second = board.intervals[metric][i], board.intervals[metric][j]
        if first is not None and second is not None and (first[0] > second[1] or second[0] > first[1]):
            pairs.append((i, j) if better[i] > better[j] else (j, i))
    return pairs


def _holds(claim: dict[str, bool]) -> dict[str, str]:
    return {metric: "holds" if holds else "**fails**" for metric, holds in claim.items()}


def conclusions(board: Board) -> list[tuple[str, dict[str, str]]]:
    """The board's main claims under the official metric, and how far each holds under every metric."""
    ranks = {metric: dict(zip(board.names, board.ranks(metric), strict=True)) for metric in RANK_BY}
    eligible = [name for name in board.names if board.eligible[name]]

    def in_budget_order(metric: str) -> list[str]:
        return sorted(eligible, key=lambda name: (ranks[metric][name], name))

    best, top = in_budget_order("official")[0], set(in_budget_order("official")[:3])
    claims = [(f"`{best}` is the best entry within the time budget", _holds({m: in_budget_order(m)[0] == best for m in RANK_BY})),
              (f"the top three within budget are {', '.join(f'`{n}`' for n in sorted(top))}", _holds({m: set(in_budget_order(m)[:3]) == top for m in RANK_BY}))]
    pairs = separated_pairs(board, "official")
    kept = {m: sum(goodness(m, board.values[m])[i] > goodness(m, board.values[m])[j] for i, j in pairs) for m in RANK_BY}
    claims.append((f"the {len(pairs)} pairs of entries whose official intervals are apart keep their order",
                   {m: f"{kept[m]} of {len(pairs)}" for m in RANK_BY}))
    index = {name: i for i, name in enumerate(board.names)}
    if "retrain" in index:  # perfect unlearning: first of all
        claims.append(("`retrain` (retraining from scratch, perfect unlearning) ranks first of all entries",
                       _holds({m: bool(ranks[m]["retrain"] == 1) for m in RANK_BY})))
    if "identity" in index:  # no unlearning at all: last, or tied for last
        claims.append(("`identity` (no unlearning) ranks last, or tied for last",
                       _holds({m: bool(goodness(m, board.values[m])[index["identity"]] == goodness(m, board.values[m]).min()) for m in RANK_BY})))
    return claims


def _strength(tau: float) -> str:
    return "closely" if tau >= 0.8 else "in part" if tau >= 0.5 else "weakly" if tau > 0 else "not at all"


def reading(board: Board, found: list[Tau]) -> list[str]:
    """The tables in words: the numbers computed here, and what each metric is by construction."""
    with_official = {t.second: t for t in found if t.first == OFFICIAL.name}
    eligible = [i for i, name in enumerate(board.names) if board.eligible[name]]
    best = {m: board.names[min(eligible, key=lambda i: (board.ranks(m)[i], board.names[i]))] for m in RANK_BY}
    return [
        "- Against the official ranking: " + "; ".join(
            f"{name} agrees {_strength(t.tau)} (tau {t.tau:+.2f}, {t.ci95[0]:+.2f} to {t.ci95[1]:+.2f})" for name, t in with_official.items()) + ".",
        "- Best within the time budget: " + ", ".join(f"`{best[m]}` ({m})" for m in RANK_BY) + ".",
        "- `strong` tries every rule the official grids try and more, so it can only lower a score; where it ranks as the "
        "official metric does, the grids already find what a stronger threshold attacker would.",
        "- `lira` judges one likelihood-ratio rule per example on models it was not fitted to: it rewards methods whose "
        "populations a fitted attacker cannot tell apart out of sample, and ignores the in-sample gaps the grids pick up.",
        "- `klom` measures a distance between the two populations' binned margins, not an attack's success. A method that "
        "returns one model on every run (`identity`) puts all its margins in one bin, so its KLoM is ln(1 / q), q the "
        "retrained models' share of that bin: small where the original model sits inside the retrained spread, while the "
        "official metric gives such an example the cap.",
    ]


def report(board: Board, folder: Path) -> str:
    """docs/agreement.md's text."""
    found = taus(board)
    tau_rows = [[t.first, t.second, f"{t.tau:+.3f}", f"{t.ci95[0]:+.3f} to {t.ci95[1]:+.3f}"] for t in found]
    ranks = {metric: board.ranks(metric) for metric in RANK_BY}
    spread = {name: int(max(ranks[m][i] for m in RANK_BY) - min(ranks[m][i] for m in RANK_BY)) for i, name in enumerate(board.names)}
    order = np.argsort(ranks["official"], kind="stable")
    rank_rows = [[f"`{board.names[i]}`", *(str(ranks[m][i]) for m in RANK_BY), str(spread[board.names[i]])] for i in order]
    movers = sorted(spread, key=lambda name: (-spread[name], name))[:MOVERS]
    claim_rows = [[words, *(cells[m] for m in RANK_BY)] for words, cells in conclusions(board)]
    replicates = board.replicates["official"].shape[1]
    return "\n".join([
        "# Do the metrics agree?",
        "",
        f"The panel's four metrics ([metric.md](metric.md#the-metric-panel)) on the same models: the {len(board.names)} entries "
        f"of `{folder}` at N = {board.n_models}, ranked by each metric's value alone (over budget or not). Written by "
        "`make agreement` (`benchmarks/metric_agreement.py`); the intervals are the scores' own "
        f"({INTERVAL_LABEL}: Kendall's tau on each of the {replicates} half-samples, which every entry drew alike). "
        f"Made on {datetime.date.today().isoformat()} with {', '.join(f'{k} {v}' for k, v in versions().items())}. The "
        "conclusions tested are this board's own: docs/baselines.md was made with other references and runs.",
        "",
        "## Kendall's tau between rankings",
        "",
        markdown((("metric", "against", "tau", "95% interval"), tau_rows)),
        "## Ranks under each metric",
        "",
        f"Ranked by the official score; the last column is how far an entry's rank moves between metrics. Most moved: "
        f"{', '.join(f'`{name}` ({spread[name]})' for name in movers)}.",
        "",
        markdown((("entry", *RANK_BY, "moves"), rank_rows)),
        "## Which conclusions survive a change of metric",
        "",
        markdown((("conclusion of the official board", *RANK_BY), claim_rows)),
        "## What it says",
        "",
        *reading(board, found),
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("board", type=Path, help="a leaderboard folder whose entries were scored with the metric panel")
    parser.add_argument("--write-doc", action="store_true", help=f"write {PAGE.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    text = report(read_board(args.board), args.board)
    print(text)
    if args.write_doc:
        PAGE.write_text(text)
        print(f"written {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
