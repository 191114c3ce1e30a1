"""The report's figures: arrays in, PNG bytes out (matplotlib, no display needed).

Each function draws one figure a participant looks at to see why a score is
low: whether the forget set's losses look like unseen data, which examples
stay memorised, and where the accuracy and the time went. Overlaid
histograms are drawn "stepfilled", one polygon each rather than a patch per
bin: the same picture in about half the rendering time, which every score pays.
"""

import io

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402

from scoring.epsilon import MAX_EPSILON  # noqa: E402
from scoring.mia import losses_from_statistic  # noqa: E402
from scoring.quality import bucket_points  # noqa: E402
from scoring.text import visible  # noqa: E402

_DPI = 110
_FORGET, _TEST, _UNLEARNED, _RETRAINED, _ORIGINAL = "#d62728", "#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f"


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=_DPI)
    plt.close(figure)
    return buffer.getvalue()


def loss_histograms(models: dict[str, tuple[np.ndarray, np.ndarray]]) -> bytes:
    """Per model (name -> forget and test statistics): forget against test losses, log-scaled.

    The picture every seed report drew: after good unlearning the forget
    set's losses look like the test set's, as they do for a retrained model.
    """
    figure, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.4), sharey=True)
    for axis, (name, (forget, test)) in zip(np.atleast_1d(axes), models.items(), strict=True):
        forget_loss, test_loss = losses_from_statistic(forget), losses_from_statistic(test)
        floor = max(min(forget_loss.min(), test_loss.min()), 1e-8)
        bins = np.geomspace(floor, max(forget_loss.max(), test_loss.max(), floor * 10), 30)
        for losses, colour, label in ((test_loss, _TEST, "test"), (forget_loss, _FORGET, "forget")):
            weights = np.full(len(losses), 1 / len(losses))
            axis.hist(losses, bins=bins, weights=weights, alpha=0.55, color=colour, label=label, histtype="stepfilled")
        axis.set_xscale("log")
        axis.set_title(f"{name} model")
        axis.set_xlabel("cross-entropy loss (log scale)")
        axis.legend()
    np.atleast_1d(axes)[0].set_ylabel("fraction of the set")
    return _png(figure)


def epsilon_histogram(epsilon: np.ndarray, n_models: int) -> bytes:
    """Per-example epsilon in the metric's buckets, with the points each bucket is worth; beside
    them, the examples that earn nothing: beyond the last bucket, and at the cap of 50.

    The cap gets a bar of its own because it means something else: an attack
    separated the two populations perfectly (or one was far narrower than the
    other), so the estimate is not a number but "as large as it gets".
    """
    right_ends, points = bucket_points(n_models)
    top = float(right_ends[-1])
    epsilon = np.asarray(epsilon, dtype=np.float64)
    figure, (buckets, rest) = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, gridspec_kw={"width_ratios": [4, 1]})
    buckets.hist(epsilon[epsilon < top], bins=np.concatenate([[0.0], right_ends]), color=_FORGET, alpha=0.75, edgecolor="white")
    buckets.set_xlim(0, top)
    buckets.set_xlabel(f"per-example epsilon, in buckets of 0.5 up to ln(N - 1) rounded up = {top:g}")
    buckets.set_ylabel("forget examples")
    buckets.set_title(f"Epsilon per forget example, N = {n_models}: lower is better forgotten")
    worth = buckets.twinx()
    worth.step(np.concatenate([[0.0], right_ends]), np.concatenate([points[:1], points]), where="pre", color="black", linewidth=1.2)
    worth.set_ylabel("points per example (black)")
    worth.set_ylim(0, 1.05)
    counts = [int(np.sum((epsilon >= top) & (epsilon < MAX_EPSILON))), int(np.sum(epsilon >= MAX_EPSILON))]
    bars = rest.bar([f"{top:g} to {MAX_EPSILON:g}", f"{MAX_EPSILON:g} (cap)"], counts, color=[_FORGET, _ORIGINAL], alpha=0.75)
    rest.bar_label(bars, fontsize=8)
    rest.set_title("no points")
    rest.set_xlabel("beyond the buckets")
    return _png(figure)


def collateral_epsilons(epsilons: dict[str, np.ndarray], n_models: int) -> bytes:
    """Per-example epsilon of the forget set beside the retain sample's and the test set's."""
    right_ends, _ = bucket_points(n_models)
    top = max(right_ends[-1] + 0.5, max(float(np.max(values)) for values in epsilons.values()) + 0.5)
    edges = np.concatenate([[0.0], right_ends, [top]])
    figure, axis = plt.subplots(figsize=(8, 3.6))
    colours = {"forget": _FORGET, "retain sample": _RETRAINED, "test (control)": _TEST}
    for name, values in epsilons.items():
        shares = np.histogram(np.minimum(values, top - 1e-9), bins=edges)[0] / len(values)
        axis.step(edges, np.concatenate([shares[:1], shares]), where="pre", label=f"{name} ({len(values)})", color=colours.get(name), linewidth=1.6)
    axis.set_xlabel("per-example epsilon (last step: beyond the buckets)")
    axis.set_ylabel("share of examples")
    axis.set_title(f"Epsilon on the forget set and beside it, N = {n_models}")
    axis.legend()
    return _png(figure)


