"""How many device-hours the competition's protocol costs on a benchmark, from one model's training speed.

The protocol trains the original, N models from scratch on the retain set
(the references) and runs the submission N times, each run allowed at most
the budget fraction of one retraining. This times a few training steps of the
benchmark's model with its recipe (batch size, augmentation, precision) on
synthetic inputs of the data set's shape, on the chosen device, and scales
the step time to whole trainings:

    hours = (1 + N + fraction * N) * epochs * ceil(retain / batch) * step time / 3600

Synthetic inputs cost the same arithmetic as real ones, so no data set is needed.

    python benchmarks/protocol_cost.py --benchmark cifar10-resnet18 --device cuda
"""

import argparse
from dataclasses import replace
import math
import time

import torch

from harness.benchmarks import BENCHMARKS, get_benchmark
from harness.timing.choices import DEFAULT_FRACTION
from reference_models.architectures import build_model, input_shape, num_classes
from reference_models.hardware import resolve_device
from reference_models.spec import BenchmarkSpec
from reference_models.tensors import LabelledTensors
from reference_models.training import train

# Training examples of the data sets read from disk (the retain set is train less the forget set).
TRAIN_SIZE = {"cifar10": 50_000}
WARM_UP_STEPS, TIMED_STEPS = 3, 20


def seconds_per_step(spec: BenchmarkSpec, device: str) -> float:
    """Mean seconds of one training step (forward, backward, SGD) at the recipe's batch size."""
    batch = spec.recipe.batch_size
    shape = input_shape(spec)
    torch.manual_seed(0)
    model = build_model(spec).to(device)

    def steps(count: int) -> float:
        data = LabelledTensors(torch.randn(count * batch, *shape), torch.randint(0, num_classes(spec), (count * batch,)))
        start = time.perf_counter()
        train(model, data, replace(spec.recipe, epochs=1), seed=0)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    steps(WARM_UP_STEPS)
    return steps(TIMED_STEPS) / TIMED_STEPS


def protocol_hours(spec: BenchmarkSpec, step_s: float, n_models: int, fraction: float) -> tuple[float, float]:
    """Hours of one model's training, and of the whole protocol with N models and N runs at the budget's limit."""
    retain = round(TRAIN_SIZE[spec.dataset] * (1 - spec.forget_fraction))
    model_s = spec.recipe.epochs * math.ceil(retain / spec.recipe.batch_size) * step_s
    return model_s / 3600, (1 + n_models + fraction * n_models) * model_s / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="cifar10-resnet18", choices=sorted(b for b in BENCHMARKS if BENCHMARKS[b].dataset in TRAIN_SIZE))
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--n-models", type=int, default=512)
    args = parser.parse_args()
    device = resolve_device(args.device)
    if device == "cpu":
        torch.set_num_threads(1)  # one core, as each reference worker trains
    spec = get_benchmark(args.benchmark)
    step_s = seconds_per_step(spec, device)
    model_h, total_h = protocol_hours(spec, step_s, args.n_models, DEFAULT_FRACTION)
    name = torch.cuda.get_device_name() if device == "cuda" else "one CPU core"
    print(f"{spec.name} on {name}: {step_s * 1000:.1f} ms per step of {spec.recipe.batch_size}, "
          f"{model_h * 60:.1f} min per model ({spec.recipe.epochs} epochs)")
    print(f"protocol with N = {args.n_models} (original + {args.n_models} retrained + {args.n_models} runs at "
          f"{DEFAULT_FRACTION:g} x retrain): {total_h:.1f} device-hours")


if __name__ == "__main__":
    main()
