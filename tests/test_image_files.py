"""The image-folder and manifest reader (CIFAR-10's is in test_cifar_files.py): arrays as expected,
persons and ages, fingerprints, and errors that say what is wrong and where."""

from dataclasses import replace
import shutil

import numpy as np
from PIL import Image
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
import torch

from data_files import reader_error, same_data, write_image_folder, write_manifest
from harness.benchmarks import declared_images, get_benchmark
from reference_models.datasets import load_benchmark_data, locate_data
from reference_models.image_files import class_sizes, data_files, data_fingerprint, read_image_folder
from reference_models.loaders import make_loader
from reference_models.spec import ManifestColumns

# ---------------------------------------------------------------- image folders


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("folder") / "ages")


def test_image_folder_arrays(folder):
    data = read_image_folder(folder, 12)
    assert data.images.shape == (60, 12, 12, 3) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64 and data.classes == ("middle", "old", "young")
    assert list(np.bincount(data.labels)) == [20, 20, 20]
    png = np.asarray(Image.open(folder / "old" / "0003.png"))
    assert np.array_equal(data.images[data.labels == 1][3], png)


def test_image_folder_resizes_and_converts_to_rgb(tmp_path):
    for name, image in {
        "a/grey.png": Image.new("L", (30, 10), 77),
        "a/rgba.png": Image.new("RGBA", (5, 9), (10, 20, 30, 40)),
        "b/palette.png": Image.new("RGB", (12, 12), (204, 102, 0)).convert("P"),  # a colour of the web palette
        "b/photo.BMP": Image.new("RGB", (40, 40), (0, 0, 255)),
    }.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        image.save(tmp_path / name)
    for size in (4, 20):
        data = read_image_folder(tmp_path, size)
        assert data.images.shape == (4, size, size, 3)
        assert data.images[:, 0, 0].tolist() == [[77, 77, 77], [10, 20, 30], [204, 102, 0], [0, 0, 255]]
        assert (data.images == data.images[:, :1, :1]).all()  # a plain colour stays plain at any size


def test_image_folder_skips_hidden_and_non_image_files(folder, tmp_path):
    shutil.copytree(folder, tmp_path / "f")
    (tmp_path / "f" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "f" / "old" / "notes.txt").write_text("not an image")
    (tmp_path / "f" / "old" / ".0001.png").write_bytes(b"")
    (tmp_path / "f" / "old" / ".cache").mkdir()
    (tmp_path / "f" / "old" / ".cache" / "0001.png").write_bytes(b"")
    (tmp_path / "f" / "old" / "more").mkdir()
    shutil.copy(folder / "old" / "0001.png", tmp_path / "f" / "old" / "more" / "0001.png")
    data = read_image_folder(tmp_path / "f", 12)
    assert data.classes == ("middle", "old", "young") and list(np.bincount(data.labels)) == [20, 21, 20]


def test_image_folder_missing(tmp_path):
    message = reader_error(read_image_folder, tmp_path / "nowhere", 12)
    assert message.startswith(f"{tmp_path / 'nowhere'} does not exist: expected a folder with one subfolder of images per class")
    assert ".csv or .parquet manifest" in message


def test_image_folder_without_class_subfolders(folder, tmp_path):
    assert reader_error(read_image_folder, tmp_path, 12).startswith(f"{tmp_path} has no class subfolders: expected")
    shutil.copy(folder / "old" / "0001.png", tmp_path / "0001.png")
    assert "its images lie directly in it" in reader_error(read_image_folder, tmp_path, 12)


def test_image_folder_class_without_images(folder, tmp_path):
    shutil.copytree(folder, tmp_path / "f")
    (tmp_path / "f" / "unborn").mkdir()
    (tmp_path / "f" / "unborn" / "readme.txt").write_text("")
    message = reader_error(read_image_folder, tmp_path / "f", 12)
    assert message.startswith(f"class folder {tmp_path / 'f' / 'unborn'} has no images") and ".png" in message


def test_image_folder_unreadable_image(folder, tmp_path):
    shutil.copytree(folder, tmp_path / "f")
    (tmp_path / "f" / "old" / "0007.png").write_bytes(b"\x89PNG truncated")
    assert reader_error(read_image_folder, tmp_path / "f", 12).startswith(f"{tmp_path / 'f' / 'old' / '0007.png'} is not a readable image: ")


def test_image_folder_needs_two_classes(folder, tmp_path):
    shutil.copytree(folder / "old", tmp_path / "f" / "old")
    message = reader_error(read_image_folder, tmp_path / "f", 12)
    assert str(tmp_path / "f") in message and "only one class, old" in message and "at least 2" in message


def test_image_folder_rejects_other_files(tmp_path):
    (tmp_path / "list.txt").write_text("")
    assert "neither a folder nor a .csv or .parquet manifest" in reader_error(read_image_folder, tmp_path / "list.txt", 12)


