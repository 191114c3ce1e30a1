"""`stability`: would a leaderboard with fewer models rank the folder as the largest N does? And with
`--originals K`, would another original model have ranked it alike?

Every submission is scored at the largest N exactly as `leaderboard` does
(OUT/<name>/score.json and report.html). Each smaller n is then scored by
subsampling, not by running anything again: the first n runs of each
submission's ledger against the first n retrained references. That is the
pair of populations a run at N = n would produce, since a run's seed and a
reference model depend only on their index. Per n only F and the final score
are computed (no bootstrap, no population attack): the ranking needs no more.
"""

from collections.abc import Sequence
import json
import logging
from pathlib import Path

import numpy as np

from harness.boards.leaderboard import provenance, score_folder
from harness.outputs.results import Scorer, scored_population
from harness.running.ledger import RunLedger, RunRecord
from harness.session import ScoringSession
from harness.settings import ScoreSettings
from reference_models.files import write_atomic, write_csv_atomic
from reference_models.spec import BenchmarkSpec
from rendering.figures import originals_dots, stability_curves
from rendering.pages import markdown_page
from rendering.stability import agreement_cells, originals_agreement_cells, originals_cells, score_cells
from scoring.document import OriginalsStudy
from scoring.leaderboard import rank, row_from_document
from scoring.originals import SIGNIFICANT
from scoring.stability import agreement_table, originals_agreement, originals_table, rank_agreement, scores_table

log = logging.getLogger(__name__)


def _records(spec: BenchmarkSpec, sha256: str, settings: ScoreSettings) -> list[RunRecord]:
    """The submission's runs at the largest N, from its ledger."""
    with RunLedger.open(settings.ledger_dir, sha256, RunLedger.runs_key(spec.key(), settings.originals)) as ledger:
        return ledger.finished(settings.n_models)


def subsampled_scores(records: list[RunRecord], scorer: Scorer, n_models: Sequence[int], allow_failures: bool) -> tuple[np.ndarray, np.ndarray]:
    """F and the final score of the first n runs for each n, as `score` at N = n would give them (NaN: no score)."""
    quality, final = np.full(len(n_models), np.nan), np.full(len(n_models), np.nan)
    for column, n in enumerate(n_models):
        unlearned = scored_population(records[:n], allow_failures)
        if unlearned is not None:
            quality[column] = scorer.forget_quality(unlearned)
            final[column] = scorer.final_score_of(unlearned, quality[column])
    return quality, final


def _figures(benchmark: str, names: list[str], n_models: Sequence[int], scores: np.ndarray) -> bytes:
    """stability.json: the final scores per N, as the console's context line reads them (the Markdown's cells, unrounded)."""
    final = {name: [float(s) if np.isfinite(s) else None for s in row] for name, row in zip(names, scores, strict=True)}
    return (json.dumps({"benchmark": benchmark, "n_models": list(n_models), "final_scores": final}, indent=1) + "\n").encode()


def _write(out_dir: Path, title: str, notes: list[str], names: list[str], n_models: Sequence[int], quality: np.ndarray, scores: np.ndarray,
           benchmark: str) -> str:
    """OUT/stability.md, stability.json, stability.csv, stability_scores.csv and stability.png; returns the Markdown."""
    agreements = rank_agreement(scores, n_models)
    sections = [("Agreement with the largest N", agreement_cells(agreements)), ("Final score (rank) per N", score_cells(names, n_models, scores))]
    text = markdown_page(title, notes, sections) + "\n![Final score against N, and the rank correlations](stability.png)\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "stability.md", text.encode())
    write_atomic(out_dir / "stability.json", _figures(benchmark, names, n_models, scores))
    write_csv_atomic(out_dir / "stability.csv", agreement_table(agreements))
    write_csv_atomic(out_dir / "stability_scores.csv", scores_table(names, n_models, quality, scores))
    tau = np.array([a.kendall_tau for a in agreements])
    rho = np.array([a.spearman_rho for a in agreements])
    write_atomic(out_dir / "stability.png", stability_curves(np.asarray(n_models), dict(zip(names, scores, strict=True)), tau, rho))
    return text


