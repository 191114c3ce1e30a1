"""The frozen description of a benchmark; its content hash keys the reference cache."""

from dataclasses import asdict, dataclass, fields, is_dataclass
import hashlib
import json

# Bump when the meaning of cached files changes, so old caches are never reused.
# 3: rows hold a retain-sample statistic (collateral privacy), which older rows lack.
CACHE_FORMAT = 3


@dataclass(frozen=True)
class TrainingRecipe:
    """How the original and the reference models train: by default SGD with momentum and a cosine schedule,
    as in the competition's kit; the parts are named here and built in reference_models.recipe_parts."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 0.1
    momentum: float = 0.9  # SGD's only
    weight_decay: float = 5e-4
    augment: bool = False  # random crop (4-pixel padding) and horizontal flip of training batches, as the CIFAR-10 kit trains
    mixed_precision: bool = False  # bfloat16 autocast while training; evaluation always runs in float32
    optimiser: str = "sgd"  # sgd, adam or adamw
    schedule: str = "cosine"  # cosine, step (at `milestones`, times `gamma`) or constant, stepped once an epoch
    warmup_epochs: int = 0  # a linear rise to the learning rate over these first epochs, before the schedule
    milestones: tuple[int, ...] = ()  # step: the epochs after the warm-up at which the rate is multiplied by gamma
    gamma: float = 0.1
    class_weights: str = "none"  # none, or inverse-count: the loss weighs each class by 1 / its count in train
    label_smoothing: float = 0.0
    keep: str = "last"  # last, or best-validation: the epoch whose weights scored best on validation, evaluated after each epoch


@dataclass(frozen=True)
class ManifestColumns:
    """Which columns of an image manifest hold what, and how its labels are made."""

    path: str = "path"  # the image files, relative to the manifest's folder unless absolute
    label: str = "label"  # class names or integers; with label_bins, a number cut into bins
    person: str = "person_id"  # who is pictured (optional): forget sets of whole persons
    age: str = "age"  # optional, served in batches as the competition's key
    label_bins: int = 0  # 0: the label column holds the classes; k: its values cut into k equal-width bins from min to max + 1


@dataclass(frozen=True)
class BenchmarkSpec:
    """Everything that decides the reference models' weights and outputs.

    Run settings (how many models, the time-budget fraction, the device) are
    deliberately not here: references are cached by index, so N = 64 reuses
    the first 64 models of a cache built for N = 512. Where the data lie is
    not part of the key either; what they hold is (`data_fingerprint`).
    """

    name: str
    dataset: str
    split_fractions: tuple[float, float, float] | None  # train, validation, test; None: the data set's own held-out part, halved
    split_seed: int
    forget_fraction: float
    forget_seed: int
    architecture: str
    hidden_sizes: tuple[int, ...]
    recipe: TrainingRecipe
    model_seed: int
    loader_batch_size: int = 64
    forget_selection: str = "random"  # see reference_models.forget_sets; "poisoned": forget_fraction is the poison fraction
    image_size: int | None = None  # images are resized to image_size x image_size (image folders)
    num_classes: int | None = None  # set from the data for image folders; fixed by the data set otherwise
    data_fingerprint: str | None = None  # content hash of the data files, for data sets read from a directory
    forget_unit: str = "example"  # "person" where the data name who is pictured: a random forget set takes whole persons
    data_dir: str | None = None  # where those files are: never hashed
    manifest: str | None = None  # image folders: the manifest's file name in the data directory (else the directory is the data)
    columns: ManifestColumns = ManifestColumns()
    pixels: str = "normalised"  # normalised (the data set's own), unit (0 to 1) or raw (0 to 255, as the NeurIPS 2023 faces were fed)
    split_method: str = "stratified"  # stratified by label, or shuffled: the examples shuffled with split_seed and cut in order
    forget_persons: int = 0  # above 0: the forget set is every training example of this many persons (forget_fraction unused)
    forget_choice: str = "random"  # of those persons: random (seeded), first (lowest ids), next (the following ones, a private split's)
    original_digest: str | None = None  # an original model supplied as a checkpoint: its bytes' hash (else it is trained)
    original_file: str | None = None  # where that checkpoint is: never hashed
    model_source: str | None = None  # architecture "factory:FUNCTION": the organiser's Python file that defines FUNCTION(num_classes)

    def to_dict(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        """Short content hash of the fields that decide the references (`KEYED`), and of the cache format."""
        document = _keyed(self.to_dict(), type(self), KEYED)
        document["recipe"] = _keyed(document["recipe"], TrainingRecipe, RECIPE_KEYED)
        text = json.dumps({"format": CACHE_FORMAT, **document}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# The content key's fields, in the order they joined it. The first benchmarks' fields are always hashed;
# a field that joined later is hashed only where it differs from its dataclass default, so that the keys
# (and the caches and ledgers) made before it existed stay what they were. A new field of the spec or the
# recipe joins the end of its list, or UNKEYED; tests/test_competition.py refuses a field in neither.
KEYED = (
    ("name", "dataset", "split_fractions", "split_seed", "forget_fraction", "forget_seed", "architecture", "hidden_sizes", "recipe",
     "model_seed", "loader_batch_size"),
    ("forget_selection", "image_size", "num_classes", "data_fingerprint", "forget_unit", "manifest", "columns", "pixels", "split_method",
     "forget_persons", "forget_choice", "original_digest", "model_source"),
)
RECIPE_KEYED = (
    ("epochs", "batch_size", "learning_rate", "momentum", "weight_decay"),
    ("augment", "mixed_precision", "optimiser", "schedule", "warmup_epochs", "milestones", "gamma", "class_weights", "label_smoothing", "keep"),
)
UNKEYED = ("data_dir", "original_file")  # where the data and a supplied original lie; what they hold is hashed


def _keyed(values: dict, cls: type, keyed: tuple[tuple[str, ...], tuple[str, ...]]) -> dict:
    """The values of `keyed`'s fields: the first list's all, the later list's where they are not the default."""
    first, later = keyed
    defaults = {field.name: asdict(field.default) if is_dataclass(field.default) else field.default for field in fields(cls)}
    document = {name: values[name] for name in first}
    document.update({name: values[name] for name in later if values[name] != defaults[name]})
    return document
