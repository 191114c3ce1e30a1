"""Ctrl-C during the runs: one line, exit code 130, no worker left, and the same command resumes."""

from pathlib import Path
import signal
import subprocess
import sys
import time

from conftest import CACHED_YARDSTICK, N_SMALL, ROOT, runs_recorded

SLOW = '''
import time

import torch


def unlearning(net, retain, forget, validation):
    time.sleep(1.0)  # 16 runs on 2 workers: 8 s, wide enough that Ctrl-C lands among them on a loaded CI machine (it is sent at the first saved run)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return net
'''


WAITS_FOR_ITS_THREADS = """
import os, signal, threading, time, types
from harness.running import runs

signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell without job control may have started us with SIGINT ignored
finished = []
driver = types.SimpleNamespace(drive=lambda measuring: (time.sleep(1.5), finished.append(True)), stopping=threading.Event())
threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()  # as a terminal does: to the process
try:
    runs._run_in_threads(driver, 1)
except KeyboardInterrupt:
    print(len(finished), driver.stopping.is_set())
"""


def test_ctrl_c_returns_only_once_every_run_thread_has_ended():
    """CI aborted at exit with "terminate called without an active exception": Ctrl-C inside Thread.join
    marks the joined thread stopped while it still runs (gh-90882), so the harness exited with a run
    thread inside torch. Ctrl-C lands while the run thread is busy; it must be done when the call returns."""
    done = subprocess.run([sys.executable, "-c", WAITS_FOR_ITS_THREADS], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "True"]


def _descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` (pid -> command line), from /proc."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = commands[child]
                frontier.append(child)
    return found


def _still_running(pids: set[int]) -> list[str]:
    """Those of `pids` that still run harness.sandbox.worker (a pid reused by another program does not count)."""
    alive = []
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"harness.sandbox.worker" in command:
            alive.append(command.replace(b"\0", b" ").decode(errors="replace"))
    return alive


def test_ctrl_c_saves_finished_runs_and_the_same_command_resumes(reference_cache, tmp_path):
    submission = tmp_path / "submission" / "slow.py"
    submission.parent.mkdir()
    submission.write_text(SLOW)
    ledger_dir, out = tmp_path / "ledgers", tmp_path / "out"
    command = [
        sys.executable, "-m", "harness", "score", str(submission), "--n-models", str(N_SMALL), "--cache-dir", str(reference_cache),
        "--ledger-dir", str(ledger_dir), "--out", str(out), "--jobs", "2", "--quiet", "--bootstrap", "0", "--mia-models", "4",
        *CACHED_YARDSTICK,
    ]
    # Ctrl-C as at a terminal: a shell without job control starts background jobs with SIGINT ignored, and pytest may be one
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (ledger_dir.exists() and runs_recorded(ledger_dir)):
        time.sleep(0.05)
    workers = {pid for pid, line in _descendants(process.pid).items() if "harness.sandbox.worker" in line}
    assert workers, "no sandbox worker was running when the test meant to interrupt"

    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    saved = runs_recorded(ledger_dir)
    assert process.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("warning: ")]  # the no-namespaces warning
    assert lines == [f"interrupted; {saved} runs saved; run the same command to resume"]
    assert 1 <= saved < N_SMALL and stdout == ""
    time.sleep(0.5)  # a killed process may take a moment to be reaped
    assert _still_running(workers) == []

    resumed = subprocess.run([part for part in command if part != "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)  # its notes
    assert resumed.returncode == 0, resumed.stderr
    assert f"{saved} of {N_SMALL} runs kept from the ledger; {N_SMALL - saved} to run" in resumed.stderr
    assert resumed.stdout.splitlines()[-2:] == [f"score.json       {out / 'score.json'}", f"report.html      {out / 'report.html'}"]
    assert (out / "report.html").is_file()
