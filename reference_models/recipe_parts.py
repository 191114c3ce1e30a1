"""The training recipe's parts by name: one table each for the optimiser and the schedule, and the loss.

A competition names its recipe in words (`optimiser = "adam"`, `schedule = "cosine"`); this module
is the one place those words become PyTorch objects, so that a new optimiser or schedule is one entry.
Every optimiser here updates each parameter element by element (SGD, Adam and AdamW alike), so that
stacked training (reference_models.batched_training) gives each model the weights it would get alone.
The schedule is stepped once per epoch: a linear warm-up over `warmup_epochs`, then the named schedule
over the epochs that remain. The NeurIPS 2023 organisers trained with Adam, a cosine schedule and
cross-entropy weighted by 1 / the count of each age group in train (their `train_lib.py`).
"""

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from reference_models.spec import TrainingRecipe

Optimiser = torch.optim.Optimizer
Schedule = torch.optim.lr_scheduler.LRScheduler

OPTIMISERS: dict[str, Callable[[Iterable[torch.Tensor], TrainingRecipe], Optimiser]] = {
    "sgd": lambda parameters, recipe: torch.optim.SGD(parameters, lr=recipe.learning_rate, momentum=recipe.momentum, weight_decay=recipe.weight_decay),
    "adam": lambda parameters, recipe: torch.optim.Adam(parameters, lr=recipe.learning_rate, weight_decay=recipe.weight_decay),
    "adamw": lambda parameters, recipe: torch.optim.AdamW(parameters, lr=recipe.learning_rate, weight_decay=recipe.weight_decay),
}
SCHEDULES: dict[str, Callable[[Optimiser, TrainingRecipe, int], Schedule]] = {
    "cosine": lambda optimiser, recipe, epochs: torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs),
    "step": lambda optimiser, recipe, epochs: torch.optim.lr_scheduler.MultiStepLR(optimiser, milestones=list(recipe.milestones), gamma=recipe.gamma),
    "constant": lambda optimiser, recipe, epochs: torch.optim.lr_scheduler.LambdaLR(optimiser, lambda epoch: 1.0),
}
CLASS_WEIGHTS = ("none", "inverse-count")  # inverse-count: 1 / the class's count among the training labels
KEEPS = ("last", "best-validation")  # which epoch's weights training ends with
STACKED_KEEPS = ("last",)  # those stacked training follows; a recipe keeping another trains its models one at a time


def optimiser_for(parameters: Iterable[torch.Tensor], recipe: TrainingRecipe) -> Optimiser:
    return OPTIMISERS[recipe.optimiser](parameters, recipe)


def schedule_for(optimiser: Optimiser, recipe: TrainingRecipe) -> Schedule:
    """The learning rate of each epoch: the warm-up's linear rise to the recipe's rate, then the named schedule."""
    main = SCHEDULES[recipe.schedule](optimiser, recipe, max(1, recipe.epochs - recipe.warmup_epochs))
    if not recipe.warmup_epochs:
        return main
    warm = torch.optim.lr_scheduler.LinearLR(optimiser, start_factor=1 / (recipe.warmup_epochs + 1), total_iters=recipe.warmup_epochs)
    return torch.optim.lr_scheduler.SequentialLR(optimiser, [warm, main], milestones=[recipe.warmup_epochs])


def class_weights(recipe: TrainingRecipe, labels: torch.Tensor, classes: int) -> torch.Tensor | None:
    """The loss's weight of each of `classes` classes (None: unweighted); a class absent from `labels` weighs
    nothing, having no example (an age group may be empty in train)."""
    if recipe.class_weights == "none":
        return None
    counts = torch.bincount(labels, minlength=classes).float()
    return torch.where(counts > 0, 1 / counts.clamp(min=1), torch.zeros_like(counts))


def loss_for(recipe: TrainingRecipe, weights: torch.Tensor | None) -> nn.CrossEntropyLoss:
    return nn.CrossEntropyLoss(weight=weights, label_smoothing=recipe.label_smoothing)


@dataclass(frozen=True)
class TrainingRecord:
    """What a model was trained with, as it ran: kept beside its weights in the reference cache's manifest,
    so that an organiser can show which optimiser, class weights and epoch made each reference."""

    optimiser: str  # the optimiser's class
    class_weights: tuple[float, ...] | None  # the loss's weight of each class; None: unweighted
    kept_epoch: int  # the epoch whose weights training ended with, counted from 1

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def of(optimiser: Optimiser, weights: torch.Tensor | None, kept_epoch: int) -> "TrainingRecord":
        return TrainingRecord(type(optimiser).__name__, None if weights is None else tuple(weights.tolist()), kept_epoch)
