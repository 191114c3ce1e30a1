"""Answers no honest worker sends, written by a submission straight onto its answer pipe: none may
crash the parent, run code in it or balloon its memory; each is the submission's failure. A file
that still breaks the scorer is listed as failed, and the leaderboard goes on.
"""

import inspect
import json
from pathlib import Path
import resource
import uuid

import pytest
from test_weights import BOMB_NAMES, zip_bomb

from conftest import failure_classes
from harness.benchmarks import get_benchmark
from harness.session import ScoringSession
from harness.settings import ScoreSettings
from score_documents import scored

pytestmark = pytest.mark.sandbox  # skipped where no sandbox can be built (conftest)

# Finds the run's answer pipe (its only pipe besides stdout and stderr) and writes a message of its own making.
RAW_ANSWER = '''import os
import struct


def answer_pipe():
    pipes = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if int(name) > 2 and os.readlink(f"/proc/self/fd/{name}").startswith("pipe:"):
                pipes.append(int(name))
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return max(pipes)


def send_raw(header: bytes, payload: bytes = b"", claimed_payload: int | None = None):
    fd = answer_pipe()
    os.write(fd, struct.pack("<QQ", len(header), len(payload) if claimed_payload is None else claimed_payload) + header)
    for start in range(0, len(payload), 1 << 16):
        os.write(fd, payload[start : start + (1 << 16)])
    os._exit(0)


def send_weights(state):
    from harness.sandbox.weights import answer_bytes
    send_raw(b'{"class": "ok", "message": ""}', answer_bytes(state))


def send_archive(state):
    import io, torch
    buffer = io.BytesIO()
    torch.save(state, buffer)
    send_raw(b'{"class": "ok", "message": ""}', buffer.getvalue())
'''


def _raw(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "answers"
    folder.mkdir(exist_ok=True)
    path = folder / f"raw_{uuid.uuid4().hex[:8]}.py"
    path.write_text(RAW_ANSWER + body)
    return path


MALFORMED = {
    "a torch.save archive": ("send_archive(net.state_dict())", "invalid-output", "could not be read"),
    "float4 tensors": ("send_weights({k: torch.zeros(v.shape[:-1] + (max(1, v.shape[-1] // 2),), dtype=torch.uint8).view(torch.float4_e2m1fn_x2)"
                       " if v.dim() else v for k, v in net.state_dict().items()})",
                       "invalid-output", "dtype"),
    "huge finite weights": ("send_weights({k: torch.full_like(v, 3e38) for k, v in net.state_dict().items()})", "invalid-output", "not finite"),
    "nested header": ("send_raw(b'[' * 30000 + b']' * 30000)", "worker-crash", "not a JSON object"),
    "1 GiB payload": ("send_raw(b'{\"class\": \"ok\", \"message\": \"\"}', claimed_payload=1 << 30)", "worker-crash", "larger than allowed"),
    "views of one huge storage": ("big = torch.zeros(1 << 24)\n    send_archive({k: big[: v.numel()].view(v.shape) for k, v in net.state_dict().items()})",
                                  "worker-crash", "larger than allowed"),
    "garbage payload": ("send_raw(b'{\"class\": \"ok\", \"message\": \"\"}', b'\\x80\\x04not a pickle at all')", "invalid-output", "could not be read"),
    "answer of another class": ("send_raw(b'{\"class\": \"ok-really\", \"message\": \"\"}')", "worker-crash", "out of protocol"),
}


@pytest.mark.parametrize("attack", sorted(MALFORMED))
def test_malformed_answers_are_the_submissions_failure(run_in_sandbox, tmp_path, attack):
    code, expected, words = MALFORMED[attack]
    path = _raw(tmp_path, f"""
import torch


def unlearning(net, retain, forget, validation):
    {code}
""")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    records, _ = run_in_sandbox(path, 2)
    assert failure_classes(records) == [expected] * 2, [r.message for r in records]
    assert words in records[0].message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_an_answer_that_would_inflate_is_refused(run_in_sandbox, tmp_path):
    """The run swaps the worker's own serialisation for the issue's 262 kB zip bomb (six records sharing one
    deflated stream, 1.5 GiB once inflated): the parent never inflates it, and the run is invalid-output."""
    path = _raw(tmp_path, f"""
import collections, io, pickle, struct, sys, zlib

import torch


{inspect.getsource(zip_bomb)}

def unlearning(net, retain, forget, validation):
    sys.modules["__main__"]._weights_of = lambda result: zip_bomb({BOMB_NAMES!r}, 1 << 26)  # the worker runs as __main__
    return net
""")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    records, _ = run_in_sandbox(path, 1)
    assert failure_classes(records) == ["invalid-output"], [r.message for r in records]
    assert "could not be read" in records[0].message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 << 10  # KiB


def test_a_pickle_that_runs_code_is_refused(run_in_sandbox, tmp_path):
    marker = tmp_path / "executed_in_the_parent"
    path = _raw(tmp_path, f"""
import os, pickle


class Payload:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))


def unlearning(net, retain, forget, validation):
    send_raw(b'{{"class": "ok", "message": ""}}', pickle.dumps({{"weight": Payload()}}))
""")
    records, _ = run_in_sandbox(path, 1)
    assert failure_classes(records) == ["invalid-output"]
    assert not marker.exists()


def test_messages_are_cut_and_made_inert(run_in_sandbox, tmp_path):
    path = _raw(tmp_path, """
def unlearning(net, retain, forget, validation):
    raise RuntimeError("\\x1b]0;pwned\\x07\\x1b[2J" + "x" * 5_000_000)
""")
    records, _ = run_in_sandbox(path, 1)
    assert failure_classes(records) == ["exception"]
    assert len(records[0].message) < 5000
    assert "\x1b" not in records[0].message and "\x07" not in records[0].message and "\\x1b" in records[0].message


def test_a_leaderboard_goes_on_past_a_broken_scoring(monkeypatch, tmp_path):
    """A file that makes the harness fail is listed as failed; the others are scored."""
    from harness.boards import entries
    from harness.boards import leaderboard as board
    from scoring.leaderboard import rank, row_from_document

    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("breaks.py", "fine.py"):
        (folder / name).write_text("def unlearning(net, retain, forget, validation):\n    return net\n")
    spec = get_benchmark("digits-mlp")

    def score(path, out_dir, session, n_models):
        if path.stem == "breaks":
            raise MemoryError("the scorer ran out of memory")
        return scored(submission=str(path), final_score=0.5, forget_quality=0.5)

    monkeypatch.setattr(entries, "score", score)
    session = ScoringSession(spec, ScoreSettings(progress=False, sandbox=False))  # nothing runs: score is replaced
    (tmp_path / "out" / "breaks").mkdir(parents=True)
    (tmp_path / "out" / "breaks" / "report.html").write_text("an earlier score's report, which would not explain this row")
    documents = board.score_folder(folder, tmp_path / "out", session)
    assert not (tmp_path / "out" / "breaks" / "report.html").exists()
    ranked = rank([row_from_document(name, document) for name, document in documents.items()])
    assert [(position, row.submission) for position, row in ranked] == [(1, "fine"), (None, "breaks")]
    assert "MemoryError" in json.loads((tmp_path / "out" / "breaks" / "score.json").read_text())["failures"]["scorer-error"]["first_message"]