def stability(folder: Path, spec: BenchmarkSpec, n_models: Sequence[int], out_dir: Path, settings: ScoreSettings, command: str) -> str:
    """Score the folder at settings.n_models, the largest of `n_models` (ascending), then every n by subsampling;
    writes the stability files in out_dir and returns the Markdown."""
    if settings.n_models != max(n_models):
        raise ValueError(f"the largest N ({max(n_models)}) must be the one scored ({settings.n_models})")
    session = ScoringSession(spec, settings)
    documents = score_folder(folder, out_dir, session)
    names = [row.submission for _, row in rank([row_from_document(name, document) for name, document in documents.items()])]
    log.info(f"{spec.name}: subsampling N = {', '.join(map(str, n_models))}")
    scorer = Scorer(session.references(settings.n_models)[1], settings.metric)
    per_submission = [  # an entry refused or failed before any run has no ledger: no score at any N
        subsampled_scores(_records(spec, sha256, settings) if (sha256 := documents[name].submission_sha256) is not None else [],
                          scorer, n_models, settings.allow_failures)
        for name in names
    ]
    quality = np.array([q for q, _ in per_submission])
    scores = np.array([s for _, s in per_submission])
    title = f"Ranking stability: {folder.resolve().name} on {spec.name}, N = {', '.join(map(str, n_models))}"
    notes = [
        *provenance(command, settings, documents),
        f"Each smaller N is scored by subsampling the N = {settings.n_models} runs: the first N runs of each submission "
        "against the first N retrained references, exactly what a run at that N would give (seeds depend only on the index).",
        f"Rank correlations are against the ranking at N = {settings.n_models}, by final score, over the submissions scored "
        "at every N (tau-b counts ties; n/a when a ranking is one tie). In the score table, the rank at that N is in parentheses.",
    ]
    return _write(out_dir, title, notes, names, n_models, quality, scores, spec.name)


def _per_original(study: OriginalsStudy | None, count: int) -> tuple[np.ndarray, np.ndarray]:
    """An entry's final score from each original, and its 95% interval ([count] and [count, 2], NaN where none)."""
    scores, intervals = np.full(count, np.nan), np.full((count, 2), np.nan)
    for score in study.per_original if study is not None else ():
        if score.final_score is not None:
            scores[score.index] = score.final_score
        if score.final_score_ci95 is not None:
            intervals[score.index] = score.final_score_ci95
    return scores, intervals


def _by_mean_score(scores: dict[str, np.ndarray]) -> list[str]:
    """Entries best first by the mean of their per-original scores, not by the pooled score, which rewards runs that
    differ only by their original (identity's); an entry with an original unscored comes last, then by name."""
    def key(name: str) -> tuple[bool, float, str]:
        complete = bool(np.isfinite(scores[name]).all())
        return not complete, -float(scores[name].mean()) if complete else 0.0, name

    return sorted(scores, key=key)


def originals_stability(folder: Path, spec: BenchmarkSpec, out_dir: Path, settings: ScoreSettings, command: str) -> str:
    """`stability --originals K`: score the folder at N with K originals (run i from original i mod K), then rank it by
    each original's N/K runs; writes stability.md, stability_scores.csv and originals.png in out_dir and returns the
    Markdown. How often would the ranking change had the competition drawn another original?"""
    session = ScoringSession(spec, settings)
    documents = score_folder(folder, out_dir, session)
    count = settings.originals
    per_name = {name: _per_original(document.originals, count) for name, document in documents.items()}
    names = _by_mean_score({name: scores for name, (scores, _) in per_name.items()})
    studies = [documents[name].originals for name in names]
    scores = np.array([per_name[name][0] for name in names])
    intervals = {name: per_name[name][1] for name in names}
    agreement = originals_agreement(scores)
    tests = [study.heterogeneity for study in studies if study is not None and study.heterogeneity is not None]
    significant = sum(test.p_value < SIGNIFICANT for test in tests)
    per = settings.n_models // count
    title = f"Ranking stability over originals: {folder.resolve().name} on {spec.name}, N = {settings.n_models} ({per} runs from each of {count})"
    notes = [
        *provenance(command, settings, documents),
        f"Each of {count} originals was trained from its own seed (original 0 is the competition's); run i unlearned from original i mod "
        f"{count}, and each original's {per} runs are scored against the same first {per} retrained references.",
        "A submission's spread between originals is set against the spread its runs' randomness alone gives (the root mean square of "
        "the per-original standard errors, from half-sampling); p is Cochran's Q test that the original does not matter (scoring/originals.py). "
        "With many submissions, about one in twenty has p < 0.05 by chance. Rows are in the order of the mean of the per-original "
        "scores: the pooled score of every original's runs is no measure of a method (identity, which returns each original "
        "unchanged, scores well above 0 pooled).",
    ]
    sections = [("Do the originals agree?", originals_agreement_cells(agreement, significant, len(tests))),
                ("Final score (rank) from each original", originals_cells(names, scores, studies))]
    text = markdown_page(title, notes, sections) + "\n![Final score from each original, with 95% intervals](originals.png)\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "stability.md", text.encode())
    write_csv_atomic(out_dir / "stability_scores.csv", originals_table(names, scores, intervals))
    write_atomic(out_dir / "originals.png", originals_dots(dict(zip(names, scores, strict=True)), intervals))
    return text
