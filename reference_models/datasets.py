"""Benchmark data: loading a data set and splitting it into the unlearning roles."""

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from reference_models.architectures import build_model
from reference_models.batched_training import train_stack
from reference_models.forget_sets import select_forget
from reference_models.seeds import model_seed
from reference_models.spec import BenchmarkSpec
from reference_models.tensors import LabelledTensors


@dataclass(frozen=True)
class BenchmarkData:
    """The five sets of an unlearning benchmark; retain and forget partition train."""

    train: LabelledTensors
    retain: LabelledTensors
    forget: LabelledTensors
    validation: LabelledTensors
    test: LabelledTensors
    num_classes: int


def _load_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8x8 digits shipped with scikit-learn, scaled to [0, 1]."""
    images, labels = load_digits(return_X_y=True)
    return (images / 16.0).astype(np.float32), labels.astype(np.int64)


_LOADERS = {"sklearn-digits": _load_sklearn_digits}


def _tensors(images: np.ndarray, labels: np.ndarray) -> LabelledTensors:
    return LabelledTensors(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels))


def _original_losses(spec: BenchmarkSpec, train: LabelledTensors) -> np.ndarray:
    """Each training example's loss under the original model.

    The original trains on all of train whatever the forget set is, so this
    is the cached original itself (same seed, same stacked trainer), trained
    on one thread so that its losses, and the forget set, never depend on
    the machine's thread count.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_model(spec)
        model.load_state_dict(train_stack(spec, train, [model_seed(spec, "original", 0)])[0])
        with torch.no_grad():
            return nn.functional.cross_entropy(model(train.images), train.labels, reduction="none").double().numpy()
    finally:
        torch.set_num_threads(threads)


def load_benchmark_data(spec: BenchmarkSpec) -> BenchmarkData:
    """Split the spec's data set with its seeds: train/validation/test, then forget/retain."""
    if spec.dataset not in _LOADERS:
        raise ValueError(f"unknown dataset {spec.dataset!r}; known: {', '.join(sorted(_LOADERS))}")
    images, labels = _LOADERS[spec.dataset]()
    train_frac, val_frac, test_frac = spec.split_fractions
    rest = val_frac + test_frac
    x_train, x_rest, y_train, y_rest = train_test_split(
        images, labels, test_size=rest, random_state=spec.split_seed, stratify=labels
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=test_frac / rest, random_state=spec.split_seed, stratify=y_rest
    )
    is_forget, y_trained = select_forget(
        spec.forget_selection,
        y_train,
        size=round(spec.forget_fraction * len(y_train)),
        seed=spec.forget_seed,
        losses=lambda: _original_losses(spec, _tensors(x_train, y_train)),
    )
    return BenchmarkData(
        train=_tensors(x_train, y_trained),
        retain=_tensors(x_train[~is_forget], y_trained[~is_forget]),
        forget=_tensors(x_train[is_forget], y_trained[is_forget]),
        validation=_tensors(x_val, y_val),
        test=_tensors(x_test, y_test),
        num_classes=int(labels.max()) + 1,
    )
