"""The workers' cgroups are removed: by the worker that closes, its processes killed if they outlive it, and,
for those of a harness that died first, by the next harness's sweep of empty ones."""

import os
import subprocess
import time

import pytest

from harness.sandbox.limits import Cgroup, remove_stale


def _gone_pid() -> int:
    """The pid of a process that has ended (and been waited for)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_the_sweep_removes_only_the_empty_cgroups_of_harnesses_that_are_gone(tmp_path):
    """The cgroup root stands in a temporary folder: an empty folder is what rmdir removes, as an empty cgroup."""
    gone, live = _gone_pid(), os.getpid()
    stale = [tmp_path / f"unlearning-{gone}-0123abcd", tmp_path / "pids" / f"unlearning-{gone}-89abcdef"]
    kept = [
        tmp_path / f"unlearning-{live}-0123abcd",  # a live harness's, empty until its worker joins it
        tmp_path / "unlearning-other",  # not a name the harness makes
        tmp_path / f"unlearning-{gone}-0123abcd-x",
        tmp_path / "system.slice",
        tmp_path / "memory" / f"unlearning-{gone}-fedcba98",  # populated: stands for a cgroup that holds processes
    ]
    for folder in stale + kept:
        folder.mkdir(parents=True)
    (kept[-1] / "cgroup.procs").write_text("1\n")
    assert sorted(remove_stale(tmp_path)) == sorted(stale)
    assert not any(folder.exists() for folder in stale) and all(folder.exists() for folder in kept)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root makes cgroups at the root of the hierarchy")
def test_a_cgroup_is_removed_though_a_process_outlived_its_worker():
    cgroup = Cgroup.create(1 << 30)
    if cgroup is None:
        pytest.skip("no cgroup can be made here")
    straggler = subprocess.Popen(["sleep", "60"])
    try:
        for procs in cgroup.procs_files:
            procs.write_text(str(straggler.pid))
        start = time.monotonic()
        cgroup.remove()
        assert not any(folder.exists() for folder in cgroup.folders) and time.monotonic() - start < 5
        assert straggler.wait(timeout=5) == -9
    finally:
        straggler.kill()
        straggler.wait()
