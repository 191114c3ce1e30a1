"""Image benchmarks end to end: CIFAR-10 and image folders read from generated files, their
architectures and augmentation, keys that follow the data, the device, and clear errors."""

import json
from pathlib import Path
import shutil

import numpy as np
import pytest
import torch

from conftest import CACHED_YARDSTICK, NO_REPORT, ONE_WORKER, SUBMISSIONS, run_cli
from data_files import write_cifar10, write_image_folder, write_manifest
from harness.benchmarks import declared_images, get_benchmark, scenario_benchmark
from harness.commands.errors import UsageError
from reference_models.architectures import build_model
from reference_models.augmentation import crop_and_flip
from reference_models.datasets import DATA_DIR_VARIABLE, load_benchmark_data, locate_data
from reference_models.image_files import DataDirError

CNN = get_benchmark("cifar10-cnn-small")
RESNET = get_benchmark("cifar10-resnet18")
FOLDER = get_benchmark("imagefolder")


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    return write_cifar10(tmp_path_factory.mktemp("data") / "cifar-10-batches-py", n_train=250, n_test=100)


@pytest.fixture(scope="module")
def cifar_cache(tmp_path_factory) -> Path:
    """One reference cache (and time-budget yardstick) for the CIFAR scores here: each costs CNN training."""
    return tmp_path_factory.mktemp("cifar-cache")


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("faces"), per_class=20, size=12)


def test_cifar10_split_is_the_kits(cifar):
    """Train is the five batches, validation and test halve the test batch, forget is 10% of train."""
    data = load_benchmark_data(locate_data(CNN, cifar))
    assert data.train.images.shape == (250, 3, 32, 32) and data.train.images.dtype == torch.float32
    assert len(data.validation) == len(data.test) == 50
    assert len(data.forget) == 25 and len(data.retain) == 225
    assert abs(float(data.train.images.mean())) < 1.5  # standardised, not raw bytes
    assert data.num_classes == 10


def test_keys_follow_the_data_not_its_place(cifar, tmp_path):
    """A copy elsewhere shares the key (and so the references); one changed byte does not."""
    copy = shutil.copytree(cifar, tmp_path / "elsewhere")
    assert locate_data(CNN, copy).key() == locate_data(CNN, cifar).key() != CNN.key()
    batch = copy / "data_batch_1"
    raw = bytearray(batch.read_bytes())
    raw[-40] ^= 1  # inside the pixel data
    batch.write_bytes(bytes(raw))
    assert locate_data(CNN, copy).key() != locate_data(CNN, cifar).key()


def test_the_data_dir_comes_from_the_environment_too(cifar, monkeypatch):
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(cifar))
    assert locate_data(CNN, None).data_dir == str(cifar.resolve())
    assert locate_data(get_benchmark("digits-mlp"), None) == get_benchmark("digits-mlp")  # embedded: ignored


@pytest.mark.parametrize("data_dir, expected", [
    (None, "pass --data-dir DIR or set UNLEARNING_DATA_DIR"),
    ("missing", "missing"),
    ("empty", "data_batch_1"),
])
def test_a_missing_or_empty_cifar_dir_is_named(tmp_path, monkeypatch, data_dir, expected):
    monkeypatch.delenv(DATA_DIR_VARIABLE, raising=False)
    if data_dir == "empty":
        (tmp_path / "empty").mkdir()
    with pytest.raises(DataDirError, match=expected):
        locate_data(CNN, None if data_dir is None else tmp_path / data_dir)


def test_an_embedded_data_set_refuses_a_data_dir(cifar):
    with pytest.raises(DataDirError, match="embedded"):
        locate_data(get_benchmark("digits-mlp"), cifar)


def test_an_image_folder_declares_size_and_architecture_and_counts_its_classes(faces):
    spec = locate_data(declared_images(FOLDER, 16, "resnet18"), faces)
    assert (spec.image_size, spec.architecture, spec.num_classes) == (16, "resnet18", 3)
    data = load_benchmark_data(spec)
    assert data.train.images.shape[1:] == (3, 16, 16) and len(data.train) == 48
    assert build_model(spec)(data.test.images).shape == (len(data.test), 3)
    with pytest.raises(UsageError, match="fixes its own"):
        declared_images(CNN, 16, None)


def test_a_class_too_small_to_split_is_named(tmp_path):
    folder = write_image_folder(tmp_path / "faces", per_class=12)
    for extra in sorted((folder / "old").iterdir())[5:]:
        extra.unlink()
    with pytest.raises(DataDirError, match=r"fewer than 10 images in 'old' \(5\)"):
        locate_data(FOLDER, folder)


def test_hardest_is_refused_where_it_would_retrain_an_image_model():
    with pytest.raises(UsageError, match="random and class forget sets"):
        scenario_benchmark(CNN, "hardest")


def test_a_manifest_reads_like_its_folder(faces):
    by_folder = load_benchmark_data(locate_data(FOLDER, faces))
    by_manifest = load_benchmark_data(locate_data(FOLDER, write_manifest(faces, "parquet")))
    assert torch.equal(by_folder.forget.images, by_manifest.forget.images)
    assert torch.equal(by_folder.test.labels, by_manifest.test.labels)


