"""`competition check`: what a competition file will train and roughly what it will cost, before it is paid.

An organiser reads, without any reference being trained or cached: the model
and recipe, how many examples each split and the forget set hold (and how
many persons, where the data name them), the content key, and the cost of
the references, from a few batches of one model timed on this machine and
multiplied out. The estimate is an upper bound for the MLP, whose references
train many at a time.
"""

from dataclasses import dataclass, replace
import time

import torch

from reference_models.architectures import build_model
from reference_models.datasets import BenchmarkData, load_benchmark_data
from reference_models.evaluation import accuracy, predict_logits
from reference_models.spec import BenchmarkSpec, TrainingRecipe
from reference_models.supplied import load_original
from reference_models.tensors import LabelledTensors
from reference_models.training import train, trains_stacked

WARM_BATCHES, TIMED_BATCHES = 2, 10


@dataclass(frozen=True)
class CompetitionCheck:
    """What `competition check` found: the data's sizes, the model's size and the timed epoch."""

    spec: BenchmarkSpec
    sizes: dict[str, int]  # examples of train, retain, forget, validation and test
    forget_persons: int | None  # persons in the forget set, where the data name them
    their_images: dict[str, int] | None  # their images in validation and test (a shuffled split puts some there)
    parameters: int
    epoch_s: float  # one epoch of one model, one CPU thread (extrapolated from a few batches)
    original_accuracies: dict[str, float] | None  # a supplied original's accuracy on train, validation and test

    def cost_s(self, n_models: int) -> float:
        """Seconds of one CPU thread to train the original (unless supplied) and `n_models` references, one after another."""
        return self.epoch_s * self.spec.recipe.epochs * (n_models + (self.spec.original_file is None))


def _persons(data: BenchmarkData) -> tuple[int | None, dict[str, int] | None]:
    """How many persons the forget set pictures, and how many images of them validation and test hold."""
    persons = data.forget.person_ids
    if persons is None:
        return None, None
    chosen = torch.unique(persons)
    return len(chosen), {name: int(torch.isin(getattr(data, name).person_ids, chosen).sum()) for name in ("validation", "test")}


def _first(data: LabelledTensors, count: int) -> LabelledTensors:
    return LabelledTensors(data.images[:count], data.labels[:count])


def _epoch_seconds(model: torch.nn.Module, train_set: LabelledTensors, spec: BenchmarkSpec) -> float:
    """One epoch of training, extrapolated from TIMED_BATCHES batches after WARM_BATCHES untimed ones (the first
    batches pay for allocation and lazy set-up; a ResNet-18 epoch on a CPU would take minutes)."""
    batch = spec.recipe.batch_size
    # the training batches of one epoch: a warm-up changes only the rate, and best-validation's pass over
    # validation after each epoch is small beside an epoch of train
    one_epoch = replace(spec.recipe, epochs=1, warmup_epochs=0, keep="last")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(model, _first(train_set, WARM_BATCHES * batch), one_epoch, seed=spec.model_seed)
        timed = _first(train_set, TIMED_BATCHES * batch)
        start = time.perf_counter()
        train(model, timed, one_epoch, seed=spec.model_seed)
        return (time.perf_counter() - start) * len(train_set) / len(timed)
    finally:
        torch.set_num_threads(threads)


def _supplied_accuracies(spec: BenchmarkSpec, data: BenchmarkData) -> dict[str, float] | None:
    """A supplied original's accuracy on each split: whether it is the model the file's data and labels describe."""
    if spec.original_file is None:
        return None
    model = build_model(spec)
    model.load_state_dict(load_original(spec))
    model.eval()
    return {name: accuracy(predict_logits(model, getattr(data, name)), getattr(data, name).labels) for name in ("train", "validation", "test")}


