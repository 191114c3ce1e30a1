"""A prize-hunting participant against the wipe between runs (the fourth round): models stashed in the
extended attributes of a scratch root, in a chain of folders deeper than PATH_MAX, or in a module the
worker could import. Retraining once and returning the stash after would pass at a fraction of the
budget. Each hostile test judges from outside: a stash found by a later run raises `Escaped`, and the
number of workers the harness started says whether a worker was replaced. The wipe itself is tested
outside the sandbox, on the test's own folders.
"""

import os
from pathlib import Path
import subprocess
import sys
import uuid

import pytest

from conftest import ROOT, assert_all_ok, attack_submission
from harness.sandbox import parent, seccomp
from harness.sandbox.scratch import Scratch

sandboxed = pytest.mark.sandbox  # skipped where no sandbox can be built (conftest)
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_PATH_MAX = 4096


@pytest.fixture
def worker_starts(monkeypatch) -> list[str]:
    """The submission file of every sandbox worker the harness starts, in order."""
    started: list[str] = []
    start = parent.SandboxWorker.__init__

    def counted(self, setup, *args, **options):
        started.append(setup.submission)
        start(self, setup, *args, **options)

    monkeypatch.setattr(parent.SandboxWorker, "__init__", counted)
    return started


# -- the hostile side: through the real sandbox ----------------------------------------------------------------

_STASH_IN_ATTRIBUTES = """
import ctypes, os, struct

libc = ctypes.CDLL(None, use_errno=True)
ROOTS = ["/tmp", os.path.expanduser("~"), "/dev/shm"]
NAME, MODEL = b"user.model", b"a retrained model" * 1000
SETXATTRAT = 463  # Linux 6.13, the same number on x86-64 and arm64


class XattrArgs(ctypes.Structure):
    _fields_ = [("value", ctypes.c_uint64), ("size", ctypes.c_uint32), ("flags", ctypes.c_uint32)]


def stash(root):
    \"\"\"Every way to set an attribute on the root: the number of those that worked.\"\"\"
    worked = 0
    for call in (libc.setxattr, libc.lsetxattr):
        worked += call(root.encode(), NAME, MODEL, len(MODEL), 0) == 0
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    worked += libc.fsetxattr(fd, NAME, MODEL, len(MODEL), 0) == 0
    os.close(fd)
    value = ctypes.create_string_buffer(MODEL, len(MODEL))
    args = XattrArgs(ctypes.addressof(value), len(MODEL), 0)
    worked += libc.syscall(SETXATTRAT, -100, root.encode(), 0, NAME, ctypes.byref(args), ctypes.sizeof(args)) == 0
    with open(os.path.join(root, "acl"), "w"):
        pass
    entries = [(1, 6, 0xFFFFFFFF), (2, 6, os.getuid()), (4, 4, 0xFFFFFFFF), (0x10, 6, 0xFFFFFFFF), (0x20, 4, 0xFFFFFFFF)]
    access_acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)  # linux/posix_acl_xattr.h
    worked += libc.setxattr(os.path.join(root, "acl").encode(), b"system.posix_acl_access", access_acl, len(access_acl), 0) == 0
    return worked


def unlearning(net, retain, forget, validation):
    kept = {root: os.listxattr(root) for root in ROOTS if os.listxattr(root)}
    if kept:
        raise Escaped(f"attributes kept from an earlier run: {kept}")
    worked = {root: stash(root) for root in ROOTS}
    if any(worked.values()):
        raise Escaped(f"attributes set: {worked}")
    return net
"""


@sandboxed
def test_no_run_can_stash_in_extended_attributes(run_in_sandbox, worker_starts, tmp_path):
    """setxattr, lsetxattr, fsetxattr, setxattrat and an ACL on every scratch root are refused; the
    worker, which wiped a clean space, serves both runs."""
    path = attack_submission(tmp_path, _STASH_IN_ATTRIBUTES)
    assert_all_ok(run_in_sandbox(path, 2)[0])
    assert worker_starts == [str(path)]


@sandboxed
def test_a_stash_the_wipe_cannot_remove_gets_a_new_worker(run_in_sandbox, worker_starts, tmp_path, monkeypatch):
    """The wipe's own layer, with the filter's taken away: a filter that lets a run set attributes and
    denies the worker their removal. The root is then not clean after the run: the run still counts,
    and the next run starts in a new worker, where nothing is stashed."""
    denied = {name: numbers for name, numbers in seccomp._DENIED.items() if "setxattr" not in name}
    denied.update({"removexattr": (197, 14), "lremovexattr": (198, 15), "fremovexattr": (199, 16), "removexattrat": (466, 466)})
    monkeypatch.setattr(seccomp, "_DENIED", denied)
    path = attack_submission(tmp_path, """
import os


def unlearning(net, retain, forget, validation):
    if os.listxattr("/tmp"):
        raise Escaped("a model stashed by an earlier run in this worker")
    os.setxattr("/tmp", "user.model", b"a retrained model" * 1000)
    return net
""")
    records, log = run_in_sandbox(path, 2)
    assert_all_ok(records)
    assert worker_starts == [str(path)] * 2
    assert log.read_text().count("the next run gets a new worker") == 2


