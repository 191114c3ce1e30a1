"""Model architectures, built from a benchmark spec."""

import difflib
import math
import re
import types

import torch
from torch import nn

from reference_models.errors import InputError
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
FACTORY = "factory:"  # "factory:FUNCTION": the organiser's FUNCTION(num_classes) in the spec's model_source
_FACTORY_FILE = re.compile(r"^(?P<path>.+\.py):(?P<function>[A-Za-z_]\w*)$")  # how a competition file names one: "model.py:build"


def factory_parts(architecture: str) -> tuple[str, str] | None:
    """(path, function) of a competition file's "path/model.py:function", or None where it names no factory."""
    match = _FACTORY_FILE.match(architecture)
    return None if match is None else (match["path"], match["function"])


def _factory(source: str, function: str, num_classes: int) -> nn.Module:
    """The organiser's model: trusted code, run in the harness and in the sandbox's worker alike (it travels in the spec)."""
    module = types.ModuleType("competition_model")
    try:
        exec(compile(source, "competition model", "exec"), module.__dict__)  # the organiser's own file, hashed into the key
        model = getattr(module, function)(num_classes=num_classes)
    except Exception as error:  # the organiser's code fails in its own ways
        raise InputError(f"model.architecture: the factory {function}(num_classes={num_classes}) failed: {type(error).__name__}: {error}") from None
    if not isinstance(model, nn.Module):
        raise InputError(f"model.architecture: the factory {function}(num_classes={num_classes}) returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _torchvision(name: str, num_classes: int) -> nn.Module:
    from torchvision import models  # imported here, as for ResNet-18

    return models.get_model(name, weights=None, num_classes=num_classes)  # nothing is downloaded


def architecture_error(architecture: str) -> str | None:
    """Why `architecture` names no model this harness can build, or None."""
    if architecture in ARCHITECTURES:
        return None
    if factory_parts(architecture):
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
        f"known: {', '.join(ARCHITECTURES)}, or {TORCHVISION}NAME (a torchvision classification model), or path/model.py:function"


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
    if spec.architecture.startswith(FACTORY) and spec.model_source is not None:
        return _factory(spec.model_source, spec.architecture[len(FACTORY):], num_classes(spec))
    if spec.architecture not in ARCHITECTURES:
        raise InputError(f"unknown architecture {spec.architecture!r}: {architecture_error(spec.architecture)}")
    return ARCHITECTURES[spec.architecture](input_shape(spec), spec.hidden_sizes, num_classes(spec))


def require_classifier(spec: BenchmarkSpec) -> None:
    """ValueError unless the spec's model gives one score per class for inputs of the data's shape (a torchvision
    model may want larger images; an organiser's factory may ignore num_classes)."""
    model = build_model(spec).eval()
    inputs = torch.zeros(2, *input_shape(spec))
    try:
        with torch.no_grad():
            outputs = model(inputs)
    except Exception as error:  # a model that cannot take these inputs fails in its own way
        raise InputError(f"model.architecture {spec.architecture!r} cannot classify inputs of shape {list(inputs.shape[1:])}: {error}") from None
    wanted = [2, num_classes(spec)]
    if not isinstance(outputs, torch.Tensor) or list(outputs.shape) != wanted:
        found = list(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
        raise InputError(f"model.architecture {spec.architecture!r} gives outputs {found} for 2 inputs; it must give {wanted}, a score per class")
