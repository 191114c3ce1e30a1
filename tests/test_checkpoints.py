"""Checkpoint archives as a participant could hand them over (issue 39): read in memory, never extracted;
a hostile member is a failed run with its reason, a hostile archive a clear refusal, and nothing is
written anywhere. Each case is judged from outside: the folder's listing, a marker file, the reason given."""

import hashlib
import io
import os
from pathlib import Path
import stat
import zipfile

import pytest
import torch

from harness.submissions import checkpoints as checkpoints_module
from harness.submissions.checkpoints import Checkpoint, CheckpointLimits, read_checkpoints, run_order
from harness.submissions.untrusted import SubmissionRefused


def _state_dict_bytes(seed: int) -> bytes:
    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save(torch.nn.Linear(4, 2).state_dict(), buffer)
    return buffer.getvalue()


def _zip(path: Path, members: dict[str, bytes], infos: tuple[zipfile.ZipInfo, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for info in infos:
            archive.writestr(info, b"/work/main/.cache/references/secret")
    return path


def _tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


@pytest.fixture
def read():
    """read_checkpoints, each archive it opens closed after the test."""
    opened = []

    def reading(path: Path, limits: CheckpointLimits | None = None):
        opened.append(read_checkpoints(path, limits or CheckpointLimits()))
        return opened[-1]

    yield reading
    for found in opened:
        found.close()


def _reasons(found) -> dict[str, str | None]:
    """Why each checkpoint has no bytes (None: it has), as its run would be told."""
    return {checkpoint.name: found.payload(checkpoint.run)[1] for checkpoint in found.runs}


def _payloads(found) -> dict[str, bytes | None]:
    return {checkpoint.name: found.payload(checkpoint.run)[0] for checkpoint in found.runs}


def test_kaggle_names_are_runs_in_the_order_of_their_numbers(tmp_path, read):
    """Kaggle's notebook wrote unlearned_checkpoint_{i}.pth: run i is file i, whatever the zip's order."""
    members = {f"unlearned_checkpoint_{i}.pth": _state_dict_bytes(i) for i in (10, 2, 0, 1)}
    found = read(_zip(tmp_path / "submission.zip", members))
    assert [(c.run, c.name) for c in found.runs] == [
        (0, "unlearned_checkpoint_0.pth"), (1, "unlearned_checkpoint_1.pth"), (2, "unlearned_checkpoint_2.pth"), (3, "unlearned_checkpoint_10.pth")]
    assert _payloads(found) == members and set(_reasons(found).values()) == {None}
    assert torch.load(io.BytesIO(found.payload(3)[0]), weights_only=True)["weight"].shape == (2, 4)


def test_names_without_distinct_numbers_run_in_name_order():
    assert run_order(["b.pth", "a.pth", "c1.pt"]) == ["a.pth", "b.pth", "c1.pt"]
    assert run_order(["model_3.pt", "copy_3.pt"]) == ["copy_3.pt", "model_3.pt"]  # one number twice: by name
    assert run_order(["m9.pth", "m10.pth", "m1.pth"]) == ["m1.pth", "m9.pth", "m10.pth"]


def test_members_that_climb_out_link_or_are_devices_are_failed_runs_and_nothing_is_written(tmp_path, monkeypatch, read):
    folder = tmp_path / "in"
    folder.mkdir()
    monkeypatch.chdir(folder)
    link = zipfile.ZipInfo("ckpt_2.pth")
    link.create_system, link.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
    device = zipfile.ZipInfo("ckpt_3.pth")
    device.create_system, device.external_attr = 3, (stat.S_IFCHR | 0o666) << 16
    archive = _zip(folder / "hostile.zip", {"ckpt_0.pth": _state_dict_bytes(0), "../../ckpt_1.pth": _state_dict_bytes(1),
                                             "/tmp/ckpt_4.pth": _state_dict_bytes(4), "C:\\ckpt_5.pth": _state_dict_bytes(5)}, (link, device))
    before = _tree(tmp_path)
    found = read(archive)
    assert _reasons(found) == {
        "ckpt_0.pth": None,
        "../../ckpt_1.pth": "its path leaves the archive's folder",
        "ckpt_2.pth": "it is a symbolic link",
        "ckpt_3.pth": "it is not a regular file",
        "/tmp/ckpt_4.pth": "its path leaves the archive's folder",
        "C:\\ckpt_5.pth": "its path leaves the archive's folder",
    }
    assert [payload is not None for payload in _payloads(found).values()] == [True, False, False, False, False, False]
    assert _tree(tmp_path) == before and not Path("/tmp/ckpt_4.pth").exists()


def test_a_bomb_stops_at_the_declared_size_and_a_lying_header_is_a_damaged_member(tmp_path, read):
    limits = CheckpointLimits(max_member_bytes=1 << 20)
    bomb = _zip(tmp_path / "bomb.zip", {"ckpt_0.pth": _state_dict_bytes(0), "ckpt_1.pth": bytes(64 << 20)})
    assert bomb.stat().st_size < 200_000  # 64 MiB of zeros in under 200 kB
    found = read(bomb, limits)
    assert _reasons(found)["ckpt_1.pth"] == f"it expands to {64 << 20:,} bytes, over the {1 << 20:,} a checkpoint may"
    assert found.payload(1)[0] is None

    liar = _zip(tmp_path / "liar.zip", {"ckpt_0.pth": bytes(8 << 20)})
    data = bytearray(liar.read_bytes())
    entry = data.index(b"PK\x01\x02")  # the central directory's record, which zipfile trusts for the size
    data[entry + 24 : entry + 28] = (1000).to_bytes(4, "little")
    liar.write_bytes(bytes(data))
    payload, reason = read(liar, limits).payload(0)  # its listing passes: it fails as it is read
    assert payload is None and reason.startswith("it cannot be decompressed")


@pytest.mark.parametrize("case, message", [
    ("too many", "holds more than 3 members"),
    ("too large", "bytes of checkpoints, over the 1,000 accepted"),
    ("twice", "holds two members named 'ckpt_0.pth'"),
    ("not a zip", "is not a zip archive"),
    ("no checkpoint", "holds no checkpoint"),
])
def test_archives_that_cannot_be_read_whole_are_refused(tmp_path, case, message):
    limits = CheckpointLimits(max_members=3, max_total_bytes=1000)
    path = tmp_path / "submission.zip"
    if case == "too many":
        _zip(path, {f"ckpt_{i}.pth": b"x" for i in range(4)})
    elif case == "too large":
        _zip(path, {"ckpt_0.pth": bytes(600), "ckpt_1.pth": bytes(600)})
    elif case == "twice":
        with pytest.warns(UserWarning, match="Duplicate name"):
            _zip(path, {"ckpt_0.pth": b"a"}, (zipfile.ZipInfo("ckpt_0.pth"),))
    elif case == "not a zip":
        path.write_bytes(os.urandom(4096))
    else:
        _zip(path, {"README.md": b"my method"})
    with pytest.raises(SubmissionRefused, match=message):
        read_checkpoints(path, limits)


def test_a_pickle_that_runs_code_is_only_read_as_bytes(tmp_path, read):
    """Unpickling is the sandbox's job: reading the archive runs nothing, whatever the member holds."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    buffer = io.BytesIO()
    torch.save({"weight": Payload()}, buffer)
    found = read(_zip(tmp_path / "evil.zip", {"ckpt_0.pth": buffer.getvalue(), "notes.txt": b"hello"}))
    assert found.runs == (Checkpoint(0, "ckpt_0.pth"),) and found.payload(0) == (buffer.getvalue(), None) and found.ignored == ("notes.txt",)
    assert not marker.exists()


def test_a_folder_of_checkpoints_refuses_links_fifos_and_hard_links_by_name(tmp_path, read):
    secret = tmp_path / "secret"
    secret.write_bytes(b"5eed" * 16)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "ckpt_0.pth").write_bytes(_state_dict_bytes(0))
    (folder / "ckpt_1.pth").symlink_to(secret)
    os.mkfifo(folder / "ckpt_2.pth")
    os.link(secret, folder / "ckpt_3.pth")
    (folder / "ckpt_4.pth").write_bytes(bytes(4000))
    (folder / "notes.txt").write_text("how I unlearned")
    found = read(folder, CheckpointLimits(max_member_bytes=3000))
    assert _reasons(found) == {
        "ckpt_0.pth": None,
        "ckpt_1.pth": "is a symbolic link: submit the file itself",
        "ckpt_2.pth": "is not a regular file: submit the file itself",
        "ckpt_3.pth": "is a hard link (2 names for one file): submit a copy of the file",
        "ckpt_4.pth": "holds 4,000 bytes, over the 3,000 a checkpoint may: save each run's net.state_dict(), or ask the organiser for a larger cap",
    }
    assert found.ignored == ("notes.txt",)
    assert all(b"5eed" not in (payload or b"") for payload in _payloads(found).values())


def test_a_linked_archive_or_folder_is_refused(tmp_path):
    real = _zip(tmp_path / "real.zip", {"ckpt_0.pth": b"x"})
    (tmp_path / "linked.zip").symlink_to(real)
    (tmp_path / "linked").symlink_to(tmp_path)
    for name in ("linked.zip", "linked"):
        with pytest.raises(SubmissionRefused, match="is a symbolic link"):
            read_checkpoints(tmp_path / name)


def test_a_zips_ledger_key_is_its_own_bytes_hashed_without_inflating_a_member(tmp_path, read, monkeypatch):
    """The key is read before any run: inflating every member for it would double the cost of a 23 GB archive."""
    path = _zip(tmp_path / "submission.zip", {f"ckpt_{i}.pth": _state_dict_bytes(i) for i in range(3)})
    inflated = []
    monkeypatch.setattr(checkpoints_module, "_read_member", lambda archive, info, limits: inflated.append(info.filename) or b"weights")
    found = read(path)
    assert found.sha256() == hashlib.sha256(path.read_bytes()).hexdigest() and inflated == []
    assert found.payload(1) == (b"weights", None) and inflated == ["ckpt_1.pth"]  # the archive is still read from after hashing
    other = read(_zip(tmp_path / "other.zip", {f"ckpt_{i}.pth": _state_dict_bytes(i + 1) for i in range(3)}))
    assert other.sha256() != found.sha256()
