"""A prize-hunting participant against what the sandbox shares with the host's kernel (the third round):
keyrings, global sysctls, the host uid, a writable /dev, mounts that are never wiped, and a harness that
would run without a sandbox. Each test judges from outside the harness: the host's /proc/keys, the
sysctl's value, the host's view of the run's uid, the next run's findings, exit codes and score.json.

The submissions raise `Escaped` when their attack worked, so a run that ends ok means it failed.
"""

import contextlib
import ctypes
import errno
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest

from conftest import CACHED_YARDSTICK, NO_REPORT, ONE_WORKER, ROOT, assert_all_ok, attack_submission
from harness.sandbox import seccomp

pytestmark = pytest.mark.sandbox  # skipped where no sandbox can be built (conftest)

_KEY_SPEC_USER_KEYRING = -4
_SYSCALLS = {"x86_64": {"add_key": 248, "request_key": 249, "keyctl": 250}, "aarch64": {"add_key": 217, "request_key": 218, "keyctl": 219}}


class _SockFprog(ctypes.Structure):
    """struct sock_fprog, as prctl(PR_SET_SECCOMP) takes a filter."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _keys() -> str:
    return Path("/proc/keys").read_text() if Path("/proc/keys").exists() else ""


def test_the_filter_refuses_keyrings_and_allows_the_rest():
    """The program itself, loaded in a forked child: add_key fails with EPERM, getpid still works."""
    numbers = _SYSCALLS.get(os.uname().machine)
    if numbers is None:
        pytest.skip("no system-call numbers for this machine")
    program = seccomp.filter_program()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        libc = ctypes.CDLL(None, use_errno=True)
        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
        pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
        loaded = libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) == 0 and libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) == 0
        added = libc.syscall(numbers["add_key"], b"user", b"unlearning-filter-test", b"x", 1, _KEY_SPEC_USER_KEYRING)
        answer = f"{int(loaded)} {added} {ctypes.get_errno()} {int(os.getpid() == os.getpid())}"
        os.write(write_end, answer.encode())
        os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 100).decode().split()
    os.waitpid(pid, 0)
    assert answer == ["1", "-1", str(errno.EPERM), "1"]
    assert len(seccomp.filter_program("aarch64")) % 8 == 0
    with pytest.raises(seccomp.UnsupportedMachine):
        seccomp.filter_program("riscv64")


def test_the_hosts_keyrings_are_out_of_reach(run_in_sandbox, tmp_path):
    """A run that links the harness user's keyring, reads a key kept there, or leaves a model as a key."""
    numbers = _SYSCALLS.get(os.uname().machine)
    if numbers is None:
        pytest.skip("no system-call numbers for this machine")
    tag = uuid.uuid4().hex[:8]
    libc = ctypes.CDLL(None, use_errno=True)
    host_key = libc.syscall(numbers["add_key"], b"user", f"organiser-{tag}".encode(), b"the organiser's secret", 22, _KEY_SPEC_USER_KEYRING)
    try:
        path = attack_submission(tmp_path, f"""
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
ADD_KEY, REQUEST_KEY, KEYCTL = {numbers['add_key']}, {numbers['request_key']}, {numbers['keyctl']}
KEYCTL_GET_KEYRING_ID, KEYCTL_READ, KEYCTL_LINK, USER, SESSION = 0, 11, 8, -4, -3


def unlearning(net, retain, forget, validation):
    calls = {{
        "add_key": libc.syscall(ADD_KEY, b"user", b"left-{tag}", b"a retrained model", 17, USER),
        "request_key": libc.syscall(REQUEST_KEY, b"user", b"organiser-{tag}", None, 0),
        "keyctl": libc.syscall(KEYCTL, KEYCTL_GET_KEYRING_ID, USER, 0),
        "link": libc.syscall(KEYCTL, KEYCTL_LINK, USER, SESSION),
        "read": libc.syscall(KEYCTL, KEYCTL_READ, {host_key}, None, 0),
    }}
    reached = {{name: result for name, result in calls.items() if result >= 0}}
    if reached:
        raise Escaped(f"keyring calls that worked: {{reached}}")
    return net
""")
        assert_all_ok(run_in_sandbox(path, 1)[0])
        assert f"left-{tag}" not in _keys()
    finally:
        if host_key >= 0:
            libc.syscall(numbers["keyctl"], 3, host_key)  # KEYCTL_REVOKE


def test_global_sysctls_and_root_only_proc_files_are_closed(run_in_sandbox, tmp_path):
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    path = attack_submission(tmp_path, """
def unlearning(net, retain, forget, validation):
    opened = []
    for name in ("kernel/core_pattern", "kernel/modprobe", "vm/drop_caches", "kernel/sysrq"):
        try:
            open(f"/proc/sys/{name}", "w").close()
            opened.append(name)
        except OSError:
            pass
    for name in ("/proc/kpageflags", "/proc/kcore", "/proc/sysrq-trigger"):
        try:
            open(name, "rb").read(8) if name != "/proc/sysrq-trigger" else open(name, "w").close()
            opened.append(name)
        except OSError:
            pass
    if opened:
        raise Escaped(f"opened: {opened}")
    return net
""")
    assert_all_ok(run_in_sandbox(path, 1)[0])
    assert Path("/proc/sys/kernel/core_pattern").read_text() == before


