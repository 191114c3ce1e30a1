"""report.html beside score.json: the score's breakdown and the figures that explain it.

One self-contained file (images embedded as base64 PNG) that a participant
opens in a browser, or an organiser attaches to a leaderboard, without the
harness or its caches.
"""

import base64
import html

import numpy as np
import pyarrow as pa

from reference_models.cache import References
from reference_models.evaluation import PopulationOutputs
from rendering import figures
from rendering.pages import html_document, number, ratio_text
from scoring.document import OriginalsStudy, Pair, ScoreDocument, SimpleMia, TimeBudget, UnmeasuredBudget
from scoring.epsilon import MAX_EPSILON
from scoring.intervals import INTERVAL_LABEL
from scoring.originals import POOLED


def _image(png: bytes, caption: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def _with_interval(value: float | None, interval: tuple[float, float] | None) -> str:
    suffix = f" ({INTERVAL_LABEL}: {interval[0]:.4f} to {interval[1]:.4f})" if interval else ""
    return number(value) + suffix


def _budget_text(budget: TimeBudget | UnmeasuredBudget) -> str:
    if isinstance(budget, UnmeasuredBudget):  # checkpoints made elsewhere, without timings
        return f"{budget.verdict}: {budget.reason}"
    if budget.ratio is None or budget.ratio_ci is None or budget.ratio_ci_coverage is None:
        return f"{budget.verdict}: no run finished"
    return (f"{budget.verdict}: median {budget.unlearn_median_s:.3f} s = {ratio_text(budget.ratio, *budget.ratio_ci)} x retrain "
            f"({budget.ratio_ci_coverage:.0%} interval; limit {budget.fraction:g}; borderline counts as {budget.borderline}; "
            f"{budget.measure}; policy {budget.policy}{'' if budget.eligible else ', ranked after those within budget'})")


def _breakdown(document: ScoreDocument, accuracies: dict[str, Pair], mia: SimpleMia) -> str:
    """The score as a table: each factor of the final score, then the budget and the population attack."""
    rows = [
        ("final score", _with_interval(document.final_score, document.final_score_ci95)),
        ("forgetting quality F", _with_interval(document.forget_quality, document.forget_quality_ci95)),
        *[(f"{name} accuracy, unlearned / retrained", f"{pair.unlearned:.4f} / {pair.retrained:.4f}") for name, pair in accuracies.items()],
        ("time budget", _budget_text(document.time_budget)),
        ("simple MIA accuracy", f"{mia.original:.3f} original, {mia.unlearned.mean:.3f} unlearned, {mia.retrained.mean:.3f} retrained"),
        ("runs", ", ".join(f"{count} {status}" for status, count in document.runs.items())),
    ]
    cells = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>" for name, value in rows)
    return f"<table>{cells}</table>"


def _panel(document: ScoreDocument) -> str:
    """The metric panel as a table: each metric's value with its interval, which way is better, what it says, its source."""
    if not document.panel:
        return ""
    head = "<tr><th>metric</th><th>value</th><th>better</th><th>what it says</th><th>source</th></tr>"
    rows = []
    for name, entry in document.panel.items():
        value = _with_interval(entry.value, entry.ci95)
        if entry.controls:
            value += "; controls: " + ", ".join(f"{place.replace('_', ' ')} {number(control)}" for place, control in entry.controls.items())
        cells = (name, value, entry.better, entry.says, entry.source)
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    return ("<h2>Metric panel</h2><p>The same models under three other metrics beside the official one (not part of the score): "
            "a ranking that survives them does not rest on one attack's quirks.</p>"
            f"<table>{head}{''.join(rows)}</table>")


def _originals(study: OriginalsStudy | None) -> str:
    """A study of originals as a table: each original's accuracies and the score of its runs, then what their spread says."""
    if study is None:
        return ""
    head = ("<tr><th>original</th><th>retain / test / forget accuracy</th><th>runs scored</th><th>forgetting quality F</th>"
            "<th>final score</th></tr>")
    rows = []
    for score in study.per_original:
        model = score.original_model
        cells = (str(score.index), f"{model.retain_accuracy:.4f} / {model.test_accuracy:.4f} / {model.forget_accuracy:.4f}",
                 "none" if score.n_models_scored is None else str(score.n_models_scored), number(score.forget_quality),
                 _with_interval(score.final_score, score.final_score_ci95))
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    return (f"<h2>Score per original</h2><p>A study of {study.count} originals, each trained from its own seed (0 is the competition's): "
            f"run i unlearned from original i mod {study.count}, and each original's runs are scored against the same references. "
            f"{html.escape(study.says)} {html.escape(POOLED)}</p><table>{head}{''.join(rows)}</table>")


def report_html(document: ScoreDocument, examples: pa.Table, unlearned: PopulationOutputs, references: References, unlearn_seconds: np.ndarray) -> str:
    """The whole report of a scored submission as one HTML page, from its document and its per-example table."""
    epsilon = examples["epsilon"].to_numpy()
    pairs = {"retain": document.retain_accuracy, "test": document.test_accuracy, "forget": document.forget_accuracy}
    mia, collateral, metric = document.simple_mia, document.collateral_privacy, document.metric
    scored = {name: pair for name, pair in pairs.items() if pair is not None}
    if len(scored) != len(pairs) or mia is None or collateral is None or metric is None:
        raise ValueError(f"{document.submission}: report.html is drawn for a scored document only (status {document.status})")
    n = len(unlearned)
    retrained = references.retrained.head(n)
    original = references.original
    budget = document.time_budget
    accuracies = {
        name: {"original": getattr(original, f"{name}_accuracy"), "unlearned": pair.unlearned, "retrained": pair.retrained}
        for name, pair in scored.items()
    }
    images = [
        _image(
            figures.loss_histograms({
                "original": (original.forget_statistic, original.test_statistic),
                "an unlearned": (unlearned.forget_statistic[0], unlearned.test_statistic[0]),
                "a retrained": (retrained.forget_statistic[0], retrained.test_statistic[0]),
            }),
            "Losses of the forget set (red) against the test set (blue) for the original model, the first unlearned "
            "model and the first retrained one. Good unlearning makes the forget set look like unseen data.",
        ),
        _image(
            figures.epsilon_histogram(epsilon, n),
            "How many forget examples fall in each epsilon bucket; the black steps are the points each bucket earns, "
            "and F is the mean of those points over the forget set. Examples past the last bucket earn nothing (right). "
            f"Epsilon = {MAX_EPSILON:g} is the cap: an attack told the unlearned and retrained models apart perfectly on "
            "that example (a rule with no errors, an infinite estimate), or one population's spread is under 1% of the "
            "other's; a method that returns the same model on every run ends there.",
        ),
        _image(
            figures.example_distributions(unlearned.forget_statistic, retrained.forget_statistic, epsilon),
            "The three best-forgotten (top) and worst-forgotten (bottom) examples: each model's confidence in the "
            "true label, unlearned against retrained. Overlapping histograms cannot be told apart.",
        ),
        _image(
            figures.panel_examples(epsilon, {"strong epsilon": examples["epsilon_strong"].to_numpy(),
                                             "LiRA-style epsilon": examples["epsilon_lira"].to_numpy(), "KLoM": examples["klom"].to_numpy()}),
            "The metric panel per forget example: the official epsilon against the strong attacks' epsilon, the "
            "LiRA-style attack's and KLoM. Where the points rise together, the metrics agree on which examples stay "
            "memorised; the strong epsilon is never below the official one.",
        ),
        _image(figures.accuracy_bars(accuracies), "Mean accuracy of each population on the retain, test and forget sets."),
        _image(
            figures.collateral_epsilons({
                "forget": epsilon,
                "retain sample": np.array(collateral.retain_sample.epsilons),
                "test (control)": np.array(collateral.test_control.epsilons),
            }, n),
            "Collateral privacy (not part of the score): the same attacks on the same models, per example of a retain "
            "sample and of the test set, which no model trained on. Unlearning that leaks beyond the forget set moves the "
            "retain curve right of the test control.",
        ),
    ]
    if isinstance(budget, TimeBudget) and budget.ratio is not None:  # otherwise: checkpoints made elsewhere, whose runs were not timed
        images.append(_image(
            figures.time_histogram(unlearn_seconds, budget.floor_s, budget.retrain_median_s, budget.fraction),
            f"Seconds charged to each run ({budget.measure}), less the harness's own {budget.floor_s:.3f} s a run, against "
            "the time budget: the same clock and the same subtraction as the verdict.",
        ))
    title = f"{document.submission} on {document.benchmark}, N = {n}"
    header = (
        f"<p>Benchmark key <code>{html.escape(document.benchmark_key)}</code>; attacks "
        f"<code>{html.escape(metric.attacks)}</code>, rates <code>{html.escape(metric.rates)}</code>.</p>"
    )
    return html_document(title, header + _breakdown(document, scored, mia) + _panel(document) + _originals(document.originals) + "".join(images))
