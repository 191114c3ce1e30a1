"""`make bench`: how fast reference models train in stacks, against one at a time.

The cache trains its reference models in stacks of CHUNK (stacked parameters,
the forward pass mapped over them with torch.func.vmap:
`reference_models.batched_training.train_stack`). The straightforward way is
`reference_models.training.train_from_scratch`, one model at a time through the
DataLoader that submissions get. Both train the same models of digits-mlp: the
benchmark's recipe and the seeds of the first N_MODELS retrained references,
so that their mean test accuracies (same seeds, same test set) show that the
stacks train models of the same quality, not just faster.

Fairness: both paths run in this one process on one thread, which is how the
cache runs each of its joblib workers (one stack per core), so both figures
are the rate of one core and both scale alike with cores; one process keeps
worker start-up and scheduling out of both. Each path first trains one
untimed epoch (torch's first steps pay one-time set-up costs). The timed work
alternates in rounds of one stack and the same models one at a time, so that
load from other processes on a shared machine falls on both paths alike.
Evaluation is not timed.

Exits non-zero unless stacks are at least MIN_SPEED_UP times faster in models
per minute and the mean test accuracies agree within MAX_ACCURACY_GAP points.
"""

from dataclasses import replace
import sys
import time

import numpy as np
import torch
from torch import nn

from harness.benchmarks import get_benchmark
from reference_models.architectures import build_model
from reference_models.batched_training import train_stack
from reference_models.cache import CHUNK
from reference_models.datasets import BenchmarkData, load_benchmark_data
from reference_models.evaluation import evaluate
from reference_models.seeds import model_seed
from reference_models.spec import BenchmarkSpec
from reference_models.training import train_from_scratch

BENCHMARK, N_MODELS = "digits-mlp", 2 * CHUNK
MIN_SPEED_UP, MAX_ACCURACY_GAP = 2.0, 0.5  # times; percentage points of test accuracy


def seeds(spec: BenchmarkSpec, indices: range) -> list[int]:
    """The seeds of retrained reference models, as the cache draws them."""
    return [model_seed(spec, "retrained", i) for i in indices]


def one_epoch(spec: BenchmarkSpec) -> BenchmarkSpec:
    """The spec with a one-epoch recipe, for the untimed warm-up."""
    return replace(spec, recipe=replace(spec.recipe, epochs=1))


def test_accuracy(spec: BenchmarkSpec, data: BenchmarkData, model_or_state: nn.Module | dict) -> float:
    """Test accuracy of a model, or of a state dict loaded into a fresh model (as the cache does)."""
    if isinstance(model_or_state, dict):
        model = build_model(spec)
        model.load_state_dict(model_or_state)
        model_or_state = model
    return evaluate(model_or_state, data).test_accuracy


def stacked_round(spec: BenchmarkSpec, data: BenchmarkData, indices: range) -> tuple[float, list[float]]:
    """Seconds to train the models in one stack, and their test accuracies."""
    start = time.perf_counter()
    states = train_stack(spec, data.retain, seeds(spec, indices))
    seconds = time.perf_counter() - start
    return seconds, [test_accuracy(spec, data, state) for state in states]


def single_round(spec: BenchmarkSpec, data: BenchmarkData, indices: range) -> tuple[float, list[float]]:
    """Seconds to train the models one at a time through the loader, and their test accuracies."""
    seconds, accuracies = 0.0, []
    for seed in seeds(spec, indices):
        model, _, elapsed = train_from_scratch(spec, data.retain, seed)
        seconds += elapsed
        accuracies.append(test_accuracy(spec, data, model))
    return seconds, accuracies


def per_minute(models: int, seconds: float) -> float:
    return 60.0 * models / seconds


def verdict(speed_up: float, accuracy_gap: float) -> list[str]:
    """What fails the acceptance criterion; empty when it holds."""
    failures = []
    if speed_up < MIN_SPEED_UP:
        failures.append(f"stacked training is only {speed_up:.2f}x faster (at least {MIN_SPEED_UP:.0f}x required)")
    if accuracy_gap > MAX_ACCURACY_GAP:
        failures.append(f"mean test accuracies differ by {accuracy_gap:.2f} points (at most {MAX_ACCURACY_GAP} allowed)")
    return failures


def main() -> None:
    torch.set_num_threads(1)
    spec = get_benchmark(BENCHMARK)
    data = load_benchmark_data(spec)
    train_stack(one_epoch(spec), data.retain, seeds(spec, range(CHUNK)))
    train_from_scratch(one_epoch(spec), data.retain, seeds(spec, range(1))[0])

    totals = {"stacked": 0.0, "single": 0.0}
    accuracies: dict[str, list[float]] = {"stacked": [], "single": []}
    for start in range(0, N_MODELS, CHUNK):
        indices = range(start, min(start + CHUNK, N_MODELS))
        for path, round_ in (("stacked", stacked_round), ("single", single_round)):
            seconds, found = round_(spec, data, indices)
            totals[path] += seconds
            accuracies[path] += found

    rates = {path: per_minute(N_MODELS, totals[path]) for path in totals}
    means = {path: 100 * float(np.mean(accuracies[path])) for path in accuracies}
    speed_up, gap = rates["stacked"] / rates["single"], abs(means["stacked"] - means["single"])
    recipe = spec.recipe
    print(f"reference models, {BENCHMARK} ({recipe.epochs} epochs, batch {recipe.batch_size}, {len(data.retain)} retain examples), "
          f"the same {N_MODELS} seeds both ways, 1 process, 1 thread:")
    print(f"{'path':<36} {'seconds':>8} {'models/min':>11} {'mean test acc.':>15}")
    print(f"{f'stacked, vmap, {CHUNK} per stack':<36} {totals['stacked']:>8.1f} {rates['stacked']:>11.0f} {means['stacked']:>14.2f}%")
    print(f"{'one at a time, DataLoader':<36} {totals['single']:>8.1f} {rates['single']:>11.0f} {means['single']:>14.2f}%")
    print(f"speed-up: {speed_up:.1f}x; accuracy gap: {gap:.2f} points")
    failures = verdict(speed_up, gap)
    if failures:
        sys.exit("reference_speed FAILED: " + "; ".join(failures))


if __name__ == "__main__":
    main()
