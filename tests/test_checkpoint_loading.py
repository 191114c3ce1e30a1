"""A checkpoint's bytes become a run's answer only through torch.load's weights_only unpickler (issue 39):
what Kaggle's notebook saved loads as the model it was; a pickle that runs code, a pickled net, NaN
weights, another shape or bytes that are no checkpoint each get their reason, and nothing runs."""

import io
from pathlib import Path

import pytest
import torch

from harness.benchmarks import get_benchmark
from harness.sandbox.weights import InvalidWeights, answer_bytes, checkpoint_state, model_from_weights
from reference_models.architectures import build_model

SPEC = get_benchmark("digits-mlp")


def _saved(value, **options) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("zipped", [True, False], ids=["zip format", "legacy format"])
def test_a_kaggle_checkpoint_loads_as_the_model_it_was(zipped):
    torch.manual_seed(3)
    net = build_model(SPEC)
    state = checkpoint_state(_saved(net.state_dict(), _use_new_zipfile_serialization=zipped))
    loaded = model_from_weights(SPEC, answer_bytes(state))
    assert all(torch.equal(loaded.state_dict()[name], tensor) for name, tensor in net.state_dict().items())


def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    with pytest.raises(InvalidWeights, match="weights_only"):
        checkpoint_state(_saved({"fc.weight": Payload()}))
    assert not marker.exists()


@pytest.mark.parametrize("saved, reason", [
    (lambda net: _saved(net), "weights_only"),  # the whole net pickled: its class is code
    (lambda net: _saved([net.state_dict()]), "holds a list, not a state_dict"),
    (lambda net: b"PK\x03\x04 not really", "weights_only"),
], ids=["a pickled net", "a list", "not a checkpoint"])
def test_what_is_not_a_state_dict_is_refused_with_its_reason(saved, reason):
    with pytest.raises(InvalidWeights, match=reason):
        checkpoint_state(saved(build_model(SPEC)))


def test_nan_weights_and_another_shape_are_refused_as_a_runs_answer_would_be():
    state = build_model(SPEC).state_dict()
    first = next(iter(state))
    poisoned = {**state, first: torch.full_like(state[first], float("nan"))}
    with pytest.raises(InvalidWeights, match="contains NaN"):
        model_from_weights(SPEC, answer_bytes(checkpoint_state(_saved(poisoned))))
    reshaped = {**state, first: torch.zeros(3, 3)}
    with pytest.raises(InvalidWeights, match="has shape"):
        model_from_weights(SPEC, answer_bytes(checkpoint_state(_saved(reshaped))))


@pytest.fixture
def checkpoints_worker(worker_setup, tmp_path):
    """A real sandbox worker set up to load checkpoints (no code imported), its log in tmp_path."""
    from dataclasses import replace

    from harness.sandbox.parent import CappedLog, SandboxWorker

    empty = tmp_path / "no_code.py"
    empty.write_text("")
    with open(tmp_path / "worker.log", "wb") as log:
        worker = SandboxWorker(replace(worker_setup(empty), checkpoints=True, source=""), CappedLog(log), [])
        try:
            yield worker
        finally:
            worker.close()


@pytest.mark.sandbox
def test_a_sandboxed_worker_loads_each_checkpoint_in_its_run_and_refuses_a_hostile_one(checkpoints_worker, tmp_path):
    """The worker answers a checkpoint as a run's weights; a pickle that would write a file on the host
    is a failed run, the file absent from outside; the worker goes on to the next checkpoint."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.manual_seed(5)
    net = build_model(SPEC)
    good = checkpoints_worker.run(0, 11, 60.0, _saved(net.state_dict()))
    hostile = checkpoints_worker.run(1, 12, 60.0, _saved({"fc.weight": Payload()}))
    after = checkpoints_worker.run(2, 13, 60.0, _saved(net.state_dict()))
    assert good.failure_class is None and after.failure_class is None, (good.message, after.message)
    loaded = model_from_weights(SPEC, good.weights)
    assert all(torch.equal(loaded.state_dict()[name], tensor) for name, tensor in net.state_dict().items())
    assert hostile.failure_class == "invalid-output" and "the checkpoint cannot be loaded" in hostile.message and "weights_only" in hostile.message
    assert not marker.exists()
