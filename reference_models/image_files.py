"""Readers for image data sets that the organiser has on disk, with errors that say what is wrong.

Real benchmarks (CIFAR-10, an age-group image folder like the competition's)
are read from files the organiser downloaded once; nothing here downloads.
A data directory in the wrong shape is the most likely first mistake, so
every error names the path and what was expected there.

CIFAR-10's python version is a set of pickles. Unpickling can run arbitrary
code, so batches are read by an unpickler that resolves only the numpy names
an array needs and refuses everything else.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
import hashlib
import os
from pathlib import Path
import pickle

import numpy as np
from PIL import Image
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from reference_models.errors import InputError
from reference_models.spec import ManifestColumns

CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"
CIFAR10_META = "batches.meta"
CIFAR10_SUBDIR = "cifar-10-batches-py"
CIFAR10_SIDE = 32
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # torchvision's
PLAIN_COLUMNS = ManifestColumns()  # a manifest's columns unless a competition file names others
_KINDS = ("cifar10", "imagefolder")
_CIFAR10_EXPECTED = (
    f"expected {CIFAR10_TRAIN_BATCHES[0]} ... {CIFAR10_TRAIN_BATCHES[-1]} and {CIFAR10_TEST_BATCH} "
    "(the python version of CIFAR-10, extracted from cifar-10-python.tar.gz)"
)
_FOLDER_EXPECTED = (
    "expected a folder with one subfolder of images per class (e.g. cat/0001.png), "
    "or a .csv or .parquet manifest with the columns path and label (and optionally age and person_id; a competition file may name others)"
)


class DataDirError(InputError):
    """A data directory or manifest is missing or malformed; the message names what was expected and where."""


@dataclass(frozen=True)
class ImageArrays:
    """Images as one uint8 array [N, H, W, 3] (RGB), labels int64 [N] indexing `classes`,
    and a manifest's ages and person ids (int64 [N]) where it has them."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    ages: np.ndarray | None = None
    person_ids: np.ndarray | None = None


# ---------------------------------------------------------------- CIFAR-10

_ARRAY = np.zeros(1, dtype=np.uint8)
# The functions a pickled array is rebuilt with, whatever numpy calls their module.
_ALLOWED_GLOBALS = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _ARRAY.__reduce__()[0] for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _ARRAY.__reduce_ex__(5)[0] for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and numpy arrays, and nothing that could run code."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"it refers to {module}.{name}, and only numpy arrays are allowed in CIFAR-10's pickles"
            ) from None


def _unpickle(path: Path, what: str) -> dict[str, object]:
    """A pickled dict with its keys as str (Python 2 wrote them as bytes); `what` it should be, for errors."""
    with open(path, "rb") as f:
        try:
            content = _ArrayUnpickler(f, encoding="bytes").load()
        except Exception as error:  # a damaged or foreign pickle fails in many ways
            raise DataDirError(f"{path} is not {what}: {error}") from None
    if not isinstance(content, dict):
        raise DataDirError(f"{path} is not {what}: it holds a {type(content).__name__}, not a dict")
    return {key.decode("latin-1") if isinstance(key, bytes) else key: value for key, value in content.items()}


def _cifar10_root(directory: Path) -> Path:
    """The folder holding the batches: `directory` itself or its cifar-10-batches-py."""
    if not directory.is_dir():
        raise DataDirError(f"{directory} is not a directory: {_CIFAR10_EXPECTED}")
    names = (*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH)
    for root in (directory, directory / CIFAR10_SUBDIR):
        missing = [name for name in names if not (root / name).is_file()]
        if not missing:
            return root
        if len(missing) < len(names):
            raise DataDirError(f"{root} lacks the CIFAR-10 batches {', '.join(missing)}: {_CIFAR10_EXPECTED}")
    hint = ""
    if (directory / "cifar-10-python.tar.gz").is_file():
        hint = f"; extract it first: tar xzf {directory / 'cifar-10-python.tar.gz'} -C {directory}"
    raise DataDirError(f"{directory} has no CIFAR-10 batches: {_CIFAR10_EXPECTED}{hint}")


