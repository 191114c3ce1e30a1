"""Model architectures, built from a benchmark spec."""

import difflib
import math

from torch import nn

from reference_models.spec import BenchmarkSpec

# Inputs and classes of the data sets whose shape is fixed; image folders declare theirs in the spec.
_INPUT_SHAPES = {"sklearn-digits": (64,), "cifar10": (3, 32, 32)}
_NUM_CLASSES = {"sklearn-digits": 10, "cifar10": 10}


def _mlp(input_shape: tuple[int, ...], hidden_sizes: tuple[int, ...], num_classes: int) -> nn.Module:
    width = math.prod(input_shape)
    layers: list[nn.Module] = [nn.Flatten()]
    for hidden in hidden_sizes:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def _cnn_small(input_shape: tuple[int, ...], channels: tuple[int, ...], num_classes: int) -> nn.Module:
    """3x3 convolutions, each followed by ReLU and 2x2 max pooling, then global average pooling and a linear head.

    No batch norm, so that a model's outputs never depend on the batch it is
    evaluated in, and small enough for a CPU to retrain on CIFAR-10 in minutes.
    """
    layers: list[nn.Module] = []
    width = input_shape[0]
    for out in channels:
        layers += [nn.Conv2d(width, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        width = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
    return nn.Sequential(*layers)


def _resnet18(input_shape: tuple[int, ...], hidden_sizes: tuple[int, ...], num_classes: int) -> nn.Module:
    """torchvision's ResNet-18, unchanged, as the competition's starting kit uses it on CIFAR-10."""
    from torchvision.models import resnet18  # imported here: a second of start-up that every sandbox worker would pay

    return resnet18(weights=None, num_classes=num_classes)


ARCHITECTURES = {"mlp": _mlp, "cnn-small": _cnn_small, "resnet18": _resnet18}
IMAGE_ARCHITECTURES = ("cnn-small", "resnet18")  # those an image folder may declare
STACKABLE = ("mlp",)  # trained many at a time (reference_models.batched_training); the others one by one
TORCHVISION = "torchvision:"  # "torchvision:NAME": any torchvision classification model, with no pretrained weights


def _torchvision(name: str, num_classes: int) -> nn.Module:
    from torchvision import models  # imported here, as for ResNet-18

    return models.get_model(name, weights=None, num_classes=num_classes)  # nothing is downloaded


def architecture_error(architecture: str) -> str | None:
    """Why `architecture` names no model this harness can build, or None."""
    if architecture in ARCHITECTURES:
        return None
    if architecture.startswith(TORCHVISION):
        from torchvision import models

        known = models.list_models(module=models)  # the classification models, not detection or segmentation
        name = architecture[len(TORCHVISION):]
        if name in known:
            return None
        close = [model for model in known if model.startswith(name[:4])][:6]
        return f"torchvision has no classification model {name!r}" + (f" (such as: {', '.join(close)})" if close else "")
    close = difflib.get_close_matches(architecture, list(ARCHITECTURES), n=1, cutoff=0.5)
    return (f"did you mean {close[0]!r}? " if close else "") + \
        f"known: {', '.join(ARCHITECTURES)}, or {TORCHVISION}NAME (a torchvision classification model)"


def input_shape(spec: BenchmarkSpec) -> tuple[int, ...]:
    """The shape of one input: fixed by the data set, or channels and the declared image size."""
    if spec.dataset in _INPUT_SHAPES:
        return _INPUT_SHAPES[spec.dataset]
    return (3, spec.image_size, spec.image_size)


def num_classes(spec: BenchmarkSpec) -> int:
    return spec.num_classes or _NUM_CLASSES[spec.dataset]


def build_model(spec: BenchmarkSpec) -> nn.Module:
    """A freshly initialised model of the spec's architecture (seed torch first)."""
    if spec.architecture.startswith(TORCHVISION):
        return _torchvision(spec.architecture[len(TORCHVISION):], num_classes(spec))
    if spec.architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {spec.architecture!r}: {architecture_error(spec.architecture)}")
    return ARCHITECTURES[spec.architecture](input_shape(spec), spec.hidden_sizes, num_classes(spec))
