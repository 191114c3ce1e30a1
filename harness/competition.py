"""A competition declared in one TOML file, read strictly into frozen sections and then into the benchmark spec.

Every platform organisers use describes a competition in a file (Codabench's
competition.yaml, Hugging Face competitions' conf.json, EvalAI's
challenge_config.yaml); so does this harness, and its built-in benchmarks are
such files (harness/competitions/). The sections mirror what decides the
references: `[data]`, `[model]`, `[training]`, `[forget]`, and of `[runs]`
what the participant's loaders get. A key that is unknown (with the closest
known one named), of the wrong type or out of range, or a missing section, is
refused before anything is trained, naming the file and `section.key`.
"""

from dataclasses import MISSING, dataclass, fields, replace
import difflib
from pathlib import Path
import types
import typing

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from harness.commands.errors import UsageError
from harness.timing.choices import BORDERLINE, DEFAULT_FRACTION, POLICIES, YARDSTICKS
from reference_models.architectures import FACTORY, architecture_error, factory_parts
from reference_models.datasets import DATASETS, PIXELS, SPLIT_METHODS
from reference_models.forget_sets import PERSON_CHOICES, SELECTIONS
from reference_models.recipe_parts import CLASS_WEIGHTS, KEEPS, OPTIMISERS, SCHEDULES
from reference_models.spec import BenchmarkSpec, ManifestColumns, TrainingRecipe
from reference_models.supplied import checkpoint_digest
from scoring.attacks import resolve_attacks
from scoring.quality import MIN_MODELS
from scoring.tables import RATES

SCHEMA_VERSION = 1
BUILT_IN = Path(__file__).resolve().parent / "competitions"


class CompetitionFileError(UsageError):
    """A competition file that cannot be read: the message names the file, the key and what to write instead."""


@dataclass(frozen=True)
class DataSection:
    """Which data, and how they are split into train, validation and test."""

    dataset: str  # sklearn-digits (embedded), cifar10 (the python-pickle batches), imagefolder (class folders or a manifest)
    split_seed: int
    split_fractions: tuple[float, ...] | None = None  # train, validation, test; none: the data set's own test part, halved
    image_size: int | None = None  # imagefolder: images resized to this many pixels a side
    split: str = "stratified"  # stratified by label, or shuffled and cut in order (the NeurIPS 2023 faces)
    pixels: str = "normalised"  # normalised (the data set's own), unit (0 to 1) or raw (0 to 255)
    manifest: str | None = None  # imagefolder: the manifest's file name in the data directory
    path_column: str = "path"
    label_column: str = "label"
    person_column: str = "person_id"
    age_column: str = "age"
    label_bins: int = 0  # 0: labels as they are; k: the label column's numbers cut into k equal-width bins


@dataclass(frozen=True)
class ModelSection:
    """The architecture every model is, and the seed of the original one."""

    architecture: str  # mlp, cnn-small, resnet18, torchvision:NAME
    seed: int
    hidden_sizes: tuple[int, ...] = ()  # mlp: widths of the hidden layers; cnn-small: channels of the convolutions
    original: str | None = None  # a checkpoint of the original model, relative to the file's folder: supplied, not trained


@dataclass(frozen=True)
class ForgetSection:
    """Which training examples are to be forgotten."""

    seed: int  # of the public split; the private one derives its own
    fraction: float | None = None  # of train (or of persons, where the data name them; for poisoned, of train relabelled)
    persons: int = 0  # or this many whole persons (the fraction left out)
    choice: str = "random"  # persons: random (seeded) or first (the lowest ids)
    rule: str = "random"  # random, class, hardest, poisoned


@dataclass(frozen=True)
class RunsSection:
    """How many runs, what each is handed, and the time budget they are judged by."""

    loader_batch_size: int = 64  # the batches of the loaders unlearning(net, retain, forget, validation) is given
    n_models: int = 512
    budget_fraction: float = DEFAULT_FRACTION
    budget_policy: str = "eligible"
    borderline: str = "pass"
    yardstick: str = "paired"
    timeout_s: float | None = None
    memory_gb: float = 8.0


@dataclass(frozen=True)
class MetricSection:
    """How the models are scored."""

    attacks: str = "official"
    rates: str = "empirical"
    confidence: float = 0.95
    bootstrap: int = 100
    mia_models: int = 16