def example_distributions(unlearned: np.ndarray, retrained: np.ndarray, epsilon: np.ndarray, count: int = 3) -> bytes:
    """Unlearned against retrained confidences of the `count` best- and worst-forgotten examples.

    `unlearned` and `retrained` are [N, E] logit-scaled confidences; an
    example is forgotten when both populations overlap.
    """
    order = np.argsort(epsilon, kind="stable")
    chosen = [("best", index) for index in order[:count]] + [("worst", index) for index in order[::-1][:count]]
    figure, axes = plt.subplots(2, count, figsize=(4 * count, 6.4))
    for axis, (kind, index) in zip(axes.flat, chosen, strict=False):
        both = np.concatenate([unlearned[:, index], retrained[:, index]])
        bins = np.linspace(both.min(), both.max() + 1e-9, 25)
        axis.hist(retrained[:, index], bins=bins, alpha=0.55, color=_RETRAINED, label="retrained", histtype="stepfilled")
        axis.hist(unlearned[:, index], bins=bins, alpha=0.55, color=_UNLEARNED, label="unlearned", histtype="stepfilled")
        axis.set_title(f"{kind}: example {index}, epsilon {epsilon[index]:.2f}")
        axis.set_xlabel("logit-scaled confidence")
    for row in axes:
        row[0].set_ylabel("models")
    axes.flat[0].legend()
    return _png(figure)


def panel_examples(epsilon: np.ndarray, others: dict[str, np.ndarray]) -> bytes:
    """Each forget example's official epsilon against its value under the panel's other metrics: where the points
    rise together, the metrics agree on which examples stay memorised."""
    figure, axes = plt.subplots(1, len(others), figsize=(4 * len(others), 3.6), squeeze=False)
    shown = np.minimum(np.asarray(epsilon, dtype=np.float64), 10.0)  # the cap of 50 drawn at 10, off the buckets' scale
    for axis, (name, values) in zip(axes[0], others.items(), strict=True):
        axis.scatter(shown, values, s=10, alpha=0.6, color=_FORGET)
        axis.set_xlabel("official epsilon (50 shown at 10)")
        axis.set_ylabel(name)
    return _png(figure)


def accuracy_bars(accuracies: dict[str, dict[str, float]]) -> bytes:
    """Retain, test and forget accuracy (set -> model -> accuracy) of the original, unlearned and retrained models."""
    models = {"original": _ORIGINAL, "unlearned": _UNLEARNED, "retrained": _RETRAINED}
    sets = list(accuracies)
    width = 0.8 / len(models)
    figure, axis = plt.subplots(figsize=(7, 3.6))
    for offset, (model, colour) in enumerate(models.items()):
        values = [accuracies[name][model] for name in sets]
        bars = axis.bar(np.arange(len(sets)) + (offset - 1) * width, values, width, color=colour, label=model)
        axis.bar_label(bars, fmt="%.3f", fontsize=7)
    lowest = min(value for pair in accuracies.values() for value in pair.values())
    axis.set_ylim(max(0.0, lowest - 0.1), 1.02)
    axis.set_xticks(np.arange(len(sets)), [f"{name} set" for name in sets])
    axis.set_ylabel("accuracy (mean over models)")
    axis.set_title("Accuracy")
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(figure)


def time_histogram(charged_s: np.ndarray, floor_s: float, retrain_median_s: float, fraction: float) -> bytes:
    """The runs' charged seconds, the harness's floor taken off as the verdict takes it, against the budget:
    fraction x median retrain time (the floor taken off too), so that both sides are on one clock."""
    budget = fraction * retrain_median_s
    unlearn_seconds = np.maximum(charged_s - floor_s, 1e-4)  # a log axis: runs at or below the floor sit at 0.1 ms
    figure, axis = plt.subplots(figsize=(7, 3.4))
    low, high = min(unlearn_seconds.min(), budget) * 0.9, max(unlearn_seconds.max(), budget) * 1.1
    axis.hist(unlearn_seconds, bins=np.geomspace(low, high, 40), color=_UNLEARNED, alpha=0.8, histtype="stepfilled")
    axis.set_xscale("log")  # a worker's first call pays torch's warm-up: one slow outlier per worker
    axis.axvline(float(np.median(unlearn_seconds)), color="black", linestyle="--", label=f"median {np.median(unlearn_seconds):.3f} s")
    axis.axvline(budget, color=_FORGET, linewidth=2, label=f"budget {budget:.3f} s ({fraction:g} x retrain {retrain_median_s:.3f} s)")
    axis.set_xlabel("charged seconds per call, less the harness's floor (log scale)")
    axis.set_ylabel("runs")
    axis.set_title("Time")
    axis.legend()
    return _png(figure)