def _read_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images [n, 32, 32, 3] and labels [n] of one batch, checked."""
    batch = _unpickle(path, "a CIFAR-10 batch")
    data, labels = batch.get("data"), batch.get("labels")
    if data is None or labels is None:
        raise DataDirError(f"{path} is not a CIFAR-10 batch: expected the keys data and labels, found {', '.join(map(str, batch)) or 'none'}")
    pixels = 3 * CIFAR10_SIDE * CIFAR10_SIDE
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != pixels:
        found = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataDirError(f"{path} is not a CIFAR-10 batch: data should be uint8 [n, {pixels}], found {found}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as error:
        raise DataDirError(f"{path} is not a CIFAR-10 batch: labels are not integers ({error})") from None
    if labels.shape != (len(data),):
        raise DataDirError(f"{path} is not a CIFAR-10 batch: {len(data)} images but labels of shape {list(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataDirError(f"{path} is not a CIFAR-10 batch: labels range over {labels.min()}..{labels.max()}, expected 0..{num_classes - 1}")
    # Rows hold 1024 red, then 1024 green, then 1024 blue values, each a row-major 32x32 plane.
    images = data.reshape(-1, 3, CIFAR10_SIDE, CIFAR10_SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _cifar10_classes(root: Path) -> tuple[str, ...]:
    """Label names from batches.meta, or "0".."9" without it."""
    path = root / CIFAR10_META
    if not path.is_file():
        return tuple(str(i) for i in range(10))
    names = _unpickle(path, "CIFAR-10's batches.meta").get("label_names")
    if not isinstance(names, list) or not names or not all(isinstance(name, (bytes, str)) for name in names):
        raise DataDirError(f"{path} is not CIFAR-10's batches.meta: expected label_names, a list of strings")
    return tuple(name.decode() if isinstance(name, bytes) else name for name in names)


def _cifar10_part(root: Path, names: Iterable[str], classes: tuple[str, ...]) -> ImageArrays:
    parts = [_read_batch(root / name, len(classes)) for name in names]
    return ImageArrays(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), classes)


def read_cifar10(directory: Path) -> tuple[ImageArrays, ImageArrays]:
    """(train, held_out): data_batch_1..5 and test_batch of CIFAR-10's python-pickle format.

    `directory` is cifar-10-batches-py or the folder the tarball was extracted in.
    """
    root = _cifar10_root(Path(directory))
    classes = _cifar10_classes(root)
    return _cifar10_part(root, CIFAR10_TRAIN_BATCHES, classes), _cifar10_part(root, [CIFAR10_TEST_BATCH], classes)


# ---------------------------------------------------------------- image folders


@dataclass(frozen=True)
class _Listing:
    """The images of a folder or manifest, their labels, and the manifest itself if any."""

    files: list[Path]
    labels: np.ndarray
    classes: tuple[str, ...]
    manifest: Path | None
    ages: np.ndarray | None = None
    person_ids: np.ndarray | None = None


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _images_under(folder: Path) -> list[Path]:
    """Image files at any depth below `folder`, sorted; links followed as torchvision does, hidden folders skipped."""
    found = []
    for root, folders, names in os.walk(folder, followlinks=True):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [Path(root) / name for name in names]
    return sorted(p for p in found if _is_image(p))


def _list_class_folders(folder: Path) -> _Listing:
    """Like torchvision's ImageFolder: sorted subfolder names are the classes; hidden ones are skipped."""
    classes = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if not classes:
        loose = " (its images lie directly in it)" if any(_is_image(p) for p in folder.iterdir()) else ""
        raise DataDirError(f"{folder} has no class subfolders{loose}: {_FOLDER_EXPECTED}")
    _require_two_classes(folder, classes)
    files, labels = [], []
    for label, name in enumerate(classes):
        images = _images_under(folder / name)
        if not images:
            raise DataDirError(f"class folder {folder / name} has no images: expected files ending in {', '.join(IMAGE_EXTENSIONS)}")
        files += images
        labels += [label] * len(images)
    return _Listing(files, np.asarray(labels, dtype=np.int64), classes, None)


def _require_two_classes(source: Path, classes: tuple[str, ...]) -> None:
    if len(classes) < 2:
        raise DataDirError(f"{source} has only one class, {', '.join(classes)}: a classification data set needs at least 2")


