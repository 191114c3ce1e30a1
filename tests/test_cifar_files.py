"""The CIFAR-10 reader: the arrays of the python batches, from Python 2 and 3 pickles and
wherever the tarball extracted to; damaged, foreign or code-running batches refused with
a message that says what is wrong and where; the fingerprint that keys their references."""

import os
import pickle
import shutil

import numpy as np
import pytest

from data_files import CIFAR10_CLASSES, PICKLE_STYLES, reader_error, same_data, write_cifar10
from reference_models.image_files import data_files, data_fingerprint, read_cifar10


def _dump(path, content) -> None:
    with open(path, "wb") as f:
        pickle.dump(content, f)


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    return write_cifar10(tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py")


def test_cifar10_arrays(cifar):
    train, held_out = read_cifar10(cifar)
    assert train.images.shape == (250, 32, 32, 3) and held_out.images.shape == (100, 32, 32, 3)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert train.images.flags.c_contiguous
    assert train.classes == held_out.classes == CIFAR10_CLASSES
    assert set(train.labels) == set(range(10))


def test_cifar10_rows_are_red_then_green_then_blue_planes(cifar):
    with open(cifar / "data_batch_2", "rb") as f:
        raw = pickle.load(f, encoding="bytes")  # our own test file
    train, _ = read_cifar10(cifar)
    first = 50  # data_batch_2 follows the 50 rows of data_batch_1
    planes = raw[b"data"][3].reshape(3, 32, 32)
    assert np.array_equal(train.images[first + 3], planes.transpose(1, 2, 0))
    assert train.images[first + 3, 5, 7, 2] == raw[b"data"][3][2 * 1024 + 5 * 32 + 7]
    assert list(train.labels[first : first + 50]) == raw[b"labels"]


@pytest.mark.parametrize("style", PICKLE_STYLES)
def test_cifar10_pickles_from_python_2_and_3(cifar, tmp_path, style):
    assert all(map(same_data, read_cifar10(write_cifar10(tmp_path, style=style)), read_cifar10(cifar)))


def test_cifar10_from_the_folder_the_tarball_extracts_to(cifar):
    assert all(map(same_data, read_cifar10(cifar.parent), read_cifar10(cifar)))


def test_cifar10_without_meta_has_numbered_classes(cifar, tmp_path):
    shutil.copytree(cifar, tmp_path / "c")
    (tmp_path / "c" / "batches.meta").unlink()
    train, held_out = read_cifar10(tmp_path / "c")
    assert train.classes == held_out.classes == tuple("0123456789")


def test_cifar10_missing_directory(tmp_path):
    message = reader_error(read_cifar10, tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in message and "not a directory" in message
    assert "data_batch_1 ... data_batch_5 and test_batch" in message


def test_cifar10_empty_directory(tmp_path):
    message = reader_error(read_cifar10, tmp_path)
    assert message.startswith(f"{tmp_path} has no CIFAR-10 batches: expected data_batch_1 ... data_batch_5 and test_batch")
    assert "python version" in message and "cifar-10-python.tar.gz" in message
    assert "extract" in message and "tar xzf" not in message


def test_cifar10_unextracted_tarball(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"")
    assert f"tar xzf {tmp_path / 'cifar-10-python.tar.gz'}" in reader_error(read_cifar10, tmp_path)


def test_cifar10_missing_batches_are_named(cifar, tmp_path):
    inner = shutil.copytree(cifar, tmp_path / "cifar-10-batches-py")
    (inner / "data_batch_4").unlink()
    (inner / "test_batch").unlink()
    message = reader_error(read_cifar10, tmp_path)
    assert message.startswith(f"{inner} lacks the CIFAR-10 batches") and "data_batch_4, test_batch" in message and "data_batch_3" not in message


def _broken_batch(cifar, tmp_path, content):
    shutil.copytree(cifar, tmp_path / "c")
    if isinstance(content, bytes):
        (tmp_path / "c" / "data_batch_3").write_bytes(content)
    else:
        _dump(tmp_path / "c" / "data_batch_3", content)
    message = reader_error(read_cifar10, tmp_path / "c")
    assert message.startswith(f"{tmp_path / 'c' / 'data_batch_3'} is not a CIFAR-10 batch: ")
    return message


def test_cifar10_damaged_batch(cifar, tmp_path):
    _broken_batch(cifar, tmp_path, b"not a pickle at all")


def test_cifar10_batch_of_another_kind(cifar, tmp_path):
    assert "list" in _broken_batch(cifar, tmp_path, [1, 2, 3])
    message = _broken_batch(cifar, tmp_path / "2", {"data": np.zeros((2, 3072), np.uint8), "fine_labels": [0, 1]})
    assert "data and labels" in message and "fine_labels" in message


def test_cifar10_batch_with_wrong_pixels(cifar, tmp_path):
    message = _broken_batch(cifar, tmp_path, {b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]})
    assert "uint8 [n, 3072]" in message and "[2, 1024]" in message
    message = _broken_batch(cifar, tmp_path / "2", {b"data": np.zeros((2, 3072)), b"labels": [0, 1]})
    assert "float64" in message


def test_cifar10_batch_with_wrong_labels(cifar, tmp_path):
    data = np.zeros((2, 3072), np.uint8)
    assert "0..12" in _broken_batch(cifar, tmp_path, {b"data": data, b"labels": [0, 12]})
    assert "labels of shape [3]" in _broken_batch(cifar, tmp_path / "2", {b"data": data, b"labels": [0, 1, 2]})
    assert "not integers" in _broken_batch(cifar, tmp_path / "3", {b"data": data, b"labels": ["cat", "dog"]})


def test_cifar10_malformed_meta(cifar, tmp_path):
    shutil.copytree(cifar, tmp_path / "c")
    _dump(tmp_path / "c" / "batches.meta", {b"label_names": 7})
    message = reader_error(read_cifar10, tmp_path / "c")
    assert message.startswith(f"{tmp_path / 'c' / 'batches.meta'} is not CIFAR-10's batches.meta: expected label_names")
    (tmp_path / "c" / "batches.meta").write_bytes(b"damaged")
    assert reader_error(read_cifar10, tmp_path / "c").startswith(f"{tmp_path / 'c' / 'batches.meta'} is not CIFAR-10's batches.meta: ")


class _RunsCode:
    """What a malicious pickle does: call a function while unpickling."""

    def __init__(self, function, *args):
        self.call = (function, args)

    def __reduce__(self):
        return self.call


@pytest.mark.parametrize("style", ["reduce", "inside-labels"])
def test_cifar10_pickles_that_would_run_code_are_refused(cifar, tmp_path, style):
    proof = tmp_path / "pwned"
    payload = _RunsCode(os.system, f"touch {proof}")
    content = payload if style == "reduce" else {b"data": np.zeros((1, 3072), np.uint8), b"labels": [payload]}
    message = _broken_batch(cifar, tmp_path, content)
    assert "system" in message and "only numpy arrays are allowed" in message
    assert not proof.exists()
    assert "eval" in _broken_batch(cifar, tmp_path / "2", _RunsCode(eval, "print('pwned')"))


def test_cifar10_data_files(cifar):
    names = [p.name for p in data_files(cifar.parent, "cifar10")]
    assert names == [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    assert all(p.parent == cifar for p in data_files(cifar.parent, "cifar10"))


def test_fingerprint_of_cifar10(cifar, tmp_path):
    reference = data_fingerprint(data_files(cifar, "cifar10"))
    copy = shutil.copytree(cifar, tmp_path / "copy")
    assert data_fingerprint(data_files(copy, "cifar10")) == reference
    with open(copy / "test_batch", "r+b") as f:
        f.seek(500)
        byte = f.read(1)
        f.seek(500)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert data_fingerprint(data_files(copy, "cifar10")) != reference
