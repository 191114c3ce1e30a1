"""A run is not told which run it is. Under `--borderline more-runs` the runs past N used to be timed
but not scored, and a file that read its run's index from the worker's frames did its work only in
the first N: this attack looks for that index everywhere the worker's stack holds it, as a cheater
who has read worker.py would, and raises `Escaped` when it finds it. (A run can still guess its place
in its worker from its process id; every timed run being scored is what makes that worthless.)"""

import pytest

from conftest import assert_all_ok, attack_submission

pytestmark = pytest.mark.sandbox  # skipped where no sandbox can be built (conftest)

FRAME_WALK = """
import sys


def _mentions_run(value, depth=0):
    if isinstance(value, dict):
        return any(key in ("run_id", "run", "index", "count", "n_runs") or (depth < 3 and _mentions_run(v, depth + 1)) for key, v in value.items())
    if isinstance(value, (list, tuple)) and depth < 3:
        return any(_mentions_run(item, depth + 1) for item in value)
    return False


def unlearning(net, retain, forget, validation):
    frame = sys._getframe()
    while frame is not None:
        names = frame.f_locals
        if any(name in ("run_id", "run_index", "n_runs") for name in names) or any(_mentions_run(v) for v in names.values()):
            raise Escaped(f"{frame.f_code.co_name} holds the run's identity: {sorted(names)}")
        frame = frame.f_back
    return net
"""


def test_a_run_finds_no_run_index_in_the_worker(run_in_sandbox, tmp_path):
    records, log = run_in_sandbox(attack_submission(tmp_path, FRAME_WALK), n_runs=3)
    assert_all_ok(records)
    text = log.read_text()
    assert all(f"--- run {run_id} ---" in text for run_id in range(3))  # the parent still marks each run's output with its id


FORGED_HEADER = """
from harness.sandbox import protocol

_send = protocol.send


def _forging(stream, header, payload=b""):
    _send(stream, {**header, "type": "forged", "seed": -1}, payload)


def unlearning(net, retain, forget, validation):
    protocol.send = _forging  # the run's answer now claims another seed and type, which made the parent call it a crash
    return net
"""


def test_a_run_cannot_forge_its_answers_seed_or_type(run_in_sandbox, tmp_path):
    """A worker crash is run again on the next score, so a run that could turn its own answer into one
    could reroll: the worker's message sets the seed and type after the run's own keys."""
    records, _ = run_in_sandbox(attack_submission(tmp_path, FORGED_HEADER), n_runs=2)
    assert_all_ok(records)
