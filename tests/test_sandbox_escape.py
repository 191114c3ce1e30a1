"""A prize-hunting participant against the sandbox: escapes, persistence, exhaustion (rebuilt
references are in test_reference_secrecy.py, malformed answers in test_sandbox_answers.py). Each attack is a submission of
its own; each test judges the outcome from outside the harness (a marker that must not exist,
a process that must not be left, the ledger's record).

The submissions raise `Escaped` when their attack worked, so a run that ends ok means it failed.
"""

from pathlib import Path
import resource
import socket
import subprocess
import threading
import uuid

import pytest
import torch

from conftest import assert_all_ok, attack_submission, failure_classes
from harness.resources import package_folder
from harness.sandbox import isolation
from harness.sandbox.limits import MAX_PROCESSES, Cgroup

pytestmark = pytest.mark.sandbox  # skipped where no sandbox can be built (conftest)


# -- escape: unmount, remount, new namespaces, writes outside -------------------------------------------------


def test_mounts_cannot_be_undone(run_in_sandbox, sandbox_inputs, tmp_path):
    """Root of its own namespaces, the old worker could unmount the covers and remount / read-write."""
    planted = package_folder("harness") / f"planted_{uuid.uuid4().hex[:8]}.py"
    path = attack_submission(tmp_path, f"""
import ctypes, os

libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH, MS_REMOUNT, MS_BIND = 2, 32, 4096


def unlearning(net, retain, forget, validation):
    mounts = [line.split()[4] for line in open("/proc/self/mountinfo")]
    undone = [m for m in reversed(mounts) if libc.umount2(m.encode(), MNT_DETACH) == 0]
    remounted = [m for m in ("/", "/usr", {str(package_folder("harness"))!r}) if libc.mount(b"none", m.encode(), None, MS_REMOUNT | MS_BIND, None) == 0]
    shell = os.system("umount -l /usr 2>/dev/null; mount -o remount,rw /usr 2>/dev/null; touch /usr/planted 2>/dev/null")
    try:
        open({str(planted)!r}, "w").write("print('owned')")
        wrote = True
    except OSError:
        wrote = False
    if undone or remounted or wrote or os.path.exists("/usr/planted"):
        raise Escaped(f"unmounted {{undone}}, remounted {{remounted}}, wrote {{wrote}}")
    return net
""")
    records, _ = run_in_sandbox(path, 1)
    assert_all_ok(records)
    assert not planted.exists() and not Path("/usr/planted").exists()


def test_no_new_user_namespace(run_in_sandbox, tmp_path):
    """A nested user namespace would give back every capability inside it."""
    path = attack_submission(tmp_path, """
import ctypes, subprocess

CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000


def unlearning(net, retain, forget, validation):
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0:
        raise Escaped("unshare(CLONE_NEWUSER) worked")
    if subprocess.run(["unshare", "-r", "true"], capture_output=True).returncode == 0:
        raise Escaped("unshare -r worked")
    capabilities = [line for line in open("/proc/self/status") if line.startswith("CapEff")][0].split()[1]
    if int(capabilities, 16):
        raise Escaped("capabilities left: " + capabilities)
    return net
""")
    assert_all_ok(run_in_sandbox(path, 1)[0])


def test_nothing_outside_can_be_written(run_in_sandbox, sandbox_inputs, tmp_path):
    """Cache, ledgers, results, the harness's source, the venv, /usr, /etc: nothing takes a file."""
    cache = sandbox_inputs[0]
    tag = uuid.uuid4().hex[:8]
    targets = [cache / f"planted_{tag}", tmp_path / "ledgers" / f"planted_{tag}", tmp_path / f"results_{tag}",
               package_folder("scoring") / f"planted_{tag}.py", Path(torch.__file__).parent / f"planted_{tag}.py",
               Path("/usr/lib") / f"planted_{tag}", Path("/etc") / f"planted_{tag}"]
    path = attack_submission(tmp_path, f"""
def unlearning(net, retain, forget, validation):
    written = []
    for target in {[str(t) for t in targets]!r}:
        try:
            open(target, "w").write("x")
            written.append(target)
        except OSError:
            pass
    if written:
        raise Escaped(f"wrote {{written}}")
    return net
""")
    assert_all_ok(run_in_sandbox(path, 1)[0])
    assert not any(target.exists() for target in targets)


def test_a_forged_ledger_does_not_land(run_in_sandbox, tmp_path):
    """Forging another submission's complete ledger would put any score on the board."""
    ledger_root = tmp_path / "ledgers"
    path = attack_submission(tmp_path, f"""
import os


def unlearning(net, retain, forget, validation):
    try:  # lands, if anywhere, in the sandbox's own /tmp, which no one else sees and which dies with it
        os.makedirs({str(ledger_root / "forged")!r}, exist_ok=True)
        open({str(ledger_root / "forged" / ("0" * 32 + ".parquet"))!r}, "wb").write(b"PAR1")
    except OSError:
        pass
    return net
""")
    assert_all_ok(run_in_sandbox(path, 1)[0])
    assert not (ledger_root / "forged").exists()


