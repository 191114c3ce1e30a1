"""The training recipe applied to many models at once, with stacked parameters.

Small models spend their training time in per-operation overhead, not in
arithmetic. Stacking M models' parameters and mapping the forward pass over
them with `torch.func.vmap` pays that overhead once per step for all M, which
makes the 512 reference models of a small benchmark several times cheaper.

Each model keeps its own initialisation seed and its own shuffling order, and
every optimiser of the recipe updates element by element, so a model's weights
do not depend on which other models share its stack (a test checks this bit
for bit, for each of the recipe's options).
"""

import copy

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from reference_models.architectures import build_model, num_classes
from reference_models.recipe_parts import STACKED_KEEPS, TrainingRecord, class_weights, optimiser_for, schedule_for
from reference_models.spec import BenchmarkSpec
from reference_models.tensors import LabelledTensors


def _initial_models(spec: BenchmarkSpec, seeds: list[int]) -> list[nn.Module]:
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build_model(spec))
    return models


def train_stack(spec: BenchmarkSpec, data: LabelledTensors, seeds: list[int], device: str = "cpu"
                ) -> tuple[list[dict[str, torch.Tensor]], TrainingRecord]:
    """Train one model per seed on `data` with the spec's recipe on `device`; their state dicts, on the CPU,
    and what they were trained with (the same for every model of the stack)."""
    recipe = spec.recipe
    if recipe.augment:
        raise ValueError("stacked training does not augment: train image models one at a time (reference_models.training)")
    if recipe.keep not in STACKED_KEEPS:
        raise ValueError(f"stacked training keeps the last epoch, not {recipe.keep!r}: train such models one at a time (reference_models.training)")
    models = [model.to(device) for model in _initial_models(spec, seeds)]
    images, labels = data.images.to(device), data.labels.to(device)
    params, buffers = stack_module_state(models)
    template = copy.deepcopy(models[0]).to("meta")
    forward = vmap(lambda p, b, x: functional_call(template, (p, b), (x,)))
    optimiser = optimiser_for(list(params.values()), recipe)
    schedule = schedule_for(optimiser, recipe)
    weights = class_weights(recipe, labels, num_classes(spec))
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    n, m = len(data), len(seeds)
    for _ in range(recipe.epochs):
        orders = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(device)
        for start in range(0, n, recipe.batch_size):
            rows = orders[:, start : start + recipe.batch_size]
            optimiser.zero_grad()
            with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=recipe.mixed_precision):
                logits = forward(params, buffers, images[rows])
                targets = labels[rows].flatten()
                per_example = nn.functional.cross_entropy(logits.flatten(0, 1), targets, weight=weights, reduction="none",
                                                          label_smoothing=recipe.label_smoothing)
            # each model's own mean loss; weighted, as CrossEntropyLoss weighs it: over the weights of the batch's classes
            if weights is None:
                per_model = per_example.view(m, -1).mean(dim=1)
            else:
                per_model = per_example.view(m, -1).sum(dim=1) / weights[targets].view(m, -1).sum(dim=1)
            per_model.sum().backward()
            optimiser.step()
        schedule.step()
    states = [{name: tensor[i].detach().cpu().clone() for name, tensor in {**params, **buffers}.items()} for i in range(m)]
    return states, TrainingRecord.of(optimiser, weights, recipe.epochs)
