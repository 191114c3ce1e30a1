"""The benchmark's training recipe, shared by the original and the retrained models."""

import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from reference_models.architectures import build_model
from reference_models.tensors import LabelledTensors
from reference_models.loaders import make_loader
from reference_models.spec import BenchmarkSpec, TrainingRecipe


def fit(model: nn.Module, loader: DataLoader, recipe: TrainingRecipe) -> nn.Module:
    """Train in place with SGD, momentum, weight decay and a per-epoch cosine schedule.

    The loop the references are trained with; baselines reach it through
    `harness.kit`, so that their retraining is the references' own.
    """
    optimiser = torch.optim.SGD(
        model.parameters(),
        lr=recipe.learning_rate,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=recipe.epochs)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(recipe.epochs):
        for inputs, labels in loader:
            optimiser.zero_grad()
            loss_fn(model(inputs), labels).backward()
            optimiser.step()
        schedule.step()
    model.eval()
    return model


def train(model: nn.Module, data: LabelledTensors, recipe: TrainingRecipe, seed: int) -> nn.Module:
    """Train in place on `data` with the recipe.

    Batches come from the same Kaggle-compatible loader that submissions get,
    so that retrain and unlearning times are measured on equal terms.
    """
    return fit(model, make_loader(data, batch_size=recipe.batch_size, shuffle=True, seed=seed), recipe)


def train_from_scratch(spec: BenchmarkSpec, data: LabelledTensors, seed: int) -> tuple[nn.Module, float]:
    """A new model trained on `data` with the spec's recipe, and its wall-clock seconds."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = train(build_model(spec), data, spec.recipe, seed)
    return model, time.perf_counter() - start
