"""harness.kit: what submissions import from the harness."""

import pytest
import torch

from harness import kit
from harness.benchmarks import get_benchmark
from reference_models.architectures import build_model
from reference_models.datasets import load_benchmark_data
from reference_models.loaders import make_loader

SPEC = get_benchmark("digits-mlp")


@pytest.fixture
def in_a_run(monkeypatch):
    """As inside the worker: the benchmark is named (and forgotten after the test)."""
    monkeypatch.setattr(kit, "_benchmark", SPEC)


def test_the_recipe_is_known_only_inside_a_run(monkeypatch):
    monkeypatch.setattr(kit, "_benchmark", None)
    with pytest.raises(RuntimeError, match="inside a harness run"):
        kit.training_recipe()


def test_recipe_changes_keep_the_benchmarks_other_settings(in_a_run):
    assert kit.training_recipe() == SPEC.recipe
    changed = kit.training_recipe(epochs=3, learning_rate=0.01)
    assert (changed.epochs, changed.learning_rate) == (3, 0.01)
    assert (changed.momentum, changed.weight_decay, changed.batch_size) == (SPEC.recipe.momentum, SPEC.recipe.weight_decay, SPEC.recipe.batch_size)
    optimiser = kit.sgd(build_model(SPEC).parameters(), 0.05)
    assert optimiser.defaults["momentum"] == SPEC.recipe.momentum and optimiser.defaults["weight_decay"] == SPEC.recipe.weight_decay


def test_relabelled_mix_never_keeps_a_true_label():
    data = load_benchmark_data(SPEC)
    retain, forget = (make_loader(part, 64, shuffle=True, seed=0) for part in (data.retain, data.forget))
    torch.manual_seed(0)
    inputs, labels = kit.gather(kit.relabelled_mix(retain, forget, data.num_classes))
    assert len(labels) == len(data.retain) + len(data.forget)
    for image, label in zip(data.forget.images, data.forget.labels, strict=True):
        row = (inputs == image).all(dim=1).nonzero().flatten()
        assert len(row) == 1 and labels[row] != label and 0 <= labels[row] < data.num_classes


def test_shuffled_loader_follows_torchs_seed():
    inputs, labels = torch.arange(100.0).view(50, 2), torch.arange(50)

    def first_batches(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        loader = kit.shuffled_loader(inputs, labels, 16)
        return [batch_labels for _, batch_labels in loader] + [batch_labels for _, batch_labels in loader]

    first, again, other = first_batches(1), first_batches(1), first_batches(2)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0])
    assert not torch.equal(first[0], first[4])  # each epoch reshuffles
    assert sorted(torch.cat(first[:4]).tolist()) == list(range(50))


def test_classifier_head_is_the_last_linear():
    net = build_model(SPEC)
    assert kit.classifier_head(net) is net[-1]
    with pytest.raises(ValueError, match="no nn.Linear"):
        kit.classifier_head(torch.nn.ReLU())