def stability_curves(n_models: np.ndarray, scores: dict[str, np.ndarray], kendall_tau: np.ndarray, spearman_rho: np.ndarray) -> bytes:
    """Final score against N per submission (name -> one score per N, NaN where unscored), and the
    rank correlations with the largest N: whether a cheaper leaderboard orders submissions the same way.

    Scores span orders of magnitude and include zeros, so the score axis is
    linear below 1e-3 and logarithmic above. Submissions never scored are left out.
    """
    figure, (curves, agreement) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    colours = plt.get_cmap("tab20")
    scored = {name: values for name, values in scores.items() if np.isfinite(values).any()}
    for index, (name, values) in enumerate(scored.items()):
        first_pass = index < 10  # ten distinct hues, then their lighter shades dashed
        colour = colours(2 * (index % 10) + (0 if first_pass else 1))
        label = visible(name).replace("$", r"\$")  # a file's name: a pair of dollars would be mathtext, and bad mathtext raises
        curves.plot(n_models, values, marker="o", markersize=3, color=colour, linestyle="-" if first_pass else "--", label=label)
    curves.set_yscale("symlog", linthresh=1e-3)
    curves.set_ylabel("final score (symmetric log scale)")
    curves.set_title("Final score per submission")
    curves.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    agreement.plot(n_models, kendall_tau, marker="o", color=_TEST, label="Kendall tau-b")
    agreement.plot(n_models, spearman_rho, marker="s", color=_UNLEARNED, label="Spearman rho")
    agreement.axhline(1.0, color=_ORIGINAL, linewidth=0.8, linestyle=":")
    agreement.set_ylim(-1.05, 1.05)
    agreement.set_ylabel(f"rank correlation with N = {int(np.max(n_models))}")
    agreement.set_title("Agreement with the largest N's ranking")
    agreement.legend(loc="lower right")
    for axis in (curves, agreement):
        axis.set_xlim(np.min(n_models) / 1.25, np.max(n_models) * 1.25)  # also where nothing was scored, and log of no data fails
        axis.set_xscale("log", base=2)
        axis.set_xticks(n_models, [str(int(n)) for n in n_models])
        axis.set_xlabel("N (models per population, log scale)")
    return _png(figure)


def originals_dots(scores: dict[str, np.ndarray], intervals: dict[str, np.ndarray]) -> bytes:
    """A study of originals: per submission (best first, top to bottom), its final score from each original as a dot
    with that score's 95% interval (name -> [originals] scores, and [originals, 2] interval ends, NaN where none).
    Dots whose intervals overlap across originals say the original did not matter; apart, that it did."""
    names = list(scores)
    count = len(next(iter(scores.values()))) if scores else 0
    figure, axis = plt.subplots(figsize=(9, 0.9 + 0.32 * max(len(names), 1)))
    colours = plt.get_cmap("tab10")
    for k in range(count):
        offset = (k - (count - 1) / 2) * 0.6 / max(count, 1)
        rows = np.arange(len(names)) + offset
        values = np.array([scores[name][k] for name in names])
        ends = np.array([intervals[name][k] for name in names]).reshape(len(names), 2)
        shown = np.isfinite(values)
        below, above = np.where(np.isfinite(ends[:, 0]), values - ends[:, 0], 0), np.where(np.isfinite(ends[:, 1]), ends[:, 1] - values, 0)
        axis.errorbar(values[shown], rows[shown], xerr=np.vstack([below, above])[:, shown].clip(min=0), fmt="o", markersize=4,
                      color=colours(k % 10), elinewidth=1, capsize=2, label=f"original {k}")
    axis.set_yticks(np.arange(len(names)), [visible(name).replace("$", r"\$") for name in names], fontsize=8)
    axis.invert_yaxis()
    axis.set_xscale("symlog", linthresh=1e-3)
    highest = max([float(np.nanmax(ends)) for ends in intervals.values() if np.isfinite(ends).any()]
                  + [float(np.nanmax(values)) for values in scores.values() if np.isfinite(values).any()], default=0.0)
    axis.set_xlim(0, max(highest, 1e-3) * 1.3)  # scores are never negative; symlog would draw a mirrored empty half
    axis.set_xlabel("final score, with its 95% interval (symmetric log scale)")
    axis.set_title("Final score from each original")
    axis.legend(fontsize=7, loc="lower right")
    return _png(figure)