def test_the_sandbox_is_nobody_to_the_host(run_in_sandbox, tmp_path):
    """Seen from the host, the run's process belongs to a uid that is not the harness's root."""
    tag = uuid.uuid4().hex[:12]
    path = attack_submission(tmp_path, f"""
import subprocess, sys


def unlearning(net, retain, forget, validation):
    subprocess.run([sys.executable, "-c", "import time; time.sleep(4)  # {tag}"])
    return net
""")
    seen: dict[int, int] = {}

    def watch() -> None:
        """Read /proc directly: `ps` cuts long command lines to $COLUMNS, which can drop the tag."""
        end = time.monotonic() + 60
        while time.monotonic() < end and not seen:
            for process in Path("/proc").glob("[0-9]*"):
                with contextlib.suppress(OSError):
                    command = (process / "cmdline").read_bytes()
                    if tag.encode() in command and b"time.sleep" in command:
                        seen[int(process.name)] = process.stat().st_uid
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert_all_ok(run_in_sandbox(path, 1)[0])
    watcher.join()
    assert seen, "the run's process was never seen"
    uids = set(seen.values())
    if os.geteuid() == 0:
        assert 0 not in uids and all(uid >= 990000 for uid in uids), seen
    else:
        assert uids == {os.geteuid()}, seen


def test_every_writable_mount_is_wiped_or_read_only(run_in_sandbox, tmp_path):
    """Run 1 writes a marker at the top of every mount it can write to (as listed by its own mountinfo),
    /dev included; every later run fails if it finds one. /dev itself must refuse the write."""
    marker = f"kept_{uuid.uuid4().hex[:8]}"
    path = attack_submission(tmp_path, f"""
import os


def writable_mounts():
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        if "ro" not in fields[5].split(","):
            yield fields[4]


def unlearning(net, retain, forget, validation):
    left = [mount for mount in writable_mounts() if os.path.exists(os.path.join(mount, {marker!r}))]
    if left:
        raise Escaped(f"kept from an earlier run: {{left}}")
    written = []
    for mount in [*writable_mounts(), "/dev"]:
        try:
            with open(os.path.join(mount, {marker!r}), "w") as marker:
                marker.write("x" * 4096)
            written.append(mount)
        except OSError:
            pass
    if "/dev" in written:
        raise Escaped("/dev is writable")
    if not written:
        raise RuntimeError("no scratch place could be written: the test would prove nothing")
    return net
""")
    assert_all_ok(run_in_sandbox(path, 3)[0])


def _copy_of_the_project(where: Path) -> Path:
    """The project's packages (not .venv: the same interpreter runs them) copied under `where`."""
    copy = where / f"unlearning-clone-{uuid.uuid4().hex[:8]}"
    for part in ("harness", "reference_models", "scoring", "rendering", "baselines", "submissions"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _score_from(copy: Path, reference_cache: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", "score", "baselines/identity.py", "--n-models", "3", "--cache-dir", str(reference_cache),
         "--ledger-dir", str(out / "ledgers"), "--out", str(out), "--quiet", "--bootstrap", "0", "--mia-models", "4",
         *CACHED_YARDSTICK, *ONE_WORKER, *NO_REPORT, *extra],
        cwd=copy, capture_output=True, text=True, timeout=600,
    )


def test_a_project_cloned_under_tmp_is_sandboxed(reference_cache, tmp_path):
    copy = _copy_of_the_project(Path("/tmp"))
    try:
        result = _score_from(copy, reference_cache, tmp_path / "out")
        assert result.returncode == 0, result.stderr
        document = json.loads((tmp_path / "out" / "score.json").read_text())
        assert document["isolation"]["mechanism"] == "bubblewrap" and document["runs"]["ok"] == 3
    finally:
        shutil.rmtree(copy)


def test_without_a_sandbox_nothing_runs_unless_asked(reference_cache, tmp_path):
    """A project under /dev/shm cannot be sandboxed (the sandbox has a /dev/shm of its own): score
    refuses with exit 2 and the reason, before anything is built; --no-sandbox runs it and says so."""
    copy = _copy_of_the_project(Path("/dev/shm"))
    try:
        refused = _score_from(copy, reference_cache, tmp_path / "refused")
        assert refused.returncode == 2, refused.stderr
        assert "no sandbox can be built here" in refused.stderr and "under /dev/shm" in refused.stderr and "--no-sandbox" in refused.stderr
        assert not (tmp_path / "refused").exists()
        allowed = _score_from(copy, reference_cache, tmp_path / "allowed", "--no-sandbox")
        assert allowed.returncode == 0, allowed.stderr
        assert "--no-sandbox" in allowed.stderr
        isolation_field = json.loads((tmp_path / "allowed" / "score.json").read_text())["isolation"]
        assert isolation_field["mechanism"] == "none (--no-sandbox)" and isolation_field["cpu"].startswith("unverified")
    finally:
        shutil.rmtree(copy)


def test_a_python_reached_through_a_linked_folder_is_sandboxed(tmp_path):
    """A venv reached through a symbolic link (docs-check's scratch copy; a home that is a link): bwrap
    starts the worker by the interpreter's path as given, so the link is made again inside the sandbox."""
    link = tmp_path / "linked-venv"
    link.symlink_to(Path(sys.prefix).resolve(), target_is_directory=True)
    probe = subprocess.run(
        [str(link / "bin" / "python"), "-c", "from harness.sandbox.isolation import unavailable_reason; print(unavailable_reason())"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "None"
