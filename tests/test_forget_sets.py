"""Forget-set selections and label poisoning: seeded, distinct, and what they claim to be."""

import numpy as np
import pytest
import torch

from conftest import ROOT, cli_spec
from harness.benchmarks import get_benchmark, scenario_benchmark, split_benchmark
from harness.commands.errors import UsageError
from reference_models.architectures import build_model
from reference_models.cache import ReferenceCache
from reference_models.datasets import load_benchmark_data
from reference_models.forget_sets import FORGET_CLASSES, select_forget

DIGITS = get_benchmark("digits-mlp")


def _never() -> np.ndarray:
    raise AssertionError("only `hardest` may train a model for losses")


@pytest.mark.parametrize("selection", ["random", "class", "poisoned"])
def test_selection_is_seeded(selection):
    labels = np.arange(200) % 10
    first = select_forget(selection, labels, 20, seed=3, losses=_never)
    again = select_forget(selection, labels, 20, seed=3, losses=_never)
    other = select_forget(selection, labels, 20, seed=4, losses=_never)
    assert first[0].sum() == 20
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_class_forget_set_is_concentrated():
    data = load_benchmark_data(scenario_benchmark(DIGITS, "class"))
    assert len(torch.unique(data.forget.labels)) == FORGET_CLASSES
    assert len(data.forget) == len(load_benchmark_data(DIGITS).forget)


def test_hardest_are_the_original_models_highest_losses(reference_cache):
    """The cached original trains on all of train, whatever the forget set: its losses pick `hardest`."""
    digits = cli_spec(reference_cache)
    spec = scenario_benchmark(digits, "hardest")
    data = load_benchmark_data(spec)
    original = build_model(digits)
    original.load_state_dict(ReferenceCache(reference_cache, digits).load(3).original_state)
    with torch.no_grad():
        losses = torch.nn.functional.cross_entropy(original(data.train.images), data.train.labels, reduction="none")
    threshold = losses.sort(descending=True).values[len(data.forget) - 1]
    forget_losses = torch.nn.functional.cross_entropy(original(data.forget.images), data.forget.labels, reduction="none")
    assert bool((forget_losses >= threshold).all())
    assert torch.equal(load_benchmark_data(spec).forget.images, data.forget.images)


def test_poisoning_flips_exactly_the_forget_labels():
    spec = scenario_benchmark(DIGITS, poison_fraction=0.1)
    poisoned, clean = load_benchmark_data(spec), load_benchmark_data(DIGITS)
    assert spec.key() != DIGITS.key() and len(poisoned.forget) == round(0.1 * len(clean.train))
    assert torch.equal(poisoned.train.images, clean.train.images)
    flipped = poisoned.train.labels != clean.train.labels
    assert int(flipped.sum()) == len(poisoned.forget)
    is_forget = (poisoned.train.images[:, None, :] == poisoned.forget.images[None, :, :]).all(-1).any(-1)
    assert torch.equal(flipped, is_forget)
    assert len(poisoned.retain) + len(poisoned.forget) == len(clean.train)


def test_random_keeps_the_benchmark_and_its_key():
    assert scenario_benchmark(DIGITS) is DIGITS
    # the key only changes with CACHE_FORMAT (3: rows gained the retain-sample statistic), not with selections
    assert DIGITS.key() == "6d02bad15fde64c4"


@pytest.mark.parametrize(("selection", "fraction", "words"), [
    ("sideways", None, "unknown forget selection"),
    ("class", 0.1, "leave --forget-selection out"),
    ("random", 1.5, "above 0 and below 0.5"),
])
def test_bad_scenarios_are_named(selection, fraction, words):
    with pytest.raises(UsageError, match=words):
        scenario_benchmark(DIGITS, selection, fraction)


# Fine-tuning on the clean retain set can end above the clean models' accuracy on the small test split.
@pytest.mark.parametrize(("baseline", "low", "high"), [("finetune", 0.0, 1.2), ("retrain", 0.9, 1.1)])
def test_unlearning_the_poison_restores_accuracy(score_cli, baseline, low, high):
    result, document = score_cli(ROOT / "baselines" / f"{baseline}.py", "--poison-fraction", "0.1", n_models=8)
    assert result.returncode == 0, result.stderr
    assert document["benchmark"] == "digits-mlp:poisoned-0.1"
    poisoning = document["poisoning"]
    assert poisoning["clean_accuracy"] - poisoning["accuracy_before"] > 0.05  # the poison hurt: something to restore
    assert low <= poisoning["accuracy_restored"] <= high
    assert "poisoning" in result.stdout


def test_cli_names_a_bad_scenario(in_process, tmp_path):
    result = in_process("score", str(ROOT / "baselines" / "identity.py"), "--poison-fraction", "0.9", "--n-models", "4",
                        "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
    assert "--poison-fraction must be above 0 and below 0.5" in result.stderr


@pytest.mark.parametrize("scenario", [{"forget_selection": "class"}, {"poison_fraction": 0.1}])
def test_private_split_of_a_scenario_is_another_forget_set(scenario):
    public = scenario_benchmark(DIGITS, **scenario)
    private = split_benchmark(public, "private")
    assert private.forget_selection == public.forget_selection and private.key() != public.key()
    assert not torch.equal(load_benchmark_data(private).forget.images, load_benchmark_data(public).forget.images)


def test_hardest_has_no_private_split(in_process, tmp_path):
    with pytest.raises(UsageError, match="private split needs a seeded selection"):
        split_benchmark(scenario_benchmark(DIGITS, "hardest"), "private")
    result = in_process("leaderboard", str(ROOT / "baselines"), "--forget-selection", "hardest", "--split", "both", "--n-models", "4", "--out", str(tmp_path))
    assert result.returncode == 2 and "private split needs a seeded selection" in result.stderr


def test_random_forget_set_takes_whole_persons():
    """With persons named, as in the competition, a person is forgotten with all their examples or not at all."""
    rng = np.random.default_rng(0)
    persons = rng.integers(0, 40, 300)
    labels = np.arange(300) % 5
    mask, trained = select_forget("random", labels, 30, seed=3, losses=_never, persons=persons)
    assert np.array_equal(trained, labels)
    assert not set(persons[mask]) & set(persons[~mask])
    assert 30 <= mask.sum() < 30 + np.bincount(persons).max()  # persons are added only until the size is reached
    assert np.array_equal(mask, select_forget("random", labels, 30, seed=3, losses=_never, persons=persons)[0])
    assert not np.array_equal(mask, select_forget("random", labels, 30, seed=4, losses=_never, persons=persons)[0])