@sandboxed
def test_a_chain_of_folders_deeper_than_path_max_is_wiped(run_in_sandbox, worker_starts, tmp_path):
    """Run 1 hides a model at the bottom of a chain of folders 12 kB deep in each scratch folder, closed
    to its own user; every later run fails if it finds the chain."""
    tag = f"stash_{uuid.uuid4().hex[:8]}"
    path = attack_submission(tmp_path, f"""
import os

ROOTS = ["/tmp", os.path.expanduser("~"), "/dev/shm"]
FOLDER = os.O_RDONLY | os.O_DIRECTORY


def bury(root):
    here = os.open(root, FOLDER)
    for depth in range(60):
        name = f"{{depth:03d}}" + "d" * 197
        os.mkdir(name, dir_fd=here)
        below = os.open(name, FOLDER, dir_fd=here)
        os.close(here)
        here = below
    model = os.open("model", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=here)
    os.write(model, b"a retrained model")
    os.close(model)
    os.close(here)


def unlearning(net, retain, forget, validation):
    found = [root for root in ROOTS if os.path.lexists(os.path.join(root, {tag!r}))]
    if found:
        raise Escaped(f"a chain kept from an earlier run in {{found}}")
    for root in ROOTS:
        os.mkdir(os.path.join(root, {tag!r}))
        bury(os.path.join(root, {tag!r}))
        os.chmod(os.path.join(root, {tag!r}), 0)  # the wipe must give its own permissions back
    return net
""")
    assert_all_ok(run_in_sandbox(path, 3)[0])
    assert worker_starts == [str(path)]


@sandboxed
def test_nothing_a_run_writes_is_on_the_workers_import_path(run_in_sandbox, tmp_path):
    """A module left in the home or /tmp could be imported by the worker, which runs with Python's safe path (PYTHONSAFEPATH):
    the run, forked from it, has its import path."""
    path = attack_submission(tmp_path, """
import importlib.util, os, sys


def unlearning(net, retain, forget, validation):
    for folder in (os.getcwd(), "/tmp"):
        with open(os.path.join(folder, "stashed_module.py"), "w") as module:
            module.write("x = 1\\n")
    importlib.invalidate_caches()
    if importlib.util.find_spec("stashed_module") is not None:
        raise Escaped(f"a module the run wrote is importable: {sys.path}")
    return net
""")
    assert_all_ok(run_in_sandbox(path, 1)[0])


# -- the wipe itself, outside the sandbox ------------------------------------------------------------------------


def _bury(root: Path, depth: int = 60) -> Path:
    """A chain of folders deeper than PATH_MAX in a new folder `root`, with a file at the bottom; made by descriptors."""
    root.mkdir()
    here = os.open(root, _FOLDER)
    for level in range(depth):
        name = f"{level:03d}" + "d" * 197
        os.mkdir(name, dir_fd=here)
        below = os.open(name, _FOLDER, dir_fd=here)
        os.close(here)
        here = below
    os.close(os.open("model", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=here))
    os.close(here)
    return root


@pytest.mark.parametrize("base", ["tmp_path", "/dev/shm"])
def test_the_wipe_removes_deep_chains_attributes_and_closed_folders(base, tmp_path):
    """A scratch folder as a run leaves it: a chain 12 kB deep, attributes on the root and inside, a folder
    closed to its owner, a link out of it. Everything goes but the link's target, and the root is as found."""
    root = Path(tmp_path if base == "tmp_path" else base) / f"scratch-{uuid.uuid4().hex[:8]}"
    root.mkdir(mode=0o755)
    outside = tmp_path / "outside"
    outside.write_text("not the run's")
    try:
        scratch, before = Scratch.found(str(root)), root.stat().st_mode
        _bury(root / "stash")
        os.setxattr(root, "user.model", b"x" * 1000)
        os.setxattr(root / "stash", "user.model", b"x")
        (root / "closed" / "inner").mkdir(parents=True)
        (root / "closed" / "inner" / "file").write_text("x")
        (root / "closed").chmod(0)
        (root / "link").symlink_to(outside)
        (root / "folder-link").symlink_to(tmp_path)
        root.chmod(0o500)
        assert len(str(root)) + 60 * 201 > _PATH_MAX
        assert scratch.wipe()
        assert os.listdir(root) == [] and os.listxattr(root) == [] and root.stat().st_mode == before
        assert outside.read_text() == "not the run's"
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)


def test_a_scratch_folder_the_wipe_cannot_empty_is_reported(tmp_path):
    """A file the worker may not remove (immutable; only root can make one) leaves the folder unclean."""
    root = tmp_path / "scratch"
    root.mkdir()
    scratch = Scratch.found(str(root))
    stuck = root / "deep" / "stuck"
    stuck.parent.mkdir()
    stuck.write_text("x")
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i needs root and a file system that supports it")
    try:
        assert not scratch.wipe()
        assert stuck.exists()
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)


def test_the_wipe_leaves_mount_points_alone(tmp_path):
    """A project bound under /tmp: the wipe keeps the folders that lead to the mount point, and never
    enters it, and the folder counts as clean (a new mount namespace, as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    root = tmp_path / "scratch"
    (root / "a" / "project").mkdir(parents=True)
    script = f"""
import os, subprocess
from pathlib import Path
from harness.sandbox.scratch import Scratch

root = Path({str(root)!r})
scratch = Scratch.found(str(root))
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(root / "a" / "project")], check=True)
(root / "a" / "project" / "module.py").write_text("x = 1")
(root / "a" / "left").write_text("x")
os.setxattr(root / "a", "user.model", b"x")
(root / "other").mkdir()
clean = scratch.wipe()
print(clean, sorted(os.listdir(root)), os.listdir(root / "a"), os.listxattr(root / "a"), (root / "a" / "project" / "module.py").exists())
"""
    command = ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", script]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0 and "unshare" in result.stderr:
        pytest.skip(f"no mount namespace here: {result.stderr.strip()}")
    assert result.stdout.strip() == "True ['a'] ['project'] [] True", result.stderr
