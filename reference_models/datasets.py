"""Benchmark data: loading a data set and splitting it into the unlearning roles.

Digits are embedded (scikit-learn ships them). CIFAR-10 and image folders are
read from a local directory, which `locate_data` finds (a flag's value or
the DATA_DIR_VARIABLE environment variable) and fingerprints, so that the
references are keyed by what the data hold, not by where they lie.
"""

from dataclasses import dataclass, replace
import math
import os
from pathlib import Path
import random

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
import torch
from torch import nn

from reference_models.architectures import build_model
from reference_models.errors import InputError
from reference_models.forget_sets import forget_persons, select_forget
from reference_models.image_files import DataDirError, class_sizes, data_files, data_fingerprint, has_persons, read_cifar10, read_image_folder
from reference_models.seeds import model_seed
from reference_models.spec import BenchmarkSpec
from reference_models.supplied import load_original
from reference_models.tensors import LabelledTensors
from reference_models.training import train_models

DATA_DIR_VARIABLE = "UNLEARNING_DATA_DIR"
# The starting kit's normalisation of CIFAR-10 (per-channel mean and standard deviation).
_CIFAR10_MEAN, _CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
_FOLDER_MEAN, _FOLDER_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # maps [0, 1] to [-1, 1]
PIXELS = ("normalised", "unit", "raw")  # the data set's own normalisation, 0 to 1, or 0 to 255 (the NeurIPS 2023 faces)
SPLIT_METHODS = ("stratified", "shuffled")
_WHAT_IS_READ = {"cifar10": "CIFAR-10 in its python-pickle format", "imagefolder": "a folder of class subfolders, or a CSV/Parquet manifest"}


@dataclass(frozen=True)
class BenchmarkData:
    """The five sets of an unlearning benchmark; retain and forget partition train."""

    train: LabelledTensors
    retain: LabelledTensors
    forget: LabelledTensors
    validation: LabelledTensors
    test: LabelledTensors
    num_classes: int


@dataclass(frozen=True)
class _Arrays:
    images: np.ndarray  # float32, ready for the model
    labels: np.ndarray  # int64
    ages: np.ndarray | None = None  # int64, where the data have them
    person_ids: np.ndarray | None = None

    def take(self, index: np.ndarray) -> "_Arrays":
        """The rows at `index`, every column."""
        return _Arrays(*(None if column is None else column[index] for column in (self.images, self.labels, self.ages, self.person_ids)))