def test_a_project_under_a_scratch_folder_is_named_as_why_there_is_no_sandbox(monkeypatch):
    """/dev/shm is the sandbox's own scratch: a project cloned there would be hidden from its worker.
    The harness says so instead of trying (under /tmp it is sandboxed: test_sandbox_kernel.py)."""
    monkeypatch.setattr(isolation, "worker_folders", lambda: [Path("/dev/shm/checkout/harness")])
    reason = isolation.unavailable_reason.__wrapped__()  # not the cached answer for the real checkout
    assert reason is not None and "/dev/shm/checkout/harness lies under /dev/shm" in reason and "elsewhere" in reason


def test_host_processes_are_invisible(run_in_sandbox, tmp_path):
    """The host's /proc showed every command line (this test's own holds 'pytest')."""
    path = attack_submission(tmp_path, """
import os


def unlearning(net, retain, forget, validation):
    seen = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            seen.append(open(f"/proc/{pid}/cmdline", "rb").read())
        except OSError:
            pass
    if any(b"pytest" in line for line in seen) or len(seen) > 10:
        raise Escaped(f"{len(seen)} processes visible")
    if os.path.exists("/sys/fs/cgroup") or os.path.exists("/sys"):
        raise Escaped("/sys is visible")
    return net
""")
    assert_all_ok(run_in_sandbox(path, 1)[0])


# -- persistence: shared memory, SysV IPC, files, between runs -------------------------------------------------


def test_nothing_persists_between_runs(run_in_sandbox, tmp_path):
    """Each run checks for what the previous one left in every writable place, then leaves its own."""
    marker = f"left_by_a_run_{uuid.uuid4().hex[:8]}"
    path = attack_submission(tmp_path, f"""
import ctypes, os

libc = ctypes.CDLL(None, use_errno=True)
KEY, IPC_CREAT = 0x5EC12E7, 0o1000
PLACES = ["/dev/shm", "/tmp", os.path.expanduser("~"), os.getcwd()]
state = []  # module state: a fresh process per run starts it empty


def unlearning(net, retain, forget, validation):
    found = [place for place in PLACES if os.path.exists(os.path.join(place, {marker!r}))]
    if found or state or libc.shmget(KEY, 0, 0) >= 0 or libc.semget(KEY, 0, 0) >= 0 or libc.msgget(KEY, 0) >= 0:
        raise Escaped(f"state carried over: files in {{found}}, module state {{state}}, or an IPC object")
    for place in PLACES:
        open(os.path.join(place, {marker!r}), "w").write("x")
    makers = (lambda: libc.shmget(KEY, 4096, IPC_CREAT | 0o600), lambda: libc.semget(KEY, 1, IPC_CREAT | 0o600), lambda: libc.msgget(KEY, IPC_CREAT | 0o600))
    for make in makers:
        if make() < 0:
            raise OSError(ctypes.get_errno(), "could not make an IPC object")
    state.append(1)
    return net
""")
    assert_all_ok(run_in_sandbox(path, 3)[0])
    assert not any(Path(place, marker).exists() for place in ("/dev/shm", "/tmp"))
    assert "0x05ec12e7" not in subprocess.run(["ipcs"], capture_output=True, text=True).stdout.lower()


def test_host_unix_sockets_are_unreachable(run_in_sandbox, tmp_path):
    """A file-system socket and an abstract one, both listening on the host."""
    accepted: list[bytes] = []
    servers = []
    for address in (str(tmp_path / "host.sock"), f"\0unlearning-{uuid.uuid4().hex[:8]}"):
        server = socket.socket(socket.AF_UNIX)
        server.bind(address)
        server.listen()
        server.settimeout(20)
        servers.append((server, address))
        threading.Thread(target=lambda s=server: accepted.append(_accept(s)), daemon=True).start()
    path = attack_submission(tmp_path, f"""
import socket


def unlearning(net, retain, forget, validation):
    for address in {[address for _, address in servers]!r}:
        client = socket.socket(socket.AF_UNIX)
        try:
            client.connect(address)
        except OSError:
            continue
        client.sendall(b"stolen")
        raise Escaped("connected to " + repr(address))
    return net
""")
    assert_all_ok(run_in_sandbox(path, 1)[0])
    for server, _ in servers:
        server.close()
    assert not any(accepted)


def _accept(server: socket.socket) -> bytes:
    try:
        connection, _ = server.accept()
        return connection.recv(16) or b"connected"
    except OSError:
        return b""


