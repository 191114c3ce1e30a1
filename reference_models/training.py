"""The benchmark's training recipe, shared by the original and the retrained models."""

import copy
from dataclasses import dataclass
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from reference_models.architectures import STACKABLE, build_model
from reference_models.augmentation import crop_and_flip
from reference_models.batched_training import train_stack
from reference_models.loaders import make_loader
from reference_models.recipe_parts import STACKED_KEEPS, TrainingRecord, class_weights, loss_for, optimiser_for, schedule_for
from reference_models.spec import BenchmarkSpec, TrainingRecipe
from reference_models.tensors import LabelledTensors


def _labels(loader: DataLoader) -> torch.Tensor:
    """Every label the loader yields in one epoch (for class weights counted over the training data)."""
    return torch.cat([batch[1] for batch in loader])


def _accuracy(model: nn.Module, loader: DataLoader) -> float:
    """The model's accuracy over the loader's examples (evaluation mode, no gradients)."""
    device = next(model.parameters()).device
    model.eval()
    correct = count = 0
    with torch.no_grad():
        for batch in loader:
            inputs, labels = batch[0].to(device), batch[1].to(device)
            correct += int((model(inputs).argmax(dim=1) == labels).sum())
            count += len(labels)
    model.train()
    return correct / max(count, 1)


def fit(model: nn.Module, loader: DataLoader, recipe: TrainingRecipe, validation: DataLoader | None = None) -> nn.Module:
    """Train in place with the recipe's optimiser, its schedule stepped once an epoch, and cross-entropy
    (class-weighted and label-smoothed as the recipe says; the parts are reference_models.recipe_parts).

    The loop the references are trained with; baselines reach it through
    `harness.kit`, so that their retraining is the references' own. Batches
    move to the model's device; the recipe may augment them and train under
    bfloat16 autocast. A recipe that keeps the best validation epoch needs
    `validation`: the model is evaluated on it after every epoch and ends with
    the weights of the first epoch of highest accuracy.
    """
    _fit(model, loader, recipe, validation)
    return model


def _fit(model: nn.Module, loader: DataLoader, recipe: TrainingRecipe, validation: DataLoader | None) -> TrainingRecord:
    """fit's loop: trains `model` in place; what it trained with."""
    if recipe.keep == "best-validation" and validation is None:
        raise ValueError("the recipe keeps the weights of the best validation epoch: give fit the validation loader")
    best_accuracy, best_state, best_epoch = -1.0, None, recipe.epochs
    device = next(model.parameters()).device
    optimiser = optimiser_for(model.parameters(), recipe)
    schedule = schedule_for(optimiser, recipe)
    counted = None if recipe.class_weights == "none" else _labels(loader)  # the training labels, counted before the first epoch
    weights = loss_fn = None  # made at the first batch, when the model's outputs say how many classes the weights cover
    normalises = any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in model.modules())
    model.train()
    for epoch in range(1, recipe.epochs + 1):
        for inputs, labels in loader:
            if normalises and len(labels) == 1:
                continue  # batch norm cannot train on one example (a last batch of one would stop ResNet-18)
            inputs, labels = inputs.to(device), labels.to(device)
            if recipe.augment:
                inputs = crop_and_flip(inputs)
            optimiser.zero_grad()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=recipe.mixed_precision):
                outputs = model(inputs)
                if loss_fn is None:
                    weights = None if counted is None else class_weights(recipe, counted, outputs.shape[1]).to(device)
                    loss_fn = loss_for(recipe, weights)
                loss = loss_fn(outputs, labels)
            loss.backward()
            optimiser.step()
        schedule.step()
        if recipe.keep == "best-validation":
            accuracy = _accuracy(model, validation)
            if accuracy > best_accuracy:
                best_accuracy, best_state, best_epoch = accuracy, copy.deepcopy(model.state_dict()), epoch
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainingRecord.of(optimiser, weights, best_epoch)


def train(model: nn.Module, data: LabelledTensors, recipe: TrainingRecipe, seed: int, validation: LabelledTensors | None = None) -> TrainingRecord:
    """Train in place on `data` with the recipe (and `validation`, where it keeps the best validation epoch);
    what it trained with.

    Batches come from the same Kaggle-compatible loader that submissions get,
    so that retrain and unlearning times are measured on equal terms.
    """
    held_out = None if validation is None else make_loader(validation, batch_size=recipe.batch_size, shuffle=False, seed=seed)
    return _fit(model, make_loader(data, batch_size=recipe.batch_size, shuffle=True, seed=seed), recipe, held_out)


@dataclass(frozen=True)
class TrainedModel:
    """A model's weights on the CPU and what it was trained with."""

    state: dict[str, torch.Tensor]
    record: TrainingRecord


def train_from_scratch(spec: BenchmarkSpec, data: LabelledTensors, seed: int, device: str = "cpu",
                       validation: LabelledTensors | None = None) -> tuple[nn.Module, TrainingRecord, float]:
    """A new model trained on `data` with the spec's recipe on `device`, what it trained with, and its wall-clock seconds."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = build_model(spec).to(device)
    record = train(model, data, spec.recipe, seed, validation)
    if device != "cpu":
        torch.cuda.synchronize()
    return model, record, time.perf_counter() - start


def trains_stacked(spec: BenchmarkSpec) -> bool:
    """Whether the spec's models train many at a time: a small architecture, and a recipe stacked training follows."""
    return spec.architecture in STACKABLE and spec.recipe.keep in STACKED_KEEPS


def train_models(spec: BenchmarkSpec, data: LabelledTensors, seeds: list[int], device: str = "cpu",
                 validation: LabelledTensors | None = None) -> list[TrainedModel]:
    """One model per seed trained on `data` (and evaluated on `validation` where the recipe keeps the best
    epoch), as state dicts on the CPU: small models many at a time (stacked) where stacked training follows
    the recipe, other models one by one through the loader."""
    if trains_stacked(spec):
        states, record = train_stack(spec, data, seeds, device)
        return [TrainedModel(state, record) for state in states]
    trained = (train_from_scratch(spec, data, seed, device, validation)[:2] for seed in seeds)
    return [TrainedModel({name: tensor.cpu() for name, tensor in model.state_dict().items()}, record) for model, record in trained]
