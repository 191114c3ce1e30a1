"""The registry of named benchmarks (the built-in competition files), their public and private splits, and their forget-set scenarios."""

from dataclasses import replace
from pathlib import Path

from harness.commands.errors import UsageError
from harness.competition import BUILT_IN, Competition, built_in_competitions, read_competition
from reference_models.architectures import IMAGE_ARCHITECTURES, STACKABLE
from reference_models.forget_sets import FLIPPED_SHARE, SELECTIONS
from reference_models.seeds import derive_seed
from reference_models.spec import BenchmarkSpec

SPLITS = ("public", "private")

# The built-in competitions, each a file of harness/competitions/ read by the same code as an organiser's own.
_BUILT_IN = built_in_competitions()
BENCHMARKS: dict[str, BenchmarkSpec] = {name: competition.spec() for name, competition in _BUILT_IN.items()}


def get_competition(name: str, settings: tuple[tuple[str, object], ...] = ()) -> Competition:
    """A built-in competition by name, or the one a TOML file declares, with the command line's --set values
    (`section.key`, value) over the file's; ValueError naming what is known otherwise."""
    if name.endswith(".toml"):
        return read_competition(Path(name), settings)
    if name not in _BUILT_IN:
        raise UsageError(f"unknown benchmark {name!r}; built in: {', '.join(sorted(_BUILT_IN))}, or give a competition file (NAME.toml)")
    return read_competition(BUILT_IN / f"{name}.toml", settings) if settings else _BUILT_IN[name]


def get_benchmark(name: str) -> BenchmarkSpec:
    """The spec of a built-in benchmark by name, or of a competition file."""
    return get_competition(name).spec()


def declared_images(spec: BenchmarkSpec, image_size: int | None, architecture: str | None) -> BenchmarkSpec:
    """An image folder's benchmark with its declared image size and architecture;
    other benchmarks fix theirs and refuse both."""
    if image_size is None and architecture is None:
        return spec
    if spec.dataset != "imagefolder":
        raise UsageError(f"--image-size and --architecture declare an image folder's setting; {spec.name} fixes its own")
    if image_size is not None and not 8 <= image_size <= 512:
        raise UsageError(f"--image-size must be between 8 and 512 pixels, got {image_size}")
    if architecture is not None and architecture not in IMAGE_ARCHITECTURES:
        raise UsageError(f"unknown --architecture {architecture!r}; known for images: {', '.join(IMAGE_ARCHITECTURES)}")
    return replace(spec, image_size=image_size or spec.image_size, architecture=architecture or spec.architecture)


def split_benchmark(spec: BenchmarkSpec, split: str) -> BenchmarkSpec:
    """The benchmark with the split's forget set.

    The competition kept a private leaderboard whose forget set was drawn with
    another seed (same size, same rule); ranks moved a lot between the two.
    Public is the benchmark itself; private draws its forget set with a seed
    derived from the public one, so it gets its own content key and references.
    A fixed choice of persons (the first ids) takes the next ones instead.
    """
    if split == "public":
        return spec
    if split == "private" and spec.forget_selection == "hardest":
        raise UsageError("the hardest examples are one set whatever the seed: a private split needs a seeded selection (random, class, poisoned)")
    if split == "private":
        choice = "next" if spec.forget_choice == "first" else spec.forget_choice
        return replace(spec, name=f"{spec.name}-private", forget_seed=derive_seed(spec.forget_seed, "private-forget-set"), forget_choice=choice)
    raise UsageError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")


def forecast_benchmark(spec: BenchmarkSpec, k: int) -> BenchmarkSpec:
    """The benchmark with the k-th extra forget set a shake-up forecast draws (k >= 1): same rule and size, its own seed,
    content key and references."""
    if spec.forget_selection == "hardest":
        raise UsageError("the hardest examples are one set whatever the seed: a forecast needs a seeded selection (random, class, poisoned)")
    if spec.forget_persons and spec.forget_choice != "random":
        raise UsageError("a fixed choice of persons (by id) is one forget set: a forecast needs forget.choice = \"random\"")
    return replace(spec, name=f"{spec.name}-forecast{k}", forget_seed=derive_seed(spec.forget_seed, f"forecast-forget-set-{k}"))


def private_forget_words(spec: BenchmarkSpec) -> str:
    """How the private split's forget set differs from the public one's, in words for the leaderboard."""
    if spec.forget_persons and spec.forget_choice == "first":
        return f"forget set of the next {spec.forget_persons} persons in id order"
    return "forget set drawn with another seed"


def scenario_benchmark(spec: BenchmarkSpec, forget_selection: str = "random", poison_fraction: float | None = None) -> BenchmarkSpec:
    """The benchmark with another forget set: chosen by `forget_selection`, or the
    labels of a `poison_fraction` of train flipped and those examples to forget.

    Each scenario changes the spec, so it gets its own key and references.
    """
    if spec.forget_persons and (poison_fraction is not None or forget_selection != "random"):
        raise UsageError(f"{spec.name} forgets {spec.forget_persons} whole persons: leave --forget-selection and --poison-fraction out")
    if poison_fraction is not None:
        if forget_selection != "random":
            raise UsageError("--poison-fraction chooses the forget set (the poisoned examples): leave --forget-selection out")
        if not 0 < poison_fraction < FLIPPED_SHARE:
            raise UsageError(f"--poison-fraction must be above 0 and below {FLIPPED_SHARE:g} (poisoning flips at most "
                             f"{FLIPPED_SHARE:.0%} of each class), got {poison_fraction}")
        return replace(spec, name=f"{spec.name}:poisoned-{poison_fraction:g}", forget_selection="poisoned", forget_fraction=poison_fraction)
    if forget_selection not in SELECTIONS or forget_selection == "poisoned":
        known = ", ".join(name for name in SELECTIONS if name != "poisoned")
        raise UsageError(f"unknown forget selection {forget_selection!r}; known: {known} (poisoned: --poison-fraction)")
    if forget_selection == "random":
        return spec
    if forget_selection == "hardest" and spec.architecture not in STACKABLE:
        raise UsageError(f"the hardest examples are chosen by the original model's losses, and every process would retrain "
                         f"{spec.architecture} for them: {spec.name} offers random and class forget sets, and poisoning")
    return replace(spec, name=f"{spec.name}:{forget_selection}", forget_selection=forget_selection)