def _read_manifest_table(manifest: Path, path_column: str) -> pa.Table:
    try:
        if manifest.suffix.lower() == ".csv":
            return pa_csv.read_csv(manifest, convert_options=pa_csv.ConvertOptions(column_types={path_column: pa.string()}))
        return pq.read_table(manifest)
    except (pa.ArrowException, OSError) as error:
        raise DataDirError(f"{manifest} is not a readable {manifest.suffix[1:]} manifest: {error}") from None


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    """A column with dictionary encoding (pandas' categoricals) undone."""
    column = table.column(name)
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _binned_labels(manifest: Path, name: str, column: pa.ChunkedArray, bins: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Numbers cut into `bins` equal-width bins from the lowest to the highest + 1, as the NeurIPS 2023
    organisers made age groups (np.linspace(min, max + 1, bins + 1), then np.digitize - 1); every bin
    is a class, empty or not, named by its edges."""
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise DataDirError(f"{manifest}: the {name} column is cut into {bins} bins, so it should hold numbers, found {column.type}")
    values = np.asarray(column.to_pylist(), dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataDirError(f"{manifest}: the {name} column holds a value that is not a finite number")
    edges = np.linspace(values.min(), values.max() + 1, bins + 1)
    labels = np.digitize(values, edges) - 1
    return labels.astype(np.int64), tuple(f"{low:g}-{high:g}" for low, high in zip(edges[:-1], edges[1:], strict=True))


def _manifest_labels(manifest: Path, table: pa.Table, columns: ManifestColumns) -> tuple[np.ndarray, tuple[str, ...]]:
    """Label indices into the sorted distinct labels (numeric order for integers), or the label column's bins."""
    column = _column(table, columns.label)
    if column.null_count:
        raise DataDirError(f"{manifest}: the {columns.label} column has {column.null_count} empty values")
    if columns.label_bins:
        return _binned_labels(manifest, columns.label, column, columns.label_bins)
    kind = column.type
    if pa.types.is_integer(kind):
        values = np.asarray(column.to_pylist(), dtype=np.int64)
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = np.asarray(column.to_pylist(), dtype=object)
    else:
        raise DataDirError(f"{manifest}: labels should be class names or integers, found {kind}")
    distinct, labels = np.unique(values, return_inverse=True)
    return labels.astype(np.int64).reshape(-1), tuple(str(value) for value in distinct)


def _manifest_integers(manifest: Path, table: pa.Table, name: str, names_allowed: bool) -> np.ndarray | None:
    """An optional column as int64: ages as whole numbers, person ids as numbers or names (names get indices, in sorted order)."""
    if name not in table.column_names:
        return None
    column = _column(table, name)
    if column.null_count:
        raise DataDirError(f"{manifest}: the {name} column has {column.null_count} empty values")
    if pa.types.is_integer(column.type):
        return np.asarray(column.to_pylist(), dtype=np.int64)
    if names_allowed and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return np.unique(np.asarray(column.to_pylist(), dtype=object), return_inverse=True)[1].astype(np.int64).reshape(-1)
    allowed = "integers or names" if names_allowed else "whole numbers"
    raise DataDirError(f"{manifest}: the {name} column should hold {allowed}, found {column.type}")


def _list_manifest(manifest: Path, columns: ManifestColumns) -> _Listing:
    """Images named by a manifest's path column (relative to its folder unless absolute)."""
    table = _read_manifest_table(manifest, columns.path)
    needed = (columns.path, columns.label)
    absent = [name for name in needed if name not in table.column_names]
    if absent:
        raise DataDirError(
            f"{manifest} has no column {', '.join(absent)}: expected the columns {' and '.join(needed)}, "
            f"found {', '.join(table.column_names) or 'none'}"
        )
    if table.num_rows == 0:
        raise DataDirError(f"{manifest} has no rows: expected one row per image")
    paths = _column(table, columns.path)
    if not (pa.types.is_string(paths.type) or pa.types.is_large_string(paths.type)):
        raise DataDirError(f"{manifest}: the {columns.path} column should hold file paths, found {paths.type}")
    empty = sum(1 for p in paths.to_pylist() if not p)
    if empty:
        raise DataDirError(f"{manifest}: the {columns.path} column has {empty} empty values")
    files = [manifest.parent / p for p in paths.to_pylist()]  # an absolute p replaces the folder
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise DataDirError(f"{manifest} names {len(missing)} files that do not exist: {shown}")
    labels, classes = _manifest_labels(manifest, table, columns)
    _require_two_classes(manifest, classes)
    ages = _manifest_integers(manifest, table, columns.age, names_allowed=False)
    persons = _manifest_integers(manifest, table, columns.person, names_allowed=True)
    return _Listing(files, labels, classes, manifest, ages, persons)


def _list_images(source: Path, columns: ManifestColumns) -> _Listing:
    if not source.exists():
        raise DataDirError(f"{source} does not exist: {_FOLDER_EXPECTED}")
    if source.is_dir():
        return _list_class_folders(source)
    if source.suffix.lower() in (".csv", ".parquet"):
        return _list_manifest(source, columns)
    raise DataDirError(f"{source} is neither a folder nor a .csv or .parquet manifest: {_FOLDER_EXPECTED}")


def _load_image(path: Path, image_size: int) -> np.ndarray:
    try:
        with Image.open(path) as image:
            resized = image.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise DataDirError(f"{path} is not a readable image: {error}") from None
    return np.asarray(resized, dtype=np.uint8)


def read_image_folder(source: Path, image_size: int, columns: ManifestColumns = PLAIN_COLUMNS) -> ImageArrays:
    """A directory of class subfolders (class names sorted -> label indices, like torchvision's
    ImageFolder, hidden folders and files skipped), or a .csv / .parquet manifest with the columns
    path and label, or the columns `columns` names (paths relative to the manifest's folder unless absolute;
    labels are class names or integers, classes sorted, integers numerically, or numbers cut into bins;
    optional columns age and person_id, whole numbers or, for person_id, names). Every image is opened with Pillow, converted
    to RGB and resized to image_size x image_size (bilinear)."""
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    listing = _list_images(Path(source), columns)
    images = np.empty((len(listing.files), image_size, image_size, 3), dtype=np.uint8)
    for i, path in enumerate(listing.files):
        images[i] = _load_image(path, image_size)
    return ImageArrays(images, listing.labels, listing.classes, listing.ages, listing.person_ids)


# ---------------------------------------------------------------- fingerprints


def data_files(source: Path, kind: str, columns: ManifestColumns = PLAIN_COLUMNS) -> list[Path]:
    """The files read_cifar10 ("cifar10") or read_image_folder ("imagefolder") would read, for the fingerprint."""
    source = Path(source)
    if kind == "cifar10":
        root = _cifar10_root(source)
        names = (*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH, CIFAR10_META)
        return [root / name for name in names if (root / name).is_file()]
    if kind == "imagefolder":
        listing = _list_images(source, columns)
        return ([listing.manifest] if listing.manifest else []) + listing.files
    raise ValueError(f"unknown data kind {kind!r}; known: {', '.join(_KINDS)}")


def data_fingerprint(paths: Iterable[Path]) -> str:
    """A short sha256 over the bytes of the given files (sorted by path relative to their common root, names included),
    so a cache key can follow the data's content, not its location."""
    files = [os.path.abspath(p) for p in paths]
    if not files:
        raise ValueError("no files to fingerprint")
    root = os.path.commonpath([os.path.dirname(f) for f in files])
    digest = hashlib.sha256()
    for relative, path in sorted((Path(f).relative_to(root).as_posix(), f) for f in files):
        name = relative.encode()
        digest.update(len(name).to_bytes(8, "big") + name + os.path.getsize(path).to_bytes(8, "big"))
        with open(path, "rb") as handle:
            for chunk in iter(partial(handle.read, 1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def has_persons(source: Path, columns: ManifestColumns = PLAIN_COLUMNS) -> bool:
    """Whether the image folder's manifest names who is pictured (its person column)."""
    return _list_images(Path(source), columns).person_ids is not None


def class_sizes(source: Path, columns: ManifestColumns = PLAIN_COLUMNS) -> dict[str, int]:
    """How many images of each class read_image_folder would find, without opening one:
    a model's head needs the number of classes, a stratified split enough of each."""
    listing = _list_images(Path(source), columns)
    return {name: int((listing.labels == label).sum()) for label, name in enumerate(listing.classes)}
