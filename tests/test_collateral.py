"""Collateral privacy: per-example epsilon beside the forget set, and the statistic it needs."""

import numpy as np

from harness.benchmarks import get_benchmark
from reference_models.architectures import build_model
from reference_models.datasets import load_benchmark_data
from reference_models.evaluation import evaluate
from scoring.collateral import epsilon_spread
from scoring.epsilon import estimate_epsilon


def test_summary_of_leaky_and_clean_examples():
    rng = np.random.default_rng(0)
    same = rng.normal(0, 1, (64, 30))
    clean = epsilon_spread(estimate_epsilon(same, rng.normal(0, 1, (64, 30))).epsilon, 64)
    leaky = epsilon_spread(estimate_epsilon(same + 3.0, rng.normal(0, 1, (64, 30))).epsilon, 64)
    assert clean.n_examples == leaky.n_examples == len(clean.epsilons) == 30
    assert leaky.mean > clean.mean and leaky.share_above_1 > clean.share_above_1
    assert leaky.forget_quality_equivalent < clean.forget_quality_equivalent


def test_models_are_evaluated_on_a_retain_sample_as_large_as_the_forget_set():
    spec = get_benchmark("digits-mlp")
    data = load_benchmark_data(spec)
    outputs = evaluate(build_model(spec), data)
    assert outputs.retain_statistic.shape == (len(data.forget),)
    assert outputs.to_row()["retain_statistic"] == outputs.retain_statistic.tolist()