def check_competition(spec: BenchmarkSpec) -> CompetitionCheck:
    """Load the data as the references would see them and time training on them (nothing is cached); the model
    is one that classifies the data (harness.commands.cli checks it first)."""
    data = load_benchmark_data(spec)
    sizes = {name: len(getattr(data, name)) for name in ("train", "retain", "forget", "validation", "test")}
    torch.manual_seed(spec.model_seed)
    model = build_model(spec)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    return CompetitionCheck(spec, sizes, *_persons(data), parameters, _epoch_seconds(model, data.train, spec), _supplied_accuracies(spec, data))


def _recipe_text(recipe: TrainingRecipe) -> str:
    """The recipe in words: optimiser, schedule, loss and batches."""
    momentum = f", momentum {recipe.momentum:g}" if recipe.optimiser == "sgd" else ""
    schedule = recipe.schedule + (f" at epochs {list(recipe.milestones)} times {recipe.gamma:g}" if recipe.schedule == "step" else "")
    warmup = f" after {recipe.warmup_epochs} warm-up epochs" if recipe.warmup_epochs else ""
    loss = "cross-entropy" + (" weighted by 1 / class count" if recipe.class_weights == "inverse-count" else "")
    loss += f", label smoothing {recipe.label_smoothing:g}" if recipe.label_smoothing else ""
    loss += ", keeping the epoch of best validation accuracy" if recipe.keep == "best-validation" else ""
    return (f"{recipe.epochs} epochs of {recipe.optimiser.upper() if recipe.optimiser == 'sgd' else recipe.optimiser.capitalize()} "
            f"(learning rate {recipe.learning_rate:g}{momentum}, weight decay {recipe.weight_decay:g}), {schedule} schedule{warmup}, {loss}, "
            f"batch {recipe.batch_size}" + (", augmented" if recipe.augment else "") + (", bfloat16" if recipe.mixed_precision else ""))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} minutes" if seconds < 7200 else f"{seconds / 3600:.1f} hours"


def _forget_text(check: CompetitionCheck) -> str:
    """The forget set in words: its size, its persons and their other images, and the rule that chose it."""
    spec, sizes = check.spec, check.sizes
    persons = ""
    if check.forget_persons is not None:
        elsewhere = ", ".join(f"{count} in {name}" for name, count in check.their_images.items())
        persons = f" of {check.forget_persons} persons (their other images: {elsewhere})"
    if spec.forget_persons:
        rule = {"random": "drawn with the forget seed", "first": "the lowest person ids", "next": "the person ids after the public split's"}
        chosen = f"whole persons, {rule[spec.forget_choice]}"
    else:
        chosen = f"the {spec.forget_selection} rule"
    return f"{sizes['forget']} examples{persons}, by {chosen}; retain {sizes['retain']}"


def check_text(check: CompetitionCheck, n_models: int) -> str:
    """The report an organiser reads."""
    spec, recipe, sizes = check.spec, check.spec.recipe, check.sizes
    return "\n".join([
        f"competition      {spec.name} (content key {spec.key()}): a new key means new references, ledgers and results",
        f"data             {spec.dataset}: train {sizes['train']}, validation {sizes['validation']}, test {sizes['test']} examples"
        + (f", {spec.num_classes} classes" if spec.num_classes else "") + (", pixels 0 to 255" if spec.pixels == "raw" else ""),
        f"forget set       {_forget_text(check)}",
        f"model            {spec.architecture} {list(spec.hidden_sizes) or ''}".rstrip() + f", {check.parameters:,} parameters",
        f"training         {_recipe_text(recipe)}" + ("; the references only: the original is supplied" if check.original_accuracies else ""),
        *([f"original         supplied ({spec.original_file}): accuracy "
           + ", ".join(f"{name} {value:.3f}" for name, value in check.original_accuracies.items())] if check.original_accuracies else []),
        f"cost             one epoch of one model takes about {check.epoch_s:.2f} s on one CPU thread here, so "
        f"{'the' if spec.original_file else 'the original and'} {n_models} references "
        f"take about {_duration(check.cost_s(n_models))} of one thread, one model after another (divide by the cores or GPUs that train them"
        + ("; MLP references train many at a time, for much less)" if trains_stacked(spec) else ")"),
    ])
