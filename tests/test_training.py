"""Stacked training: each model's weights are its own, whatever shares its stack."""

from dataclasses import replace

import torch

from harness.benchmarks import get_benchmark
from reference_models.batched_training import train_stack
from reference_models.datasets import load_benchmark_data


def test_a_model_is_the_same_alone_or_in_a_stack():
    spec = get_benchmark("digits-mlp")
    spec = replace(spec, recipe=replace(spec.recipe, epochs=2))
    retain = load_benchmark_data(spec).retain
    (alone,), _ = train_stack(spec, retain, [7])
    stacked, _ = train_stack(spec, retain, [3, 7, 11])
    assert all(torch.equal(alone[name], stacked[1][name]) for name in alone)
    assert not torch.equal(stacked[0]["1.weight"], stacked[1]["1.weight"])
