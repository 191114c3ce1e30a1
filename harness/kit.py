"""What a submission may import from the harness: the benchmark's own training recipe.

A baseline such as `retrain` must train exactly as the reference models were
trained, and stay honest when a benchmark's recipe changes; hand-copied
hyperparameters would drift. The sandbox worker names the benchmark here
before it loads the submission, so that inside a run

    from harness import kit
    recipe = kit.training_recipe()            # epochs, batch size, SGD settings
    kit.fit(kit.reinitialise(net), retain, recipe)   # the references' own loop
    kit.fit(net, retain, kit.training_recipe(epochs=3, learning_rate=0.01))

Outside the harness's worker (a notebook, a Kaggle kernel) no benchmark is
named and `training_recipe()` says so. The other helpers are small things
several baselines need and cannot share otherwise (a submission's folder is
hidden from it, so baselines cannot import each other).

Devices: the worker hands the net over on the harness's --device, while the
loaders yield CPU tensors, as in the competition. The data helpers here keep
to the CPU too, so that their shuffles and relabellings draw from torch's CPU
generator, the same on every device; `fit` moves each batch to the model's
device, and a loop of one's own does the same with
`.to(next(net.parameters()).device)`.
"""

from dataclasses import replace

import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

from reference_models.spec import BenchmarkSpec, TrainingRecipe
from reference_models.training import fit

__all__ = [
    "TrainingRecipe", "classifier_head", "fit", "gather", "reinitialise", "relabelled_mix", "sgd", "shuffled_loader",
    "training_recipe", "use_benchmark",
]

_benchmark: BenchmarkSpec | None = None


def use_benchmark(spec: BenchmarkSpec) -> None:
    """Name the benchmark being scored (the worker calls this, once)."""
    global _benchmark
    _benchmark = spec


def training_recipe(**changes) -> TrainingRecipe:
    """The training recipe of the benchmark being scored, with `changes` (e.g. epochs=3) applied."""
    if _benchmark is None:
        raise RuntimeError("no benchmark is being scored: harness.kit.training_recipe() works inside a harness run")
    return replace(_benchmark.recipe, **changes)


def sgd(parameters, learning_rate: float) -> torch.optim.SGD:
    """SGD at `learning_rate` with the benchmark's momentum and weight decay, for loops of one's own."""
    recipe = training_recipe()
    return torch.optim.SGD(parameters, lr=learning_rate, momentum=recipe.momentum, weight_decay=recipe.weight_decay)


def reinitialise(net: nn.Module) -> nn.Module:
    """Draw every layer's parameters afresh (from torch's seeded generator), in place."""
    for module in net.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return net


def classifier_head(net: nn.Module) -> nn.Linear:
    """The network's last nn.Linear: its inputs are the features, its outputs the classes."""
    linears = [module for module in net.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError("the network has no nn.Linear layer to serve as its classifier head")
    return linears[-1]


def gather(loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """All inputs and labels of a loader as two tensors (on the CPU, like its batches), to merge, relabel or use as one batch."""
    inputs, labels = zip(*((batch[0], batch[1]) for batch in loader), strict=True)
    return torch.cat(inputs), torch.cat(labels)


def shuffled_loader(inputs: torch.Tensor, labels: torch.Tensor, batch_size: int) -> DataLoader:
    """Batches of (inputs, labels), reshuffled every epoch from torch's seeded generator.

    Each batch is one indexing operation: a DataLoader over single examples
    costs more than a small model's whole training step.
    """
    data = TensorDataset(inputs, labels)
    generator = torch.Generator().manual_seed(int(torch.randint(2**31, (1,))))
    batches = BatchSampler(RandomSampler(data, generator=generator), batch_size, drop_last=False)
    return DataLoader(data, sampler=batches, batch_size=None)


def relabelled_mix(retain: DataLoader, forget: DataLoader, num_classes: int) -> DataLoader:
    """Retain plus the forget set relabelled with random wrong classes, shuffled as one set.

    The training set of random-label unlearning (Graves et al. 2021) and of
    SalUn (Fan et al. 2024); labels and order come from torch's seeded generator.
    """
    retain_inputs, retain_labels = gather(retain)
    forget_inputs, forget_labels = gather(forget)
    wrong = (forget_labels + torch.randint(1, num_classes, forget_labels.shape)) % num_classes
    return shuffled_loader(torch.cat([retain_inputs, forget_inputs]), torch.cat([retain_labels, wrong]), retain.batch_size)
