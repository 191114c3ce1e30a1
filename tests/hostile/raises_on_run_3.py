"""Fails on its third run only. Each run is a fresh process, so it finds its run by the seed the
harness set for it (the hostile tests use the benchmark's public seeds)."""

import torch

from harness.benchmarks import get_benchmark
from harness.running.runs import run_seed


def unlearning(net, retain, forget, validation):
    if torch.initial_seed() == run_seed(get_benchmark("digits-mlp"), 2):
        raise ValueError("third call fails")
    return net
