"""The registry of named benchmarks."""

from reference_models.spec import BenchmarkSpec, TrainingRecipe

BENCHMARKS: dict[str, BenchmarkSpec] = {
    "digits-mlp": BenchmarkSpec(
        name="digits-mlp",
        dataset="sklearn-digits",
        split_fractions=(0.8, 0.1, 0.1),
        split_seed=2023,
        forget_fraction=0.1,
        forget_seed=1,
        architecture="mlp",
        hidden_sizes=(64, 64),
        recipe=TrainingRecipe(epochs=30, batch_size=64, learning_rate=0.1, momentum=0.9, weight_decay=5e-4),
        model_seed=0,
    ),
}


def get_benchmark(name: str) -> BenchmarkSpec:
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r}; available: {', '.join(sorted(BENCHMARKS))}")
    return BENCHMARKS[name]
