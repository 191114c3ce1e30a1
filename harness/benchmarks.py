"""The registry of named benchmarks, their public and private splits, and their forget-set scenarios."""

from dataclasses import replace

from reference_models.architectures import IMAGE_ARCHITECTURES, STACKABLE
from reference_models.forget_sets import FLIPPED_SHARE, SELECTIONS
from reference_models.seeds import derive_seed
from reference_models.spec import BenchmarkSpec, TrainingRecipe

SPLITS = ("public", "private")

# The competition's starting kit: torchvision's ResNet-18 on CIFAR-10, validation and test the two
# halves of the test batch, loaders of 128, SGD at 0.1 with momentum 0.9 and weight decay 5e-4,
# random crops and flips. The kit ships a trained checkpoint without its schedule: 30 cosine epochs are ours.
_CIFAR10_KIT = BenchmarkSpec(
    name="cifar10-resnet18",
    dataset="cifar10",
    split_fractions=None,
    split_seed=42,
    forget_fraction=0.1,
    forget_seed=1,
    architecture="resnet18",
    hidden_sizes=(),
    recipe=TrainingRecipe(epochs=30, batch_size=128, learning_rate=0.1, momentum=0.9, weight_decay=5e-4, augment=True),
    model_seed=0,
    loader_batch_size=128,
)
# The same data with a CNN of three small convolutions, which a CPU retrains in minutes.
_CIFAR10_SMALL = replace(
    _CIFAR10_KIT, name="cifar10-cnn-small", architecture="cnn-small", hidden_sizes=(16, 32, 64),
    recipe=replace(_CIFAR10_KIT.recipe, epochs=10, learning_rate=0.05),
)

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
    "cifar10-resnet18": _CIFAR10_KIT,
    "cifar10-cnn-small": _CIFAR10_SMALL,
    # Any folder of class subfolders, or a manifest of image paths and labels (faces with age groups, as in
    # the competition), resized to --image-size, with the small CNN or --architecture; no augmentation.
    "imagefolder": replace(
        _CIFAR10_SMALL, name="imagefolder", dataset="imagefolder", split_fractions=(0.8, 0.1, 0.1), split_seed=2023,
        recipe=replace(_CIFAR10_SMALL.recipe, batch_size=64, augment=False), loader_batch_size=64, image_size=32,
    ),
}


def get_benchmark(name: str) -> BenchmarkSpec:
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r}; available: {', '.join(sorted(BENCHMARKS))}")
    return BENCHMARKS[name]


def declared_images(spec: BenchmarkSpec, image_size: int | None, architecture: str | None) -> BenchmarkSpec:
    """An image folder's benchmark with its declared image size and architecture;
    other benchmarks fix theirs and refuse both."""
    if image_size is None and architecture is None:
        return spec
    if spec.dataset != "imagefolder":
        raise ValueError(f"--image-size and --architecture declare an image folder's setting; {spec.name} fixes its own")
    if image_size is not None and not 8 <= image_size <= 512:
        raise ValueError(f"--image-size must be between 8 and 512 pixels, got {image_size}")
    if architecture is not None and architecture not in IMAGE_ARCHITECTURES:
        raise ValueError(f"unknown --architecture {architecture!r}; known for images: {', '.join(IMAGE_ARCHITECTURES)}")
    return replace(spec, image_size=image_size or spec.image_size, architecture=architecture or spec.architecture)


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
    if forget_selection == "hardest" and spec.architecture not in STACKABLE:
        raise ValueError(f"the hardest examples are chosen by the original model's losses, and every process would retrain "
                         f"{spec.architecture} for them: {spec.name} offers random and class forget sets, and poisoning")
    return replace(spec, name=f"{spec.name}:{forget_selection}", forget_selection=forget_selection)
