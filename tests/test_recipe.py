"""The training recipe as data (issue 38): each named part is the PyTorch object it names and is used by
both the one-model loop and stacked training, which still gives each model the weights it gets alone."""

from dataclasses import replace

import pytest
import torch

from harness.benchmarks import get_benchmark
from reference_models.batched_training import train_stack
from reference_models.datasets import load_benchmark_data
from reference_models.recipe_parts import class_weights, loss_for, optimiser_for, schedule_for
from reference_models.spec import TrainingRecipe
from reference_models.training import train_from_scratch

DIGITS = get_benchmark("digits-mlp")
SHORT = replace(DIGITS.recipe, epochs=2)


@pytest.fixture(scope="module")
def retain():
    return load_benchmark_data(DIGITS).retain


@pytest.mark.parametrize("name, kind", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_each_optimiser_is_the_one_named(name, kind):
    optimiser = optimiser_for([torch.zeros(2, requires_grad=True)], TrainingRecipe(optimiser=name, learning_rate=0.01, weight_decay=0.005))
    assert type(optimiser) is kind and optimiser.defaults["lr"] == 0.01 and optimiser.defaults["weight_decay"] == 0.005


def _rates(recipe: TrainingRecipe) -> list[float]:
    optimiser = optimiser_for([torch.zeros(1, requires_grad=True)], recipe)
    schedule = schedule_for(optimiser, recipe)
    rates = []
    for _ in range(recipe.epochs):
        rates.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        schedule.step()
    return rates


def test_each_schedule_steps_once_an_epoch_after_its_warm_up():
    assert _rates(TrainingRecipe(epochs=4, learning_rate=1.0, schedule="constant")) == [1.0] * 4
    assert _rates(TrainingRecipe(epochs=4, learning_rate=1.0, schedule="step", milestones=(2,), gamma=0.5)) == pytest.approx([1, 1, 0.5, 0.5])
    warm = _rates(TrainingRecipe(epochs=6, learning_rate=1.0, schedule="cosine", warmup_epochs=2))
    assert warm[:3] == pytest.approx([1 / 3, 2 / 3, 1.0]) and warm[3] < 1.0 and warm[5] < warm[4] < warm[3]
    assert _rates(TrainingRecipe(epochs=4, learning_rate=1.0)) == pytest.approx([1.0, 0.8535534, 0.5, 0.1464466])  # the kit's cosine, as before


def test_class_weights_are_inverse_counts_and_the_loss_uses_them_with_label_smoothing():
    labels = torch.tensor([0, 0, 0, 2])
    weights = class_weights(TrainingRecipe(class_weights="inverse-count"), labels, 4)
    assert weights.tolist() == pytest.approx([1 / 3, 0.0, 1.0, 0.0])  # every class the model outputs, the last one empty in train
    assert class_weights(TrainingRecipe(), labels, 4) is None
    loss = loss_for(TrainingRecipe(label_smoothing=0.1), weights)
    assert torch.equal(loss.weight, weights) and loss.label_smoothing == 0.1


@pytest.mark.parametrize("change", [
    {"optimiser": "adam", "learning_rate": 1e-3},
    {"optimiser": "adamw", "learning_rate": 1e-3},
    {"schedule": "step", "milestones": (1,), "gamma": 0.2},
    {"schedule": "constant", "warmup_epochs": 1},
    {"class_weights": "inverse-count"},
    {"label_smoothing": 0.2},
], ids=lambda change: ",".join(change))
def test_each_option_changes_what_trains_and_a_model_is_the_same_alone_or_in_a_stack(retain, change):
    spec = replace(DIGITS, recipe=replace(SHORT, **change))
    (alone,), stack_record = train_stack(spec, retain, [7])
    stacked = train_stack(spec, retain, [3, 7])[0][1]
    assert all(torch.equal(alone[name], stacked[name]) for name in alone)
    plain = train_stack(replace(DIGITS, recipe=SHORT), retain, [7])[0][0]
    assert not torch.equal(alone["1.weight"], plain["1.weight"])
    single, record, _ = train_from_scratch(spec, retain, 7)
    default_single, _, _ = train_from_scratch(replace(DIGITS, recipe=SHORT), retain, 7)
    assert not torch.equal(single.state_dict()["1.weight"], default_single.state_dict()["1.weight"])
    # what trained, as recorded beside each reference in the cache's manifest
    assert record == stack_record and record.optimiser == {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}[spec.recipe.optimiser]
    assert (record.class_weights is not None) == (spec.recipe.class_weights == "inverse-count") and record.kept_epoch == SHORT.epochs


def test_the_default_recipe_keeps_the_built_ins_keys():
    assert replace(DIGITS, recipe=replace(DIGITS.recipe, optimiser="sgd", schedule="cosine", class_weights="none")).key() == DIGITS.key()
    assert replace(DIGITS, recipe=replace(DIGITS.recipe, optimiser="adam")).key() != DIGITS.key()


def test_best_validation_ends_with_the_weights_of_the_first_epoch_of_highest_accuracy(retain, monkeypatch):
    """Validation accuracy is scripted (0.2, 0.9, 0.9, 0.5 over four epochs) and each evaluated state recorded:
    training ends with the second epoch's weights, the first to reach the best."""
    import copy

    from reference_models import training

    scripted, states = iter([0.2, 0.9, 0.9, 0.5]), []

    def accuracy(model, loader):
        states.append(copy.deepcopy(model.state_dict()))
        return next(scripted)

    monkeypatch.setattr(training, "_accuracy", accuracy)
    recipe = replace(SHORT, epochs=4, keep="best-validation")
    validation = load_benchmark_data(DIGITS).validation
    model, record, _ = train_from_scratch(replace(DIGITS, recipe=recipe), retain, 7, validation=validation)
    assert len(states) == 4 and record.kept_epoch == 2
    assert all(torch.equal(model.state_dict()[name], states[1][name]) for name in states[1])
    assert not torch.equal(states[1]["1.weight"], states[3]["1.weight"])


def test_best_validation_needs_validation_data_and_trains_one_model_at_a_time(retain):
    from reference_models.training import fit, train_models

    spec = replace(DIGITS, recipe=replace(SHORT, keep="best-validation"))
    with pytest.raises(ValueError, match="give fit the validation loader"):
        fit(torch.nn.Linear(64, 10), torch.utils.data.DataLoader([]), spec.recipe)
    with pytest.raises(ValueError, match="stacked training keeps the last epoch"):
        train_stack(spec, retain, [7])
    validation = load_benchmark_data(DIGITS).validation
    one_at_a_time = train_models(spec, retain, [7], validation=validation)[0].state
    alone, _, _ = train_from_scratch(spec, retain, 7, validation=validation)
    assert all(torch.equal(one_at_a_time[name], alone.state_dict()[name]) for name in one_at_a_time)