SECTIONS = {"data": DataSection, "model": ModelSection, "training": TrainingRecipe, "forget": ForgetSection, "runs": RunsSection, "metric": MetricSection}
OPTIONAL_SECTIONS = ("runs", "metric")  # all their keys have defaults
_POSITIVE = {"training.epochs", "training.batch_size", "training.learning_rate", "runs.loader_batch_size", "data.image_size", "runs.budget_fraction",
             "runs.timeout_s", "runs.memory_gb", "metric.mia_models", "training.gamma"}
_FRACTIONS = {"forget.fraction"}
_NON_NEGATIVE = {"training.momentum", "training.weight_decay", "training.warmup_epochs", "training.label_smoothing", "forget.persons"}
_CHOICES = {"data.dataset": DATASETS, "forget.rule": SELECTIONS, "runs.budget_policy": POLICIES,
            "runs.borderline": BORDERLINE, "runs.yardstick": YARDSTICKS, "metric.rates": RATES, "training.optimiser": tuple(OPTIMISERS),
            "training.schedule": tuple(SCHEDULES), "training.class_weights": CLASS_WEIGHTS, "training.keep": KEEPS,
            "data.split": SPLIT_METHODS, "data.pixels": PIXELS, "forget.choice": tuple(choice for choice in PERSON_CHOICES if choice != "next")}
_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a string in quotes"}


@dataclass(frozen=True)
class Competition:
    """A competition file as read: its name and its sections."""

    name: str
    data: DataSection
    model: ModelSection
    training: TrainingRecipe
    forget: ForgetSection
    runs: RunsSection
    metric: MetricSection

    def spec(self) -> BenchmarkSpec:
        """The benchmark spec the file declares (its content key decides the references): an organiser's factory
        travels in it as its file's source, so that the sandbox's worker can build the net from it."""
        factory = factory_parts(self.model.architecture)
        return BenchmarkSpec(
            name=self.name,
            dataset=self.data.dataset,
            split_fractions=self.data.split_fractions,
            split_seed=self.data.split_seed,
            forget_fraction=self.forget.fraction or 0.0,
            forget_seed=self.forget.seed,
            architecture=self.model.architecture if factory is None else f"{FACTORY}{factory[1]}",
            hidden_sizes=self.model.hidden_sizes,
            recipe=self.training,
            model_seed=self.model.seed,
            loader_batch_size=self.runs.loader_batch_size,
            forget_selection=self.forget.rule,
            image_size=self.data.image_size,
            manifest=self.data.manifest,
            columns=ManifestColumns(self.data.path_column, self.data.label_column, self.data.person_column, self.data.age_column,
                                    self.data.label_bins),
            pixels=self.data.pixels,
            split_method=self.data.split,
            forget_persons=self.forget.persons,
            forget_choice=self.forget.choice,
            original_digest=None if self.model.original is None else checkpoint_digest(Path(self.model.original)),
            original_file=self.model.original,
            model_source=None if factory is None else Path(factory[0]).read_text(encoding="utf-8"),
        )


@dataclass(frozen=True)
class CompetitionUse:
    """Which competition a score used, and the values the command line gave over its file's (by `section.key`)."""

    source: str  # a built-in's name, or the file's path
    overrides: tuple[tuple[str, object], ...]  # (section.key, the command line's value)

    def to_dict(self) -> dict:
        return {"source": self.source, "overrides": dict(self.overrides)}


def _closest(key: str, known: list[str]) -> str:
    match = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    return f"did you mean {match[0]!r}? " if match else ""


def _value(value: object, kind: object, where: str) -> object:
    """`value` as `kind` (a field's annotation), or why it is not one."""
    options = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)  # TOML has no null: an optional key is left out
    for option in options:
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
        if typing.get_origin(option) is tuple and isinstance(value, list):
            item = typing.get_args(option)[0]
            return tuple(_value(element, item, where) for element in value)
    wanted = " or ".join(_WORDS.get(option, "a list") for option in options if option is not type(None))
    raise CompetitionFileError(f"{where} is {value!r}; write {wanted}")


