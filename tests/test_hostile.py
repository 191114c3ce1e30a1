"""Malformed and hostile submissions: each ends in its failure class with its message,
earlier runs survive, nothing hangs, and the harness stays healthy.

Runs go through the real sandbox (worker processes, namespaces where the
system allows them) via `run_submission`, without the scoring around it.
"""

from pathlib import Path
import socket
import subprocess
import threading

import pytest

from conftest import failure_classes

HOSTILE = Path(__file__).resolve().parent / "hostile"
needs_namespaces = pytest.mark.sandbox  # skipped where no sandbox can be built (conftest)


@pytest.fixture
def run(run_in_sandbox):
    return run_in_sandbox


@pytest.fixture
def sandbox(sandbox_inputs):
    return sandbox_inputs


CASES = [
    # file, runs, timeout, expected class per run, words in the first failure's message
    ("syntax_error.py", 2, 30, ["import-error"] * 2, "SyntaxError"),
    ("missing_function.py", 2, 30, ["import-error"] * 2, "defines no function unlearning"),
    ("wrong_arity.py", 2, 30, ["import-error"] * 2, "unlearning takes 2 arguments (net, retain), the harness passes 4"),
    ("missing_module.py", 2, 30, ["import-error"] * 2, "ModuleNotFoundError"),
    ("raises_on_run_3.py", 4, 30, [None, None, "exception", None], "third call fails"),
    ("returns_none.py", 2, 30, [None, None], ""),  # Kaggle's driver took the net it passed in
    ("returns_tensor.py", 2, 30, ["invalid-output"] * 2, "returned Tensor"),
    ("other_architecture.py", 2, 30, ["invalid-output"] * 2, "missing keys"),
    ("extra_buffer.py", 2, 30, ["invalid-output"] * 2, "unexpected keys: smuggled"),
    ("nan_weights.py", 2, 30, ["invalid-output"] * 2, "NaN or Inf"),
    ("nan_on_one_retain_image.py", 2, 30, ["invalid-output"] * 2, "retain_statistic are not finite"),
    ("fp16_weights.py", 2, 30, [None, None], ""),
    ("endless_loop.py", 1, 2, ["timeout"], "hard timeout of 2.0 s"),
    ("sleep_past_timeout.py", 1, 2, ["timeout"], "hard timeout"),
    ("huge_allocation.py", 2, 30, ["exception"] * 2, "memory"),
    ("os_exit.py", 2, 30, ["worker-crash"] * 2, "exited with code 3"),
    ("segfault.py", 1, 30, ["worker-crash"], "SIGSEGV"),
    ("sys_exit.py", 2, 30, ["exception"] * 2, "SystemExit"),
    ("prints_50mb.py", 1, 60, [None], ""),
    ("mutates_dataset.py", 3, 30, [None, None, None], ""),
    ("writes_protocol_stdout.py", 2, 30, [None, None], ""),
]


@pytest.mark.parametrize("name, n_runs, timeout_s, expected, words", CASES, ids=[c[0] for c in CASES])
def test_hostile_submission(run, name, n_runs, timeout_s, expected, words):
    records, _ = run(HOSTILE / name, n_runs, timeout_s)
    assert failure_classes(records) == expected
    status = {"import-error": "error", "exception": "error", "worker-crash": "error", "timeout": "timeout", "invalid-output": "invalid"}
    assert [r.status for r in records] == ["ok" if c is None else status[c] for c in expected]
    failed = [r for r in records if r.failure_class is not None]
    if failed:
        assert words in failed[0].message and f"run {failed[0].run_id}:" in failed[0].message and "Fix:" in failed[0].message
    assert all(r.forget_statistic is not None for r in records if r.failure_class is None)


def test_run_time_is_measured_outside_the_submission(run):
    records, _ = run(HOSTILE / "clock_tamper.py", 2)
    assert failure_classes(records) == [None, None]
    assert all(record.wall_seconds >= 1.0 for record in records)


def test_output_is_kept_but_capped(run):
    _, log = run(HOSTILE / "prints_50mb.py", 1, 60)
    assert 10 << 20 <= log.stat().st_size < (10 << 20) + 4096
    assert b"log capped" in log.read_bytes()[-200:]


def test_child_processes_die_with_the_worker(run):
    records, _ = run(HOSTILE / "leaves_child.py", 1)
    assert failure_classes(records) == [None]
    leftover = subprocess.run(["pgrep", "-f", "sleep 987654"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def _write(tmp_path: Path, name: str, body: str) -> Path:
    folder = tmp_path / "generated"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(body)
    return path


@needs_namespaces
def test_no_network(run, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(_accept(server)), daemon=True).start()
    path = _write(tmp_path, "socket_connect.py", f"""
import socket


def unlearning(net, retain, forget, validation):
    socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"stolen")
    return net
""")
    records, _ = run(path, 1)
    assert failure_classes(records) == ["exception"]
    assert "unreachable" in records[0].message or "refused" in records[0].message
    server.close()
    assert accepted in ([], [None])


def _accept(server: socket.socket):
    try:
        return server.accept()
    except OSError:
        return None


@needs_namespaces
def test_secrets_in_the_parent_environment_do_not_leak(run, tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNING_TEST_SECRET", "hunter2")
    path = _write(tmp_path, "reads_secret.py", """
import glob
import os


def unlearning(net, retain, forget, validation):
    if "hunter2" in os.environ.get("UNLEARNING_TEST_SECRET", ""):
        raise RuntimeError("leaked through the environment")
    for environ in glob.glob("/proc/*/environ"):
        try:
            if b"hunter2" in open(environ, "rb").read():
                raise RuntimeError("leaked through " + environ)
        except OSError:
            pass
    return net
""")
    records, _ = run(path, 1)
    assert failure_classes(records) == [None], records[0].message


@needs_namespaces
def test_reference_models_cannot_be_read_even_by_path(run, sandbox, tmp_path):
    cache = sandbox[0]
    path = _write(tmp_path, "steals_reference.py", f"""
import glob
import torch


def unlearning(net, retain, forget, validation):
    found = glob.glob({str(cache)!r} + "/*/retrained/0000.pt")
    if not found:
        raise FileNotFoundError("no reference model in sight")
    net.load_state_dict(torch.load(found[0], weights_only=True))
    return net
""")
    records, _ = run(path, 1)
    assert failure_classes(records) == ["exception"]
    assert "no reference model in sight" in records[0].message


@needs_namespaces
def test_the_cache_cannot_be_written(run, sandbox, tmp_path):
    cache = sandbox[0]
    path = _write(tmp_path, "writes_cache.py", f"""
def unlearning(net, retain, forget, validation):
    open({str(cache)!r} + "/planted.txt", "w").write("x")
    return net
""")
    records, _ = run(path, 1)
    assert failure_classes(records) == ["exception"]
    assert "No such file or directory" in records[0].message  # the cache is not in the sandbox's root at all
    assert not (cache / "planted.txt").exists()