def _scaled(images: np.ndarray, pixels: str, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """uint8 [N, H, W, 3] images as float32 [N, 3, H, W]: per-channel standardised with `mean` and `std`
    ("normalised"), divided by 255 ("unit"), or the pixel values themselves ("raw")."""
    scaled = images.astype(np.float32)
    if pixels != "raw":
        scaled /= 255.0
    if pixels == "normalised":
        scaled = (scaled - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
    return np.ascontiguousarray(scaled.transpose(0, 3, 1, 2))


def _load_sklearn_digits(spec: BenchmarkSpec) -> tuple[_Arrays, None]:
    """The 1,797 8x8 digits shipped with scikit-learn, scaled to [0, 1], to be split by the spec's fractions."""
    images, labels = load_digits(return_X_y=True)
    return _Arrays((images / 16.0).astype(np.float32), labels.astype(np.int64)), None


def _load_cifar10(spec: BenchmarkSpec) -> tuple[_Arrays, _Arrays]:
    """The 50,000 training images, and the 10,000 of the test batch that are held out."""
    train, held_out = read_cifar10(Path(spec.data_dir))
    return tuple(_Arrays(_scaled(part.images, spec.pixels, _CIFAR10_MEAN, _CIFAR10_STD), part.labels) for part in (train, held_out))


def _load_image_folder(spec: BenchmarkSpec) -> tuple[_Arrays, None]:
    """Every image, resized to the declared size, to be split by the spec's fractions."""
    arrays = read_image_folder(image_source(spec), spec.image_size, spec.columns)
    return _Arrays(_scaled(arrays.images, spec.pixels, _FOLDER_MEAN, _FOLDER_STD), arrays.labels, arrays.ages, arrays.person_ids), None


def image_source(spec: BenchmarkSpec, data_dir: Path | None = None) -> Path:
    """What a benchmark read from files reads: an image folder's manifest in the data directory, or the directory
    itself (only image folders name a manifest)."""
    folder = Path(spec.data_dir if data_dir is None else data_dir)
    return folder / spec.manifest if spec.manifest else folder


_LOADERS = {"sklearn-digits": _load_sklearn_digits, "cifar10": _load_cifar10, "imagefolder": _load_image_folder}
DATASETS = tuple(_LOADERS)


def locate_data(spec: BenchmarkSpec, data_dir: Path | None) -> BenchmarkSpec:
    """The spec bound to its data: the directory (`data_dir`, else $UNLEARNING_DATA_DIR),
    the files' fingerprint and, for image folders, the number of classes.

    Raises DataDirError, naming what was expected, when the directory is
    missing or does not hold the data set; embedded data sets take no directory.
    """
    if spec.dataset not in _WHAT_IS_READ:
        if data_dir is not None:
            raise DataDirError(f"{spec.name} uses an embedded data set and reads no directory: leave --data-dir out")
        return spec
    if data_dir is None and os.environ.get(DATA_DIR_VARIABLE):
        data_dir = Path(os.environ[DATA_DIR_VARIABLE])
    if data_dir is None:
        raise DataDirError(f"{spec.name} reads {_WHAT_IS_READ[spec.dataset]} from a local directory: "
                           f"pass --data-dir DIR or set {DATA_DIR_VARIABLE}=DIR")
    source = image_source(spec, data_dir)
    files = data_files(source, spec.dataset, spec.columns)  # raises DataDirError, naming what is missing
    spec = replace(spec, data_dir=str(Path(data_dir).resolve()), data_fingerprint=data_fingerprint(files))
    if spec.dataset == "imagefolder":
        spec = replace(spec, num_classes=len(_splittable_classes(spec, source)))
        if has_persons(source, spec.columns):
            spec = replace(spec, forget_unit="person")
    if spec.forget_persons and spec.forget_unit != "person":
        raise DataDirError(f"{spec.name} forgets {spec.forget_persons} whole persons, but {source} names nobody: "
                           f"give the manifest a {spec.columns.person} column (who each image pictures)")
    return spec


def _splittable_classes(spec: BenchmarkSpec, source: Path) -> dict[str, int]:
    """The folder's class sizes, each large enough for the stratified split to give
    validation and test at least one image of it (else scikit-learn's split fails)."""
    sizes = class_sizes(source, spec.columns)
    if spec.split_method == "shuffled":
        return sizes  # not stratified: a class may be missing from a split, as the competition's age groups could be
    needed = math.ceil(2 / sum(spec.split_fractions[1:]))  # two or more held out: one for validation, one for test
    small = {name: size for name, size in sizes.items() if size < needed}
    if small:
        listed = ", ".join(f"{name!r} ({size})" for name, size in small.items())
        raise DataDirError(f"{source}: fewer than {needed} images in {listed}; every class needs {needed} or more, "
                           f"so that validation and test get some of it ({spec.split_fractions[0]:.0%} of each class is train)")
    return sizes


def data_folders(spec: BenchmarkSpec) -> list[Path]:
    """Every folder holding the spec's data files (a manifest's images may lie anywhere):
    what the sandbox must hide, since the test set is among them."""
    if spec.data_dir is None:
        return []
    source = image_source(spec)
    return sorted({Path(spec.data_dir)} | {path.parent for path in data_files(source, spec.dataset, spec.columns)})


def _tensors(arrays: _Arrays) -> LabelledTensors:
    columns = (arrays.images, arrays.labels, arrays.ages, arrays.person_ids)
    images, labels, ages, persons = (None if a is None else torch.from_numpy(np.ascontiguousarray(a)) for a in columns)
    return LabelledTensors(images, labels, ages, persons)


def _original_losses(spec: BenchmarkSpec, train: LabelledTensors, validation: LabelledTensors) -> np.ndarray:
    """Each training example's loss under the original model.

    The original trains on all of train whatever the forget set is, so this
    is the cached original itself (same seed, same trainer), trained on one
    thread so that its losses, and the forget set, never depend on the
    machine's thread count; or the original the competition supplies.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_model(spec)
        if spec.original_file is not None:
            model.load_state_dict(load_original(spec))
        else:
            model.load_state_dict(train_models(spec, train, [model_seed(spec, "original", 0)], validation=validation)[0].state)
        model.eval()
        with torch.no_grad():
            return nn.functional.cross_entropy(model(train.images), train.labels, reduction="none").double().numpy()
    finally:
        torch.set_num_threads(threads)


def _split(spec: BenchmarkSpec, pool: _Arrays, held_out: _Arrays | None) -> tuple[_Arrays, _Arrays, _Arrays]:
    """Train, validation and test: by the spec's fractions (stratified), or the
    data set's own training part and its held-out part halved, as the CIFAR-10 kit does."""
    # Row indices are split, not the arrays: the same rows as splitting the arrays, and every column follows.
    if spec.split_fractions is None:
        val, test = train_test_split(np.arange(len(held_out.labels)), test_size=0.5, random_state=spec.split_seed, stratify=held_out.labels)
        return pool, held_out.take(val), held_out.take(test)
    if spec.split_method == "shuffled":
        return tuple(pool.take(part) for part in shuffled_split(len(pool.labels), spec.split_fractions, spec.split_seed))
    train_frac, val_frac, test_frac = spec.split_fractions
    rest = val_frac + test_frac
    train, others = train_test_split(np.arange(len(pool.labels)), test_size=rest, random_state=spec.split_seed, stratify=pool.labels)
    val, test = train_test_split(others, test_size=test_frac / rest, random_state=spec.split_seed, stratify=pool.labels[others])
    return pool.take(train), pool.take(val), pool.take(test)


def shuffled_split(count: int, fractions: tuple[float, float, float], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of train, validation and test: all rows shuffled by Python's random.Random(seed), then cut
    in order at the fractions, as the NeurIPS 2023 organisers cut the faces (random.Random(43), 80/10/10)."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    first, second = int(fractions[0] * count), int((fractions[0] + fractions[1]) * count)
    return tuple(np.asarray(part, dtype=np.int64) for part in (order[:first], order[first:second], order[second:]))


def load_benchmark_data(spec: BenchmarkSpec) -> BenchmarkData:
    """Split the spec's data set with its seeds: train/validation/test, then forget/retain."""
    if spec.dataset not in _LOADERS:
        raise InputError(f"unknown dataset {spec.dataset!r}; known: {', '.join(sorted(_LOADERS))}")
    if spec.dataset in _WHAT_IS_READ and spec.data_dir is None:
        raise DataDirError(f"{spec.name} reads its data from a directory: bind it first with locate_data")
    train, validation, test = _split(spec, *_LOADERS[spec.dataset](spec))
    if spec.forget_persons:
        is_forget, y_trained = forget_persons(train.person_ids, spec.forget_persons, spec.forget_choice, spec.forget_seed), train.labels
    else:
        is_forget, y_trained = select_forget(
            spec.forget_selection,
            train.labels,
            size=round(spec.forget_fraction * len(train.labels)),
            seed=spec.forget_seed,
            losses=lambda: _original_losses(spec, _tensors(train), _tensors(validation)),
            persons=train.person_ids if spec.forget_unit == "person" else None,
        )
    trained = replace(train, labels=y_trained)
    return BenchmarkData(
        train=_tensors(trained),
        retain=_tensors(trained.take(~is_forget)),
        forget=_tensors(trained.take(is_forget)),
        validation=_tensors(validation),
        test=_tensors(test),
        num_classes=spec.num_classes or int(max(train.labels.max(), validation.labels.max(), test.labels.max())) + 1,
    )