def _check_range(where: str, value: object) -> None:
    if where == "training.label_smoothing" and value >= 1:
        raise CompetitionFileError(f"{where} is {value}; it must be below 1 (0: none)")
    if where == "training.milestones" and (any(epoch < 1 for epoch in value) or list(value) != sorted(set(value))):
        raise CompetitionFileError(f"{where} is {list(value)}; write epochs after the warm-up, in increasing order, such as [10, 20]")
    if where == "runs.n_models" and value < MIN_MODELS:
        raise CompetitionFileError(f"{where} is {value}; the metric compares populations of at least {MIN_MODELS} models")
    if where == "model.architecture" and architecture_error(value):
        raise CompetitionFileError(f"{where} is {value!r}; {architecture_error(value)}")
    if where == "data.label_bins" and (value == 1 or value < 0):
        raise CompetitionFileError(f"{where} is {value}; write 0 (labels as they are) or at least 2 bins")
    if where == "metric.bootstrap" and (value == 1 or value < 0):
        raise CompetitionFileError(f"{where} is {value}; write 0 (no intervals) or at least 2 half-sampling replicates")
    if where == "metric.confidence" and not 0.5 <= value < 1:
        raise CompetitionFileError(f"{where} is {value}; it must be at least 0.5 and below 1")
    if where == "metric.attacks":
        try:
            resolve_attacks(value)
        except ValueError as error:
            raise CompetitionFileError(f"{where}: {error}") from None
    if where in _CHOICES and value not in _CHOICES[where]:
        raise CompetitionFileError(f"{where} is {value!r}; {_closest(str(value), list(_CHOICES[where]))}known: {', '.join(_CHOICES[where])}")
    if where in _POSITIVE and value is not None and value <= 0:
        raise CompetitionFileError(f"{where} is {value}; it must be above 0")
    if where in _NON_NEGATIVE and value < 0:
        raise CompetitionFileError(f"{where} is {value}; it must be 0 or more")
    if where in _FRACTIONS and not 0 < value < 1:
        raise CompetitionFileError(f"{where} is {value}; it must be between 0 and 1 (a share of the examples)")
    if where == "data.split_fractions" and value is not None and (len(value) != 3 or any(v <= 0 for v in value) or abs(sum(value) - 1) > 1e-9):
        raise CompetitionFileError(f"{where} is {list(value)}; write three positive shares of the data (train, validation, test) that add up to 1")


def _section(name: str, table: object, cls: type) -> object:
    """The section `name` of the file as `cls`, every key known, typed and in range."""
    if not isinstance(table, dict):
        raise CompetitionFileError(f"{name} must be a section [{name}], not a value")
    hints = typing.get_type_hints(cls)
    known = [field.name for field in fields(cls)]
    values = {}
    for key, value in table.items():
        if key not in known:
            raise CompetitionFileError(f"{name}.{key} is not a key of [{name}]; {_closest(key, known)}known: {', '.join(known)}")
        values[key] = _value(value, hints[key], f"{name}.{key}")
        _check_range(f"{name}.{key}", values[key])
    missing = [field.name for field in fields(cls) if field.name not in values and field.default is MISSING]
    if missing:
        raise CompetitionFileError(f"[{name}] needs {', '.join(f'{name}.{key}' for key in missing)}")
    section = cls(**values)
    _check_together(name, section)
    return section


def _check_together(name: str, section: object) -> None:
    """What a section's keys must satisfy together."""
    if name == "forget" and (section.fraction is None) == (section.persons == 0):
        raise CompetitionFileError("[forget] needs forget.fraction (a share of train) or forget.persons (a number of whole persons), not both")
    if name == "forget" and section.persons and section.rule != "random":
        raise CompetitionFileError(f"forget.persons takes whole persons by forget.choice; forget.rule {section.rule!r} picks examples: "
                                   "leave forget.rule out, or give forget.fraction")
    if name == "data" and section.split == "shuffled" and section.split_fractions is None:
        raise CompetitionFileError("data.split is \"shuffled\": give data.split_fractions, the shares it is cut into")
    if name == "data" and section.dataset != "imagefolder":
        declared = [key for key in ("manifest", "path_column", "label_column", "person_column", "age_column", "label_bins")
                    if getattr(section, key) != getattr(DataSection, key)]
        if declared:
            raise CompetitionFileError(f"data.{declared[0]} describes an image manifest; data.dataset {section.dataset!r} has none (write \"imagefolder\")")
    if name == "data" and section.dataset == "sklearn-digits" and section.pixels != "normalised":
        raise CompetitionFileError("data.pixels scales images read from files; sklearn-digits is scaled to 0 to 1 already: leave it out")
    if name == "training" and section.warmup_epochs >= section.epochs:
        raise CompetitionFileError(f"training.warmup_epochs is {section.warmup_epochs}; it must be below training.epochs ({section.epochs})")
    if name == "training" and section.schedule == "step" and not section.milestones:
        raise CompetitionFileError("training.schedule is \"step\": give training.milestones, the epochs at which the rate is multiplied by gamma")