@pytest.mark.parametrize("spec", [CNN, RESNET], ids=["cnn-small", "resnet18"])
def test_image_architectures_classify_cifar_shaped_batches(spec):
    torch.manual_seed(0)
    model = build_model(spec).eval()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_crop_and_flip_matches_padding_then_cropping_image_by_image():
    images = torch.randn(6, 3, 8, 8)
    torch.manual_seed(5)
    augmented = crop_and_flip(images, padding=2)
    torch.manual_seed(5)
    offsets, flips = torch.randint(0, 5, (2, 6)), torch.rand(6) < 0.5  # the same draws, in the same order
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(6):
        expected = padded[i, :, offsets[0, i] : offsets[0, i] + 8, offsets[1, i] : offsets[1, i] + 8]
        assert torch.equal(augmented[i], expected.flip(2) if flips[i] else expected)


def test_score_on_a_generated_cifar_dir(cifar, cifar_cache, tmp_path):
    """The issue's done-when command, on generated CIFAR-format files."""
    out = tmp_path / "out"
    result = run_cli("score", str(SUBMISSIONS.parent.parent / "baselines" / "finetune.py"), "--benchmark", "cifar10-cnn-small",
                     "--data-dir", str(cifar), "--n-models", "8", "--out", str(out), "--cache-dir", str(cifar_cache),
                     "--ledger-dir", str(tmp_path / "ledgers"), "--bootstrap", "0", "--quiet", *CACHED_YARDSTICK, *ONE_WORKER, *NO_REPORT)
    assert result.returncode == 0, result.stderr
    document = json.loads((out / "score.json").read_text())
    assert document["runs"]["ok"] == 8 and 0 <= document["forget_quality"] <= 1
    assert document["retain_accuracy"]["retrained"] > 0.5  # the small CNN learnt the generated classes
    manifest = json.loads(next(cifar_cache.glob("*/manifest.json")).read_text())
    assert manifest["spec"]["data_dir"] == str(cifar.resolve()) and manifest["spec"]["data_fingerprint"]


PEEKS_AT_THE_DATA = """
from pathlib import Path
from harness import kit

def unlearning(net, retain, forget, validation):
    assert kit.training_recipe() and kit._benchmark.data_dir is None, "the worker was told where the data lie"
    try:
        Path({test_batch!r}).read_bytes()
    except OSError:
        return net
    raise RuntimeError("read the test set")
"""


@pytest.mark.sandbox
def test_the_sandbox_cannot_read_the_data_dir(cifar, cifar_cache, tmp_path):
    """The test batch lies in the data directory: a submission must neither be told where nor read it."""
    submission = tmp_path / "peek.py"
    submission.write_text(PEEKS_AT_THE_DATA.format(test_batch=str(cifar / "test_batch")))
    result = run_cli("score", str(submission), "--benchmark", "cifar10-cnn-small", "--data-dir", str(cifar), "--n-models", "3",
                     "--out", str(tmp_path / "out"), "--cache-dir", str(cifar_cache), "--ledger-dir", str(tmp_path / "ledgers"),
                     "--bootstrap", "0", "--quiet", *CACHED_YARDSTICK, *ONE_WORKER, *NO_REPORT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "out" / "score.json").read_text())["runs"]["ok"] == 3


@pytest.mark.parametrize("arguments, expected", [
    (["--benchmark", "cifar10-cnn-small"], "pass --data-dir DIR"),
    (["--benchmark", "cifar10-cnn-small", "--data-dir", "{tmp}"], "no CIFAR-10 batches"),
    (["--benchmark", "imagefolder", "--data-dir", "{tmp}"], "no class subfolders"),
    (["--benchmark", "cifar10-cnn-small", "--image-size", "64"], "fixes its own"),
    (["--benchmark", "digits-mlp", "--data-dir", "{tmp}"], "embedded"),
])
def test_bad_data_options_exit_2_with_a_message(in_process, tmp_path, monkeypatch, arguments, expected):
    monkeypatch.delenv(DATA_DIR_VARIABLE, raising=False)
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    result = in_process("references", *arguments, "--n-models", "3", "--cache-dir", str(tmp_path / "cache"), "--quiet")
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert not (tmp_path / "cache").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error is for machines without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error(in_process, tmp_path):
    result = in_process("references", "--device", "cuda", "--n-models", "3", "--cache-dir", str(tmp_path), "--quiet")
    assert result.returncode == 2 and "sees no GPU" in result.stderr


@pytest.mark.references
@pytest.mark.cli
def test_mixed_precision_has_its_own_references(tmp_path):
    """bfloat16 training changes the weights, so it changes the key; the models still learn."""
    result = run_cli("references", "--mixed-precision", "--n-models", "3", "--cache-dir", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    (key,) = [path.name for path in tmp_path.iterdir() if path.is_dir()]
    assert key != get_benchmark("digits-mlp").key()
    rows = json.loads((tmp_path / key / "manifest.json").read_text())["spec"]["recipe"]
    assert rows["mixed_precision"] is True


@pytest.mark.gpu
@pytest.mark.sandbox
@pytest.mark.references
@pytest.mark.cli
def test_the_cuda_path_scores(tmp_path):
    result = run_cli("score", str(SUBMISSIONS.parent.parent / "baselines" / "finetune.py"), "--device", "cuda", "--n-models", "4",
                     "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--ledger-dir", str(tmp_path / "ledgers"),
                     "--bootstrap", "0", "--quiet")
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "out" / "score.json").read_text())
    assert document["runs"]["ok"] == 4
    manifest = json.loads(next((tmp_path / "cache").glob("*/manifest.json")).read_text())
    assert manifest["hardware"]["device"] == torch.cuda.get_device_name()
    assert np.isfinite(document["forget_quality"])
