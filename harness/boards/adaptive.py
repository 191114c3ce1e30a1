"""`leaderboard --adaptive`: spend runs and references only where ranks are uncertain.

Every entry is scored at a small N; then, round by round, the entries whose
95% final-score interval overlaps a neighbour's at a rank that matters
(`scoring.adaptive`) are scored again at twice their N, up to the maximum.
The ledger and the reference cache make this incremental: a run's seed and a
reference model depend only on their index, so N = 64 adds runs 32-63 to the
32 already made, and scoring at N is exactly what a fixed-N leaderboard gives.
"""

from dataclasses import dataclass
import logging
from pathlib import Path

from harness.boards.entries import score_entry
from harness.session import ScoringSession
from rendering.pages import visible
from scoring.adaptive import Block, Standing, next_n, open_names, refine
from scoring.document import ScoreDocument

log = logging.getLogger(__name__)

START_N = 32


@dataclass(frozen=True)
class Adaptive:
    """The leaderboard's adaptive mode: None ranks every entry, K only the top K; every entry starts at `start_n`."""

    top: int | None = None
    start_n: int = START_N


@dataclass(frozen=True)
class AdaptiveResult:
    documents: dict[str, ScoreDocument]  # name -> score.json at its final N
    n_models: dict[str, int]
    blocks: list[Block]  # the ranking, in order
    max_n: int
    start_n: int

    @property
    def runs(self) -> int:
        """Unlearning runs made: each entry's ledger holds its first N runs."""
        return sum(self.n_models.values())

    @property
    def references(self) -> int:
        """Reference models trained: the first max N of them are shared by all entries."""
        return max(self.n_models.values())

    def why(self, name: str) -> str:
        return next(block.why for block in self.blocks if name in block.names)

    def block(self, name: str) -> int:
        """Index of the entry's block: blocks rank before the scores within them."""
        return next(i for i, block in enumerate(self.blocks) if name in block.names)

    def savings_note(self) -> str:
        fixed_runs = self.max_n * len(self.n_models)
        return (
            f"Adaptive N: {self.runs} unlearning runs and {self.references} reference models, against {fixed_runs} and "
            f"{self.max_n} at a fixed N = {self.max_n} (saved {fixed_runs - self.runs} runs, {100 * (1 - self.runs / fixed_runs):.0f}%, "
            f"and {self.max_n - self.references} references). Every entry starts at N = {self.start_n}; neighbours whose "
            "95% intervals overlap keep their place as a group and get twice the models until they separate (equal scores with "
            "intervals of no width settle as a tie at once). Scores at different N are not compared: ranks come from the budget "
            "verdict, the group order, then the scores within a group (the N column says where each stopped, and why)."
        )


def _standing(name: str, n_models: int, document: ScoreDocument) -> Standing:
    low, high = document.final_score_ci95 or (None, None)
    return Standing(name, n_models, document.final_score, low, high, document.time_budget.eligible)


def adaptive_scores(submissions: list[Path], out_dir: Path, session: ScoringSession, mode: Adaptive) -> AdaptiveResult:
    """Score the submissions adaptively up to the session's N; OUT/<name>/score.json holds each entry's final N. Run
    again, every round reads its kept scores back (harness.outputs.kept_scores) and only new runs are scored."""
    spec, settings = session.spec, session.settings
    if settings.metric.bootstrap < 2:
        raise ValueError("--adaptive needs intervals: --bootstrap of at least 2")
    paths = {path.stem: path for path in submissions}
    max_n = settings.n_models
    n = start_n = min(mode.start_n, max_n)
    active, blocks = set(paths), [Block(tuple(paths))]
    documents, standings = {}, {}
    while active:
        for position, name in enumerate(sorted(active), start=1):
            log.info(f"[adaptive N = {n}, {position}/{len(active)}] {spec.name}: {visible(str(paths[name]))}")
            documents[name] = score_entry(paths[name], out_dir, session, n)
            standings[name] = _standing(name, n, documents[name])
        blocks = refine(blocks, standings, mode.top, max_n)
        active = open_names(blocks)
        n = next_n(n, max_n)
    return AdaptiveResult(documents, {name: s.n_models for name, s in standings.items()}, blocks, max_n, start_n)