def setting(text: str) -> tuple[str, object]:
    """`section.key=value` of the command line's --set as (section.key, value): the value read as TOML
    (10, 0.5, true, [10, 20], "adam"), a bare word as a string. ValueError where it is not one."""
    where, equals, raw = text.partition("=")
    if not equals or where.count(".") != 1:
        raise ValueError(f"--set {text!r}: write section.key=value, such as --set training.epochs=2")
    try:
        return where.strip(), tomllib.loads(f"value = {raw.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        return where.strip(), raw.strip()


def _apply(document: dict, settings: tuple[tuple[str, object], ...]) -> None:
    """The command line's --set values over the file's (checked with them, as if written in the file)."""
    for where, value in settings:
        section, key = where.split(".")
        if section not in SECTIONS:
            raise CompetitionFileError(f"--set {where}: {section} is not a section; {_closest(section, list(SECTIONS))}known: {', '.join(SECTIONS)}")
        table = document.setdefault(section, {})
        if not isinstance(table, dict):
            raise CompetitionFileError(f"{section} must be a section [{section}], not a value")
        table[key] = value


def parse_competition(text: str, settings: tuple[tuple[str, object], ...] = ()) -> Competition:
    """A competition from a TOML text and the command line's --set values; CompetitionFileError (without the
    file's name) where it is not one."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CompetitionFileError(f"not TOML: {error}") from None
    _apply(document, settings)
    version = document.pop("schema_version", None)
    if version != SCHEMA_VERSION:
        raise CompetitionFileError(f"schema_version is {version!r}; this harness reads schema_version = {SCHEMA_VERSION}")
    name = document.pop("name", None)
    if not isinstance(name, str) or not name.strip():
        raise CompetitionFileError("name is missing; write name = \"my-competition\" (it enters the content key)")
    unknown = [key for key in document if key not in SECTIONS]
    if unknown:
        raise CompetitionFileError(f"{unknown[0]} is not a section or a key of the file; {_closest(unknown[0], list(SECTIONS))}"
                                   f"known: schema_version, name, {', '.join(f'[{section}]' for section in SECTIONS)}")
    missing = [section for section in SECTIONS if section not in document and section not in OPTIONAL_SECTIONS]
    if missing:
        raise CompetitionFileError(f"the section [{missing[0]}] is missing")
    sections = {section: _section(section, document.get(section, {}), cls) for section, cls in SECTIONS.items()}
    if sections["data"].dataset == "sklearn-digits" and sections["model"].architecture != "mlp":
        raise CompetitionFileError(f"model.architecture is {sections['model'].architecture!r}, an image model; "
                                   "sklearn-digits are rows of 64 numbers: write \"mlp\"")
    return Competition(name=name, **sections)


def read_competition(path: Path, settings: tuple[tuple[str, object], ...] = ()) -> Competition:
    """The competition file at `path`, with the command line's --set values; CompetitionFileError naming the
    file where it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CompetitionFileError(f"{path}: cannot be read: {error}") from None
    try:
        competition = parse_competition(text, settings)
    except CompetitionFileError as error:
        raise CompetitionFileError(f"{path}: {error}") from None
    return replace(competition, model=_files_found(path, competition.model))


def _files_found(path: Path, model: ModelSection) -> ModelSection:
    """The model section with its files (an original checkpoint, a factory's Python file) found from the competition
    file's folder (an absolute path stays as it is); CompetitionFileError where one is not a file."""
    def found(key: str, given: str, what: str) -> str:
        resolved = (path.parent / given).resolve()
        if not resolved.is_file():
            raise CompetitionFileError(f"{path}: model.{key} names {given!r}, and {resolved} is not a file; give {what}, "
                                       "relative to the competition file's folder")
        return str(resolved)

    factory = factory_parts(model.architecture)
    if factory is not None:
        model = replace(model, architecture=f"{found('architecture', factory[0], 'the Python file that defines the factory')}:{factory[1]}")
    if model.original is not None:
        model = replace(model, original=found("original", model.original, "the checkpoint's path"))
    return model


def built_in_competitions() -> dict[str, Competition]:
    """The competitions shipped with the harness, by name."""
    competitions = (read_competition(path) for path in sorted(BUILT_IN.glob("*.toml")))
    return {competition.name: competition for competition in competitions}
