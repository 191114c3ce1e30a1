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

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
import torch
from torch import nn

from reference_models.architectures import build_model
from reference_models.forget_sets import select_forget
from reference_models.image_files import DataDirError, class_sizes, data_files, data_fingerprint, has_persons, read_cifar10, read_image_folder
from reference_models.seeds import model_seed
from reference_models.spec import BenchmarkSpec
from reference_models.tensors import LabelledTensors
from reference_models.training import train_models

DATA_DIR_VARIABLE = "UNLEARNING_DATA_DIR"
# The starting kit's normalisation of CIFAR-10 (per-channel mean and standard deviation).
_CIFAR10_MEAN, _CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
_FOLDER_MEAN, _FOLDER_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # maps [0, 1] to [-1, 1]
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


def _normalised(images: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """uint8 [N, H, W, 3] images as float32 [N, 3, H, W], per-channel standardised."""
    scaled = images.astype(np.float32) / 255.0
    scaled = (scaled - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
    return np.ascontiguousarray(scaled.transpose(0, 3, 1, 2))


def _load_sklearn_digits(spec: BenchmarkSpec) -> tuple[_Arrays, None]:
    """The 1,797 8x8 digits shipped with scikit-learn, scaled to [0, 1], to be split by the spec's fractions."""
    images, labels = load_digits(return_X_y=True)
    return _Arrays((images / 16.0).astype(np.float32), labels.astype(np.int64)), None


def _load_cifar10(spec: BenchmarkSpec) -> tuple[_Arrays, _Arrays]:
    """The 50,000 training images, and the 10,000 of the test batch that are held out."""
    train, held_out = read_cifar10(Path(spec.data_dir))
    return tuple(_Arrays(_normalised(part.images, _CIFAR10_MEAN, _CIFAR10_STD), part.labels) for part in (train, held_out))


def _load_image_folder(spec: BenchmarkSpec) -> tuple[_Arrays, None]:
    """Every image, resized to the declared size, to be split by the spec's fractions."""
    arrays = read_image_folder(Path(spec.data_dir), spec.image_size)
    return _Arrays(_normalised(arrays.images, _FOLDER_MEAN, _FOLDER_STD), arrays.labels, arrays.ages, arrays.person_ids), None


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
    files = data_files(data_dir, spec.dataset)  # raises DataDirError, naming what is missing
    spec = replace(spec, data_dir=str(Path(data_dir).resolve()), data_fingerprint=data_fingerprint(files))
    if spec.dataset == "imagefolder":
        spec = replace(spec, num_classes=len(_splittable_classes(spec, data_dir)))
        if has_persons(data_dir):
            spec = replace(spec, forget_unit="person")
    return spec


def _splittable_classes(spec: BenchmarkSpec, source: Path) -> dict[str, int]:
    """The folder's class sizes, each large enough for the stratified split to give
    validation and test at least one image of it (else scikit-learn's split fails)."""
    sizes = class_sizes(source)
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
    return sorted({Path(spec.data_dir)} | {path.parent for path in data_files(Path(spec.data_dir), spec.dataset)})


def _tensors(arrays: _Arrays) -> LabelledTensors:
    columns = (arrays.images, arrays.labels, arrays.ages, arrays.person_ids)
    images, labels, ages, persons = (None if a is None else torch.from_numpy(np.ascontiguousarray(a)) for a in columns)
    return LabelledTensors(images, labels, ages, persons)


def _original_losses(spec: BenchmarkSpec, train: LabelledTensors, validation: LabelledTensors) -> np.ndarray:
    """Each training example's loss under the original model.

    The original trains on all of train whatever the forget set is, so this
    is the cached original itself (same seed, same trainer), trained on one
    thread so that its losses, and the forget set, never depend on the
    machine's thread count.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_model(spec)
        model.load_state_dict(train_models(spec, train, [model_seed(spec, "original", 0)], validation=validation)[0])
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
    train_frac, val_frac, test_frac = spec.split_fractions
    rest = val_frac + test_frac
    train, others = train_test_split(np.arange(len(pool.labels)), test_size=rest, random_state=spec.split_seed, stratify=pool.labels)
    val, test = train_test_split(others, test_size=test_frac / rest, random_state=spec.split_seed, stratify=pool.labels[others])
    return pool.take(train), pool.take(val), pool.take(test)


def load_benchmark_data(spec: BenchmarkSpec) -> BenchmarkData:
    """Split the spec's data set with its seeds: train/validation/test, then forget/retain."""
    if spec.dataset not in _LOADERS:
        raise ValueError(f"unknown dataset {spec.dataset!r}; known: {', '.join(sorted(_LOADERS))}")
    if spec.dataset in _WHAT_IS_READ and spec.data_dir is None:
        raise DataDirError(f"{spec.name} reads its data from a directory: bind it first with locate_data")
    train, validation, test = _split(spec, *_LOADERS[spec.dataset](spec))
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
        num_classes=int(max(train.labels.max(), validation.labels.max(), test.labels.max())) + 1,
    )
