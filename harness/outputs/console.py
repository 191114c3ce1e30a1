"""The console summary of a score.json document, and where its files are."""

from pathlib import Path
import textwrap

from harness.outputs.context import context_line
from harness.running.failures import inert
from harness.timing.budget import IMPORT_DOMINATES
from rendering.pages import ratio_interval_text, visible
from scoring.document import OriginalsStudy, Pair, ScoreDocument, TimeBudget, UnmeasuredBudget
from scoring.intervals import INTERVAL_LABEL
from scoring.originals import POOLED


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _interval(interval: tuple[float, float] | None, replicates: int | None) -> str:
    if interval is None:
        return ""
    low, high = interval
    return f"  ({INTERVAL_LABEL}: {low:.4f} to {high:.4f}, {replicates} replicates)"


def _ratio(pair: Pair | None) -> str:
    return "n/a" if pair is None else f"{_fmt(pair.unlearned)} unlearned / {_fmt(pair.retrained)} retrained = {pair.ratio:.3f}"


def _panel(document: ScoreDocument) -> str:
    """The panel's other metrics on one line, each with its interval and direction."""
    parts = []
    for name, entry in document.panel.items():
        if name != "official":
            interval = f" ({entry.ci95[0]:.4f} to {entry.ci95[1]:.4f})" if entry.ci95 else ""
            parts.append(f"{name} {entry.value:.4f}{interval}, {entry.better} better")
    return "; ".join(parts)


def _originals(study: OriginalsStudy) -> list[str]:
    """A study of originals: each original's final score with its interval, then what their spread says."""
    scores = ", ".join(f"{s.index}: {_fmt(s.final_score)}" + (f" ({s.final_score_ci95[0]:.4f} to {s.final_score_ci95[1]:.4f})"
                                                                if s.final_score_ci95 else "") for s in study.per_original)
    says = f"{study.says} {POOLED}"
    return [f"per original     {scores}", *("                 " + line for line in textwrap.wrap(says, 100))]


def summary(document: ScoreDocument) -> str:
    """A short table a participant reads at a glance: score, its parts, and the budget."""
    runs = document.runs
    lines = [
        f"benchmark        {document.benchmark} (key {document.benchmark_key})",
        f"submission       {visible(document.submission)}",
        f"runs             N = {document.n_models}: " + ", ".join(f"{runs[s]} {s}" for s in runs),
    ]
    if document.not_started is not None:
        lines.append(f"not started      {document.not_started.count} run(s): {document.not_started.reason}")
    if document.runs_retried:
        lines.append(f"retried          {document.runs_retried} run(s) counted from a later attempt, after a timeout or a worker crash "
                     "(the ledger keeps every attempt)")
    for failure_class, failure in document.failures.items():
        lines.append(f"{failure_class:<16} {failure.count} run(s); the first:")
        lines += ["    " + line for line in inert(failure.first_message.strip(), limit=None).splitlines()]  # kept from an older ledger, perhaps
    if document.final_score is None or document.metric is None or document.simple_mia is None:
        lines.append("score            none: runs failed (see score.json 'failures'; --allow-failures scores the rest)")
    else:
        mia = document.simple_mia
        lines += [
            f"forget quality   F = {_fmt(document.forget_quality)}{_interval(document.forget_quality_ci95, document.interval_replicates)}"
            f"  [attacks: {document.metric.attacks}, rates: {document.metric.rates}]",
            *([f"ceiling          F = {_fmt(document.forget_quality_ceiling)} for models retrained from scratch at this N"]
              if document.forget_quality_ceiling is not None else []),
            f"retain accuracy  {_ratio(document.retain_accuracy)}",
            f"test accuracy    {_ratio(document.test_accuracy)}",
            f"final score      {_fmt(document.final_score)}{_interval(document.final_score_ci95, document.interval_replicates)}"
            + (f"  [POOLED over {document.originals.count} originals: no measure of a method; see per original]" if document.originals else ""),
            *([f"in context       {context}"] if (context := context_line(document)) else []),
            *([f"metric panel     {_panel(document)} (not the score; docs/metric.md)"] if document.panel else []),
            *(_originals(document.originals) if document.originals is not None else []),
            f"simple MIA       accuracy {mia.original:.3f} original, {mia.unlearned.mean:.3f} unlearned,"
            f" {mia.retrained.mean:.3f} retrained (0.5: forget set looks unseen)",
        ]
    if document.poisoning is not None:
        poisoning, restored = document.poisoning, document.poisoning.accuracy_restored
        lines.append(
            f"poisoning        test accuracy {poisoning.accuracy_before:.4f} poisoned, {poisoning.accuracy_after:.4f} unlearned,"
            f" {poisoning.clean_accuracy:.4f} clean: " + ("nothing to restore" if restored is None else f"{restored:.1%} restored")
        )
    return "\n".join(lines + _budget_lines(document.time_budget))


def _budget_lines(budget: TimeBudget | UnmeasuredBudget) -> list[str]:
    if isinstance(budget, UnmeasuredBudget):
        return [f"time budget      {budget.verdict}: {budget.reason}"]
    lines = []
    if budget.ratio is None or budget.ratio_ci is None or budget.ratio_ci_coverage is None:
        lines.append("time budget      unknown: no run finished")
    else:
        lines.append(
            f"time budget      {budget.verdict.upper()}: median unlearning {budget.unlearn_median_s:.3f} s"
            f" = {budget.ratio:.3f} x median retrain {budget.retrain_median_s:.3f} s; limit {budget.fraction:.2f}"
        )
        lines.append(f"                 ratio's interval {ratio_interval_text(*budget.ratio_ci)}: coverage >= {budget.ratio_ci_coverage:.0%},"
                     f" order statistics of {budget.runs_timed} runs and {budget.retrain_runs} retrainings"
                     + (" made among them" if budget.yardstick == "paired" else " measured once on this machine (--yardstick cached)"))
        if budget.reported_on:
            lines.append(f"                 SELF-REPORTED: the seconds of each call are the participant's own, measured on {budget.reported_on}; "
                         "the harness ran no code and verified none of them")
        else:
            lines.append(f"                 measured as {budget.measure}, less the harness's own {budget.floor_s:.3f} s a run;"
                         f" load average {budget.load_average['runs']:.1f}")
        if budget.import_share is not None:
            lines.append(f"                 import: {budget.import_median_s:.3f} s a run, {budget.import_share:.0%} of the charged time"
                         f" (the rest is the call)")
            if budget.import_share > IMPORT_DOMINATES:
                lines.append("                 most of it is the import, paid by every run: import only what unlearning uses (the worker "
                             "preloads torch, torchvision and Kaggle's common packages; docs/kaggle-code.md)")
    if budget.verdict == "borderline":
        counted = "pass, after more runs" if budget.borderline == "more-runs" else budget.borderline
        lines.append(f"                 borderline: the interval holds the limit; counted as {counted} (--borderline {budget.borderline})")
    if budget.verdict in ("fail", "borderline") and not budget.eligible:
        lines.append("eligibility      over budget: ranked after every submission within it (--budget-policy eligible, as on Kaggle)")
    return lines


def written(out_dir: Path, document: ScoreDocument) -> str:
    """The last lines of `score`: where its score.json and report.html are."""
    folder = visible(str(out_dir))  # by default named after the submission
    if not document.scored:
        report = f"none: nothing was scored (see {folder}/submission.log)"
    else:
        report = f"{folder}/report.html" if (out_dir / "report.html").exists() else "not written (--no-report)"
    return f"score.json       {folder}/score.json\nreport.html      {report}"
