"""A prize-hunting participant against the references' secrecy: rebuilding reference models from
the public seeds, reading the embedded data set, finding the cache's secret in the worker. Each
attack is a submission of its own, judged from outside (the cache's own references, the ledger).

The submissions raise `Escaped` when their attack worked, so a run that ends ok means it failed.
"""

import numpy as np
import pytest
import torch

from conftest import assert_all_ok, attack_submission
from harness.benchmarks import get_benchmark
from reference_models.cache import ReferenceCache
from reference_models.datasets import load_benchmark_data
from reference_models.secret import cache_secret, public_view, sealed

pytestmark = pytest.mark.sandbox  # skipped where no sandbox can be built (conftest)


def test_references_cannot_be_rebuilt_from_public_seeds(run_in_sandbox, sandbox_inputs, tmp_path):
    """The cheat knows its run index here (the fixture seeds runs publicly) and retrains reference i
    bit for bit with the public seeds: the cache's secret makes it another model."""
    path = attack_submission(tmp_path, """
import torch

from harness.benchmarks import get_benchmark
from harness.running.runs import run_seed
from reference_models.seeds import model_seed
from reference_models.training import train_models

SPEC = get_benchmark("digits-mlp")


def unlearning(net, retain, forget, validation):
    index = next(i for i in range(16) if run_seed(SPEC, i) == torch.initial_seed())
    rebuilt = train_models(SPEC, retain.dataset.data, [model_seed(SPEC, "retrained", index)])[0].state
    net.load_state_dict(rebuilt)
    return net
""")
    records, _ = run_in_sandbox(path, 2)
    assert_all_ok(records)
    cache = sandbox_inputs[0]
    reference = ReferenceCache(cache, sealed(get_benchmark("digits-mlp"), cache_secret(cache))).population("retrained", 2)
    for record, statistic in zip(records, reference.forget_statistic, strict=True):
        assert not np.allclose(record.forget_statistic, statistic)


def test_sealed_seeds_give_other_splits_and_models(sandbox_inputs):
    public = get_benchmark("digits-mlp")
    secret = cache_secret(sandbox_inputs[0])
    hidden = sealed(public, secret)
    assert hidden.key() != public.key() and public_view(hidden) == public_view(public)
    assert sealed(public, secret) == hidden  # same cache, same secret: the same spec
    assert not torch.equal(load_benchmark_data(public).validation.images, load_benchmark_data(hidden).validation.images)


def test_the_embedded_data_set_is_not_in_the_sandbox(run_in_sandbox, tmp_path):
    """Digits ship inside scikit-learn: reading them would hand a submission the test split."""
    path = attack_submission(tmp_path, """
def unlearning(net, retain, forget, validation):
    from sklearn.datasets import load_digits
    try:
        load_digits()
    except OSError:
        return net
    raise Escaped("digits loaded")
""")
    assert_all_ok(run_in_sandbox(path, 1)[0])


def test_the_secret_never_reaches_the_worker(run_in_sandbox, sandbox_inputs, tmp_path):
    secret = cache_secret(sandbox_inputs[0])
    path = attack_submission(tmp_path, f"""
import gc


def unlearning(net, retain, forget, validation):
    from harness import kit
    spec = kit._benchmark
    if spec.split_seed or spec.forget_seed or spec.model_seed or spec.data_dir:
        raise Escaped(f"seeds in the worker's spec: {{spec}}")
    if any(isinstance(o, str) and {secret!r} in o for o in gc.get_objects()):
        raise Escaped("the secret is in memory")
    return net
""")
    assert_all_ok(run_in_sandbox(path, 1)[0])