def test_class_sizes_match_the_reader(folder, tmp_path):
    manifest = write_manifest(shutil.copytree(folder, tmp_path / "f"), "parquet")
    read = read_image_folder(manifest, 4)
    expected = {name: int((read.labels == label).sum()) for label, name in enumerate(read.classes)}
    assert class_sizes(folder) == class_sizes(manifest) == expected
    assert tuple(expected) == ("middle", "old", "young") and sum(expected.values()) == len(read.labels)


def test_image_size_must_be_positive(folder):
    with pytest.raises(ValueError, match="image_size"):
        read_image_folder(folder, 0)


# ---------------------------------------------------------------- manifests


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_manifest_reads_like_the_folder(folder, tmp_path, kind):
    shutil.copytree(folder, tmp_path / "f")
    assert same_data(read_image_folder(write_manifest(tmp_path / "f", kind), 12), read_image_folder(folder, 12))


def _write_manifest(path, columns: dict):
    table = pa.table(columns)
    if path.suffix == ".csv":
        pa_csv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


def test_manifest_integer_labels_sort_numerically_and_absolute_paths(folder, tmp_path):
    images = [str(folder / "old" / "0000.png"), str(folder / "young" / "0000.png"), str(folder / "middle" / "0001.png")]
    for suffix in ("csv", "parquet"):
        data = read_image_folder(_write_manifest(tmp_path / f"m.{suffix}", {"path": images, "label": [10, 2, 2]}), 6)
        assert data.classes == ("2", "10") and list(data.labels) == [1, 0, 0]
        assert data.images.shape == (3, 6, 6, 3)


def test_manifest_columns_named_by_the_file_and_labels_cut_into_bins(folder, tmp_path):
    """A competition file names the columns; with label_bins, a number (years) becomes equal-width groups from
    the lowest to the highest + 1, every group a class even where empty, named by its edges."""
    images = [str(folder / "old" / "0000.png"), str(folder / "young" / "0000.png"), str(folder / "middle" / "0001.png")]
    manifest = _write_manifest(tmp_path / "m.csv", {"file": images, "who": ["ann", "bob", "ann"], "years": [20, 49, 29]})
    columns = ManifestColumns(path="file", label="years", person="who", age="years", label_bins=3)
    data = read_image_folder(manifest, 6, columns)
    assert data.classes == ("20-30", "30-40", "40-50") and list(data.labels) == [0, 2, 0]
    assert list(data.ages) == [20, 49, 29] and list(data.person_ids) == [0, 1, 0]
    assert class_sizes(manifest, columns) == {"20-30": 2, "30-40": 0, "40-50": 1}
    named = _write_manifest(tmp_path / "n.csv", {"file": images, "years": ["old", "young", "old"]})
    assert "the years column is cut into 3 bins, so it should hold numbers, found string" in reader_error(read_image_folder, named, 6, columns)


def test_manifest_with_categorical_columns(folder, tmp_path):
    images = pa.array([str(folder / "old" / "0000.png"), str(folder / "young" / "0000.png")]).dictionary_encode()
    data = read_image_folder(_write_manifest(tmp_path / "m.parquet", {"path": images, "label": pa.array(["old", "young"]).dictionary_encode()}), 12)
    assert data.classes == ("old", "young") and list(data.labels) == [0, 1]


def test_manifest_missing_column_names_the_columns_found(folder, tmp_path):
    manifest = _write_manifest(tmp_path / "m.csv", {"file": ["old/0000.png"], "age": ["old"]})
    message = reader_error(read_image_folder, manifest, 12)
    assert message.startswith(f"{manifest} has no column path, label: expected the columns path and label, found file, age")
    manifest = _write_manifest(tmp_path / "m.parquet", {"path": ["old/0000.png"], "age": ["old"]})
    assert "has no column label:" in reader_error(read_image_folder, manifest, 12)


def test_manifest_names_files_that_do_not_exist(folder, tmp_path):
    manifest = write_manifest(shutil.copytree(folder, tmp_path / "f"), "csv")
    (tmp_path / "f" / "young" / "0005.png").unlink()
    message = reader_error(read_image_folder, manifest, 12)
    assert message == f"{manifest} names 1 files that do not exist: {tmp_path / 'f' / 'young' / '0005.png'}"
    shutil.rmtree(tmp_path / "f" / "old")
    assert "names 21 files that do not exist" in reader_error(read_image_folder, manifest, 12)
    assert "and 18 more" in reader_error(read_image_folder, manifest, 12)


def test_manifest_needs_two_classes(folder, tmp_path):
    manifest = _write_manifest(tmp_path / "m.csv", {"path": [str(folder / "old" / "0000.png")], "label": ["old"]})
    assert "only one class, old" in reader_error(read_image_folder, manifest, 12)


