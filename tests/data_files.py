"""Tiny image data sets on disk, in the formats of the real ones, for tests of readers and benchmarks.

Each class has its own colour and stripe pattern under per-image noise, so a
small model learns them well above chance in a few CPU epochs, while no two
images are alike.
"""

from pathlib import Path
import pickle
import struct

import numpy as np
from PIL import Image
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from reference_models.image_files import DataDirError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
PICKLE_STYLES = ("python2", "bytes", "str")


class _Python2Pickler(pickle._Pickler):
    """Pickles as Python 2 wrote CIFAR-10's files: every string as a byte string
    (SHORT_BINSTRING, read back as bytes with encoding="bytes") and numpy's
    functions under numpy 1's module names. Uses the pure-Python pickler, whose
    dispatch table can be overridden."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_byte_string(self, obj: bytes | str) -> None:
        data = obj.encode("ascii") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_byte_string
    dispatch[str] = save_byte_string

    def save_global(self, obj, name=None) -> None:
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)


def _dump(path: Path, content: dict, style: str) -> None:
    """Write a dict with bytes keys as CIFAR-10's Python 2 files are, or as Python 3 would ("bytes" or "str" keys)."""
    with open(path, "wb") as f:
        if style == "python2":
            _Python2Pickler(f, protocol=2).dump(content)
        elif style == "bytes":
            pickle.dump(content, f)
        elif style == "str":
            pickle.dump({key.decode(): value for key, value in content.items()}, f)
        else:
            raise ValueError(f"unknown pickle style {style!r}; known: {', '.join(PICKLE_STYLES)}")


def _palette(num_classes: int) -> np.ndarray:
    """A distinct colour per class, spread around the hue circle."""
    hues = np.arange(num_classes) / num_classes
    phases = 2 * np.pi * (hues[:, None] + np.array([0.0, 1 / 3, 2 / 3]))
    return 128 + 80 * np.cos(phases)


def learnable_images(labels: np.ndarray, num_classes: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 [n, size, size, 3]: each class's colour with its own stripes (direction and period), plus noise."""
    y, x = np.mgrid[0:size, 0:size]
    colours = _palette(num_classes)
    images = np.empty((len(labels), size, size, 3))
    for i, label in enumerate(labels):
        period = 2 + label % 3
        coordinate = (x, y, x + y)[label % 3]
        stripes = 40 * (((coordinate + rng.integers(period)) // period) % 2 * 2 - 1)
        images[i] = colours[label] + stripes[..., None] + rng.normal(0, 25, (size, size, 3))
    return np.clip(images, 0, 255).round().astype(np.uint8)


def _cifar10_batch(images: np.ndarray, labels: np.ndarray, name: str) -> dict:
    """A batch as CIFAR-10 stores it: rows of 1024 red, 1024 green, then 1024 blue values."""
    return {
        b"batch_label": name.encode(),
        b"labels": [int(label) for label in labels],
        b"data": np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1)),
        b"filenames": [f"{name.replace(' ', '_')}_{i:05d}.png".encode() for i in range(len(images))],
    }


def write_cifar10(directory: Path, n_train: int = 250, n_test: int = 100, seed: int = 0, *, style: str = "python2") -> Path:
    """A tiny CIFAR-10 python-format directory (data_batch_1..5, test_batch, batches.meta); returns it.

    `style`: "python2" pickles exactly as the real files are, "bytes" and
    "str" as Python 3 would, with bytes or str keys.
    """
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    labels = rng.permutation(np.arange(n_train + n_test) % 10)
    images = learnable_images(labels, 10, 32, rng)
    train_parts = np.array_split(np.arange(n_train), 5)
    for i, rows in enumerate(train_parts, start=1):
        _dump(directory / f"data_batch_{i}", _cifar10_batch(images[rows], labels[rows], f"training batch {i} of 5"), style)
    test = np.arange(n_train, n_train + n_test)
    _dump(directory / "test_batch", _cifar10_batch(images[test], labels[test], "testing batch 1 of 1"), style)
    meta = {b"num_cases_per_batch": len(train_parts[0]), b"label_names": [name.encode() for name in CIFAR10_CLASSES], b"num_vis": 3072}
    _dump(directory / "batches.meta", meta, style)
    return directory


def write_image_folder(
    directory: Path, classes: tuple[str, ...] = ("young", "middle", "old"), per_class: int = 20, size: int = 12, seed: int = 0
) -> Path:
    """PNGs in one subfolder per class (directory/old/0003.png); returns the directory."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        (directory / name).mkdir(parents=True, exist_ok=True)
        images = learnable_images(np.full(per_class, label), len(classes), size, rng)
        for i, image in enumerate(images):
            Image.fromarray(image).save(directory / name / f"{i:04d}.png")
    return directory


def write_manifest(directory: Path, kind: str = "csv") -> Path:
    """directory/manifest.csv or .parquet over the images of a class-folder tree: path (relative) and label (class name)."""
    rows = sorted(p.relative_to(directory).as_posix() for p in directory.glob("*/*.png"))
    table = pa.table({"path": rows, "label": [row.split("/")[0] for row in rows]})
    path = directory / f"manifest.{kind}"
    if kind == "csv":
        pa_csv.write_csv(table, path)
    elif kind == "parquet":
        pq.write_table(table, path)
    else:
        raise ValueError(f"unknown manifest kind {kind!r}; known: csv, parquet")
    return path


def same_data(a, b) -> bool:
    """Two readers' results hold the same images, labels and classes."""
    return np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels) and a.classes == b.classes


def reader_error(reader, *args) -> str:
    """The message of the DataDirError that `reader(*args)` must raise."""
    with pytest.raises(DataDirError) as caught:
        reader(*args)
    return str(caught.value)


def write_faces(directory: Path, persons: int = 40, per_person: int = 8, size: int = 32, seed: int = 0) -> Path:
    """A face-like folder as the NeurIPS 2023 example reads it: PNGs and faces.csv with the columns path,
    person_id and age (years, 10 to 79). Each person has one age; the images carry their age group's
    colour and stripes (ten groups, as the competition binned ages), so that a model can learn them."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    ages = np.repeat(rng.integers(10, 80, persons), per_person)
    ids = np.repeat(np.arange(100, 100 + persons), per_person)  # not from 0: the first ids are the ones a fixed choice takes
    images = learnable_images((ages - 10) // 7, 10, size, rng)
    paths = []
    for i, image in enumerate(images):
        paths.append(f"images/{ids[i]}_{i:04d}.png")
        (directory / "images").mkdir(exist_ok=True)
        Image.fromarray(image).save(directory / paths[-1])
    pa_csv.write_csv(pa.table({"path": paths, "person_id": ids, "age": ages}), directory / "faces.csv")
    return directory
