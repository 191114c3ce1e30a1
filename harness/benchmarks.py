"""The registry of named benchmarks, their public and private splits, and their forget-set scenarios."""

from dataclasses import replace

from reference_models.forget_sets import FLIPPED_SHARE, SELECTIONS
from reference_models.seeds import derive_seed
from reference_models.spec import BenchmarkSpec, TrainingRecipe

SPLITS = ("public", "private")

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


def split_benchmark(spec: BenchmarkSpec, split: str) -> BenchmarkSpec:
    """The benchmark with the split's forget set.

    The competition kept a private leaderboard whose forget set was drawn with
    another seed (same size, same rule); ranks moved a lot between the two.
    Public is the benchmark itself; private draws its forget set with a seed
    derived from the public one, so it gets its own content key and references.
    """
    if split == "public":
        return spec
    if split == "private" and spec.forget_selection == "hardest":
        raise ValueError("the hardest examples are one set whatever the seed: a private split needs a seeded selection (random, class, poisoned)")
    if split == "private":
        return replace(spec, name=f"{spec.name}-private", forget_seed=derive_seed(spec.forget_seed, "private-forget-set"))
    raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")


def scenario_benchmark(spec: BenchmarkSpec, forget_selection: str = "random", poison_fraction: float | None = None) -> BenchmarkSpec:
    """The benchmark with another forget set: chosen by `forget_selection`, or the
    labels of a `poison_fraction` of train flipped and those examples to forget.

    Each scenario changes the spec, so it gets its own key and references.
    """
    if poison_fraction is not None:
        if forget_selection != "random":
            raise ValueError("--poison-fraction chooses the forget set (the poisoned examples): leave --forget-selection out")
        if not 0 < poison_fraction < FLIPPED_SHARE:
            raise ValueError(f"--poison-fraction must be above 0 and below {FLIPPED_SHARE:g} (poisoning flips at most "
                             f"{FLIPPED_SHARE:.0%} of each class), got {poison_fraction}")
        return replace(spec, name=f"{spec.name}:poisoned-{poison_fraction:g}", forget_selection="poisoned", forget_fraction=poison_fraction)
    if forget_selection not in SELECTIONS or forget_selection == "poisoned":
        known = ", ".join(name for name in SELECTIONS if name != "poisoned")
        raise ValueError(f"unknown forget selection {forget_selection!r}; known: {known} (poisoned: --poison-fraction)")
    if forget_selection == "random":
        return spec
    return replace(spec, name=f"{spec.name}:{forget_selection}", forget_selection=forget_selection)