def test_manifest_other_problems(folder, tmp_path):
    empty = {"path": pa.array([], pa.string()), "label": pa.array([], pa.string())}
    assert "has no rows" in reader_error(read_image_folder, _write_manifest(tmp_path / "e.csv", empty), 12)
    floats = _write_manifest(tmp_path / "f.parquet", {"path": [str(folder / "old" / "0000.png")] * 2, "label": [0.5, 1.5]})
    assert "labels should be class names or integers, found double" in reader_error(read_image_folder, floats, 12)
    numbers = _write_manifest(tmp_path / "n.parquet", {"path": [1, 2], "label": ["a", "b"]})
    assert "the path column should hold file paths, found int64" in reader_error(read_image_folder, numbers, 12)
    empty = _write_manifest(tmp_path / "x.csv", {"path": [str(folder / "old" / "0000.png"), None], "label": ["a", "b"]})
    assert "the path column has 1 empty values" in reader_error(read_image_folder, empty, 12)
    holed = {"path": ["a.png", None], "label": ["a", "b"]}
    assert "the path column has 1 empty values" in reader_error(read_image_folder, _write_manifest(tmp_path / "x.parquet", holed), 12)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    assert reader_error(read_image_folder, tmp_path / "bad.parquet", 12).startswith(f"{tmp_path / 'bad.parquet'} is not a readable parquet manifest: ")


def test_manifest_data_files_include_the_manifest(folder, tmp_path):
    manifest = write_manifest(shutil.copytree(folder, tmp_path / "f"), "csv")
    files = data_files(manifest, "imagefolder")
    assert files[0] == manifest and len(files) == 61 and all(f.is_file() for f in files)


# ---------------------------------------------------------------- fingerprints


def test_fingerprint_follows_content_not_location(folder, tmp_path):
    reference = data_fingerprint(data_files(folder, "imagefolder"))
    assert len(reference) == 16
    moved = shutil.copytree(folder, tmp_path / "elsewhere" / "deeper")
    assert data_fingerprint(reversed(data_files(moved, "imagefolder"))) == reference
    png = moved / "middle" / "0004.png"
    png.write_bytes(png.read_bytes()[:-1] + bytes([png.read_bytes()[-1] ^ 1]))
    assert data_fingerprint(data_files(moved, "imagefolder")) != reference


def test_fingerprint_includes_names(folder, tmp_path):
    moved = shutil.copytree(folder, tmp_path / "f")
    (moved / "old").rename(moved / "older")
    assert data_fingerprint(data_files(moved, "imagefolder")) != data_fingerprint(data_files(folder, "imagefolder"))


def test_data_files_unknown_kind(folder):
    with pytest.raises(ValueError, match="cifar10, imagefolder"):
        data_files(folder, "mnist")
    with pytest.raises(ValueError, match="no files"):
        data_fingerprint([])


# ---------------------------------------------------------------- persons and ages


def _person_manifest(folder, path, persons=True):
    rows = sorted(p.relative_to(folder).as_posix() for p in folder.glob("*/*.png"))
    columns = {"path": [str(folder / row) for row in rows], "label": [row.split("/")[0] for row in rows], "age": [20 + i % 50 for i in range(len(rows))]}
    if persons:
        columns["person_id"] = [f"p{i // 3:03d}" for i in range(len(rows))]  # three photos of each person; names sort as indices
    return _write_manifest(path, columns)


def test_manifest_ages_and_person_ids(folder, tmp_path):
    for suffix in ("csv", "parquet"):
        data = read_image_folder(_person_manifest(folder, tmp_path / f"persons.{suffix}"), 6)
        assert list(data.ages[:4]) == [20, 21, 22, 23]
        assert list(data.person_ids[:7]) == [0, 0, 0, 1, 1, 1, 2]  # names become their index in sorted order
    assert read_image_folder(write_manifest(shutil.copytree(folder, tmp_path / "plain"), "csv"), 6).person_ids is None


def test_manifest_person_ids_must_be_whole(folder, tmp_path):
    manifest = _write_manifest(tmp_path / "m.parquet", {"path": [str(folder / "old" / "0000.png")] * 2, "label": ["a", "b"], "person_id": [1.5, 2.0]})
    assert "the person_id column should hold integers or names, found double" in reader_error(read_image_folder, manifest, 6)


def test_persons_change_the_key_and_the_forget_set_only_for_their_manifests(folder, tmp_path):
    spec = declared_images(get_benchmark("imagefolder"), 8, None)
    with_persons = locate_data(spec, _person_manifest(folder, tmp_path / "persons.csv"))
    without = locate_data(spec, _person_manifest(folder, tmp_path / "ages_only.csv", persons=False))
    assert with_persons.forget_unit == "person" and without.forget_unit == "example"
    assert with_persons.key() != replace(with_persons, forget_unit="example").key()
    assert without.key() == replace(without, forget_unit="example").key()
    data = load_benchmark_data(with_persons)
    assert not set(data.forget.person_ids.tolist()) & set(data.retain.person_ids.tolist())
    batch = next(iter(make_loader(data.forget, shuffle=False)))
    assert torch.equal(batch["person_id"], data.forget.person_ids[: len(batch["person_id"])])
    assert torch.equal(batch["age"], data.forget.ages[: len(batch["age"])])