def test_no_terminal_to_inject_into(run_in_sandbox, tmp_path):
    """TIOCSTI on a terminal the harness shares would type commands into the organiser's shell."""
    path = attack_submission(tmp_path, """
import fcntl, os, termios


def unlearning(net, retain, forget, validation):
    for fd in (0, 1, 2):
        try:
            fcntl.ioctl(fd, termios.TIOCSTI, b"x")
            raise Escaped(f"TIOCSTI worked on fd {fd}")
        except OSError:
            pass
    try:
        os.open("/dev/tty", os.O_RDWR)
    except OSError:
        pass
    else:
        raise Escaped("/dev/tty opened")
    if [name for name in os.listdir("/dev/pts") if name != "ptmx"]:
        raise Escaped("the host's terminals are listed")
    return net
""")
    assert_all_ok(run_in_sandbox(path, 1)[0])


def test_root_only_files_are_out_of_sight(run_in_sandbox, tmp_path):
    """The harness may run as root: a mode-600 secret of the host must stay unreadable."""
    secret = tmp_path / "organiser_secret.txt"
    secret.write_text("hunter2")
    secret.chmod(0o600)
    path = attack_submission(tmp_path, f"""
def unlearning(net, retain, forget, validation):
    for target in ({str(secret)!r}, "/etc/shadow", "/root/.bash_history", "/etc/passwd"):
        try:
            open(target).read()
        except OSError:
            continue
        raise Escaped("read " + target)
    return net
""")
    assert_all_ok(run_in_sandbox(path, 1)[0])


# -- exhaustion: processes, memory, shared memory --------------------------------------------------------------


def test_process_count_is_limited_and_nothing_is_left(run_in_sandbox, tmp_path):
    tag = f"{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**6}"
    path = attack_submission(tmp_path, f"""
import subprocess


def unlearning(net, retain, forget, validation):
    started = 0
    try:
        for _ in range(300):
            subprocess.Popen(["sleep", "{tag}"], start_new_session=True)
            started += 1
    except OSError:
        pass
    raise RuntimeError(f"started {{started}} processes")
""")
    records, _ = run_in_sandbox(path, 1)
    assert failure_classes(records) == ["exception"]
    started = int(records[0].message.split("RuntimeError: started ")[1].split()[0])
    assert started < MAX_PROCESSES
    assert subprocess.run(["pgrep", "-f", f"sleep {tag}"], capture_output=True).stdout == b""


def _cgroup_can_be_made() -> bool:
    """Whether this process may make a worker's cgroup: one is made, and removed at once."""
    cgroup = Cgroup.create(1 << 30)
    if cgroup is not None:
        cgroup.remove()
    return cgroup is not None


@pytest.mark.skipif(not _cgroup_can_be_made(), reason="no cgroup can be made here: total memory is not capped")
def test_total_memory_is_limited_over_children(run_in_sandbox, tmp_path):
    """Each child stays under its own address-space limit; together they pass the sandbox's total."""
    path = attack_submission(tmp_path, """
import multiprocessing


def hog(_):
    block = bytearray(700 << 20)  # zero-filled: every page touched; under each process's own limit
    return len(block)


def unlearning(net, retain, forget, validation):
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=hog, args=(i,)) for i in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    if all(process.exitcode == 0 for process in processes):
        raise Escaped("4 GiB held at once")
    return net
""")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    records, _ = run_in_sandbox(path, 1, memory_bytes=1 << 30)
    assert "Escaped" not in records[0].message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: the parent stayed flat


def test_shared_memory_is_limited(run_in_sandbox, tmp_path):
    path = attack_submission(tmp_path, """
def unlearning(net, retain, forget, validation):
    try:
        with open("/dev/shm/hoard", "wb") as hoard:
            for _ in range(100):
                hoard.write(bytes(1 << 20))
    except OSError:
        return net
    raise Escaped("100 MiB in /dev/shm")
""")
    assert_all_ok(run_in_sandbox(path, 1)[0])


def test_a_submission_in_tmp_runs(score_cli):
    folder = Path("/tmp") / f"unlearning-submission-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    try:
        (folder / "identity.py").write_text("def unlearning(net, retain, forget, validation):\n    return net\n")
        result, document = score_cli(folder / "identity.py", n_models=3)
        assert result.returncode == 0, result.stderr
        assert document["runs"]["ok"] == 3
    finally:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()


def test_the_worker_outlives_its_runs_attacks(run_in_sandbox, tmp_path):
    """Signals at the worker (process 1) and at every process in sight, SIGINT among them (Python handles it
    unless told to ignore it, and process 1 gets the signals it handles): the runs after still run."""
    path = attack_submission(tmp_path, """
import os, signal


def unlearning(net, retain, forget, validation):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) != os.getpid():
            for number in (signal.SIGINT, signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM):
                try:
                    os.kill(int(pid), number)
                except OSError:
                    pass
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    return net
""")
    assert_all_ok(run_in_sandbox(path, 3)[0])
