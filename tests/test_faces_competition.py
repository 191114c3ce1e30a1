"""The NeurIPS 2023 competition from its file (issue 38): competitions/neurips2023-faces.toml on a generated
face manifest (path, person_id, age), read as the organisers read theirs: ages binned into ten age groups,
raw pixels, the images shuffled with random.Random(43) and cut 80/10/10, and a forget set of the 15
lowest person ids (the private split: the next 15)."""

import json
from pathlib import Path
import random

import numpy as np
import pyarrow.csv as pa_csv
import pytest
import torch

from conftest import CACHED_YARDSTICK, NO_REPORT, ONE_WORKER, ROOT
from data_files import write_faces
from harness.benchmarks import get_competition, split_benchmark
from reference_models.architectures import build_model
from reference_models.datasets import load_benchmark_data, locate_data
from reference_models.image_files import DataDirError
from reference_models.secret import SECRET_FILE

EXAMPLE = ROOT / "competitions" / "neurips2023-faces.toml"
PERSONS = 40


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return write_faces(tmp_path_factory.mktemp("faces"), persons=PERSONS, per_person=5, size=32)


def _manifest(faces: Path) -> dict[str, np.ndarray]:
    table = pa_csv.read_csv(faces / "faces.csv")
    return {name: np.asarray(table.column(name).to_pylist()) for name in ("person_id", "age")}


def test_the_example_checks_on_a_face_manifest(in_process, faces):
    """The issue's done-when: 15 persons in the forget set, the recipe in words and a cost, exit 0."""
    checked = in_process("competition", "check", str(EXAMPLE), "--data-dir", str(faces), "--n-models", "8")
    assert checked.returncode == 0, checked.stderr
    lines = checked.stdout
    assert "train 160, validation 20, test 20 examples, 10 classes, pixels 0 to 255" in lines
    assert "of 15 persons (their other images:" in lines and "by whole persons, the lowest person ids" in lines
    assert "Adam (learning rate 0.0001, weight decay 0.005), cosine schedule" in lines
    assert "cross-entropy weighted by 1 / class count, keeping the epoch of best validation accuracy, batch 64" in lines
    assert "resnet18, 11,181,642 parameters" in lines and "the original and 8 references take about" in lines


def test_the_faces_are_read_split_and_forgotten_as_the_organisers_did(faces):
    spec = locate_data(get_competition(str(EXAMPLE), (("data.image_size", 8),)).spec(), faces)
    data = load_benchmark_data(spec)
    manifest = _manifest(faces)
    # the images (not the persons) shuffled with random.Random(43), then cut 80/10/10 in order
    order = list(range(PERSONS * 5))
    random.Random(43).shuffle(order)
    for name, rows in (("train", order[:160]), ("validation", order[160:180]), ("test", order[180:])):
        part = getattr(data, name)
        assert part.ages.tolist() == manifest["age"][rows].tolist()
        # ten equal-width age groups from the youngest to the oldest + 1
        edges = np.linspace(manifest["age"].min(), manifest["age"].max() + 1, 11)
        assert part.labels.tolist() == (np.digitize(manifest["age"][rows], edges) - 1).tolist()
    assert spec.num_classes == data.num_classes == 10
    assert data.train.images.max() > 1 and float(data.train.images.max()).is_integer()  # raw pixel values, 0 to 255
    # the forget set: every training image of the 15 lowest person ids among train's
    in_train = np.unique(data.train.person_ids.numpy())
    assert set(data.forget.person_ids.tolist()) == set(in_train[:15].tolist())
    assert not set(data.retain.person_ids.tolist()) & set(in_train[:15].tolist())
    assert len(data.forget) == int(np.isin(data.train.person_ids.numpy(), in_train[:15]).sum())
    private = load_benchmark_data(split_benchmark(spec, "private"))
    assert set(private.forget.person_ids.tolist()) == set(in_train[15:30].tolist())


def test_a_forget_set_of_persons_needs_a_person_column_and_enough_persons(faces, tmp_path, in_process):
    named = tmp_path / "no-persons"
    named.mkdir()
    (named / "images").symlink_to(faces / "images")
    table = pa_csv.read_csv(faces / "faces.csv").drop_columns(["person_id"])
    pa_csv.write_csv(table, named / "faces.csv")
    with pytest.raises(DataDirError, match="forgets 15 whole persons, but .* names nobody: give the manifest a person_id column"):
        locate_data(get_competition(str(EXAMPLE)).spec(), named)
    too_many = in_process("competition", "check", str(EXAMPLE), "--data-dir", str(faces), "--set", "forget.persons=41")
    assert too_many.returncode == 2 and "a forget set of 41 persons (first) needs 41 persons in train; it has 40" in too_many.stderr


def test_set_overrides_a_key_of_the_file_or_names_the_mistake(in_process, tmp_path):
    misspelt = in_process("competition", "check", str(EXAMPLE), "--set", "training.epoch=1")
    assert misspelt.returncode == 2 and "training.epoch is not a key of [training]; did you mean 'epochs'?" in misspelt.stderr
    shapeless = in_process("references", "--set", "epochs", "--cache-dir", str(tmp_path))
    assert shapeless.returncode == 2 and "write section.key=value, such as --set training.epochs=2" in shapeless.stderr
    assert get_competition("digits-mlp", (("training.epochs", 2),)).spec().recipe.epochs == 2
    assert get_competition("digits-mlp", (("training.epochs", 2),)).spec().key() != get_competition("digits-mlp").spec().key()


def test_a_torchvision_model_by_name_is_built_untrained_or_refused_where_it_cannot_classify(in_process, faces):
    squeezenet = in_process("competition", "check", str(EXAMPLE), "--data-dir", str(faces), "--set", "model.architecture=torchvision:squeezenet1_1")
    assert squeezenet.returncode == 0, squeezenet.stderr
    assert "model            torchvision:squeezenet1_1, 727,626 parameters" in squeezenet.stdout  # its head made for the ten age groups
    vit = in_process("competition", "check", str(EXAMPLE), "--data-dir", str(faces), "--set", "model.architecture=torchvision:vit_b_16")
    assert vit.returncode == 2 and "model.architecture 'torchvision:vit_b_16' cannot classify inputs of shape [3, 32, 32]" in vit.stderr


SMALL_MODEL = ("--set", "model.architecture=cnn-small", "--set", "model.hidden_sizes=[4, 8, 8]", "--set", "data.image_size=16")


def _with_original(tmp_path: Path, faces: Path, state_of) -> Path:
    """A copy of the example whose [model] supplies original = "original.pt", made by `state_of(model)`."""
    competition = tmp_path / "supplied.toml"
    competition.write_text(EXAMPLE.read_text().replace("[model]\n", "[model]\noriginal = \"original.pt\"\n"))
    settings = (("model.architecture", "cnn-small"), ("model.hidden_sizes", [4, 8, 8]), ("data.image_size", 16))
    spec = locate_data(get_competition(str(EXAMPLE), settings).spec(), faces)
    torch.manual_seed(5)
    torch.save(state_of(build_model(spec)), tmp_path / "original.pt")
    return competition


@pytest.mark.parametrize("state_of, expected", [
    (lambda model: {name: tensor for name, tensor in model.state_dict().items() if name != "0.weight"},
     "its keys do not fit cnn-small: it lacks the key '0.weight' (1 missing, 0 unexpected)"),
    (lambda model: {**model.state_dict(), "9.bias": torch.zeros(4)}, "has the key '9.bias'"),
    (lambda model: {**model.state_dict(), "11.weight": torch.zeros(3, 8)}, "the key '11.weight' has shape [3, 8], and cnn-small has [10, 8] for 10 classes"),
    (lambda model: [1, 2], "holds a list, not a state dict"),
], ids=("missing key", "unexpected key", "wrong shape", "not a state dict"))
def test_a_supplied_original_that_does_not_fit_the_model_exits_2_before_anything_is_built(faces, tmp_path, in_process, state_of, expected):
    competition = _with_original(tmp_path, faces, state_of)
    refused = in_process("score", str(ROOT / "baselines" / "identity.py"), "--benchmark", str(competition), "--data-dir", str(faces),
                         *SMALL_MODEL, "--n-models", "3", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    assert refused.returncode == 2 and f"{competition}: model.original {tmp_path / 'original.pt'}: " in refused.stderr and expected in refused.stderr
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


FACTORY = '''
from torch import nn


def build(num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 12), nn.ReLU(), nn.Linear(12, num_classes))


def three(num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 3))


def broken(num_classes):
    raise RuntimeError("the organiser's own bug")
'''


def _with_factory(tmp_path: Path, function: str) -> Path:
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models" / "faces_model.py").write_text(FACTORY)
    competition = tmp_path / "own-model.toml"
    competition.write_text(EXAMPLE.read_text().replace('architecture = "resnet18"', f'architecture = "models/faces_model.py:{function}"'))
    return competition


@pytest.mark.parametrize("function, expected", [
    ("three", "model.architecture 'factory:three' gives outputs [2, 3] for 2 inputs; it must give [2, 10], a score per class"),
    ("broken", "model.architecture: the factory broken(num_classes=10) failed: RuntimeError: the organiser's own bug"),
])
def test_a_factory_that_does_not_classify_the_data_exits_2_naming_it(faces, tmp_path, in_process, function, expected):
    competition = _with_factory(tmp_path, function)
    checked = in_process("competition", "check", str(competition), "--data-dir", str(faces), "--set", "data.image_size=16")
    assert checked.returncode == 2 and f"error: {competition}: {expected}" in checked.stderr
    scored = in_process("score", str(ROOT / "baselines" / "identity.py"), "--benchmark", str(competition), "--data-dir", str(faces),
                        "--set", "data.image_size=16", "--n-models", "3", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    assert scored.returncode == 2 and expected in scored.stderr and not (tmp_path / "cache").exists()
    missing = tmp_path / "missing.toml"
    missing.write_text(competition.read_text().replace("models/faces_model.py", "models/absent.py"))
    absent = in_process("competition", "check", str(missing))
    assert absent.returncode == 2 and "model.architecture names 'models/absent.py', and" in absent.stderr and "is not a file" in absent.stderr


@pytest.mark.sandbox
@pytest.mark.references
def test_the_example_with_an_organisers_model_and_original_scores_a_two_split_leaderboard(faces, tmp_path, in_process):
    """The issue's end-to-end test, on CPU: the example with the organiser's own model (a factory, found from the
    file's folder) and their original model supplied as a checkpoint; references, sandboxed runs, score.json and a
    leaderboard of both splits, the epochs and image size set from the command line. What trained is read back
    from the caches' manifests: Adam, ten inverse-count class weights, the kept epoch, the supplied original."""
    competition = _with_factory(tmp_path, "build")
    competition.write_text(competition.read_text().replace("[model]\n", "[model]\noriginal = \"original.pt\"\n"))
    spec = locate_data(get_competition(str(EXAMPLE), (("model.architecture", str(tmp_path / "models" / "faces_model.py:build")),
                                                      ("data.image_size", 16))).spec(), faces)
    torch.manual_seed(5)
    torch.save(build_model(spec).state_dict(), tmp_path / "original.pt")
    smaller = ("--set", "training.epochs=1", "--set", "data.image_size=16")
    checked = in_process("competition", "check", str(competition), "--data-dir", str(faces), *smaller, "--n-models", "8")
    assert checked.returncode == 0, checked.stderr
    assert f"original         supplied ({tmp_path / 'original.pt'}): accuracy train " in checked.stdout and "so the 8 references take" in checked.stdout
    assert "model            factory:build" in checked.stdout
    board = tmp_path / "board"
    board.mkdir()
    (board / "identity.py").write_text((ROOT / "baselines" / "identity.py").read_text())
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / SECRET_FILE).write_text("5eed" * 16)  # fixed references: a fresh secret once trained some to test accuracy 0
    result = in_process(
        "leaderboard", str(board), "--split", "both", "--benchmark", str(competition), "--data-dir", str(faces), *smaller,
        "--n-models", "3", "--cache-dir", str(tmp_path / "cache"), "--ledger-dir", str(tmp_path / "ledgers"), "--out", str(tmp_path / "out"),
        "--bootstrap", "0", "--mia-models", "3", "--quiet", *CACHED_YARDSTICK, *ONE_WORKER, *NO_REPORT,
    )
    assert result.returncode == 0, result.stderr
    assert "Private split (forget set of the next 15 persons in id order)" in (tmp_path / "out" / "leaderboard.md").read_text()
    for split in ("public", "private"):
        document = json.loads(next((tmp_path / "out" / split).rglob("score.json")).read_text())
        assert document["runs"]["ok"] == 3  # each run's net built from the factory inside the sandbox
        assert document["competition"]["overrides"]["training.epochs"] == 1
    manifests = sorted((tmp_path / "cache").glob("*/manifest.json"))
    assert len(manifests) == 2  # the public split's references and the private one's
    supplied = torch.load(tmp_path / "original.pt", weights_only=True)
    for manifest in manifests:
        kept = torch.load(manifest.parent / "original.pt", weights_only=True)
        assert all(torch.equal(kept[name], supplied[name]) for name in supplied)
        models = json.loads(manifest.read_text())["models"]
        assert list(models["original"]["0"]["trained"]) == ["supplied"]
        records = [entry["trained"] for entry in models["retrained"].values()]
        assert len(records) == 3
        for record in records:
            assert record["optimiser"] == "Adam" and record["kept_epoch"] == 1
            weights = record["class_weights"]
            assert len(weights) == 10 and all(weight == 0 or 1 / weight == pytest.approx(round(1 / weight)) for weight in weights)  # 1 / a count


def test_the_factorys_source_is_in_the_content_key(tmp_path):
    competition = _with_factory(tmp_path, "build")
    spec = get_competition(str(competition)).spec()
    assert spec.architecture == "factory:build" and "def build(num_classes)" in spec.model_source
    edited = tmp_path / "edited"
    (edited / "models").mkdir(parents=True)
    (edited / "models" / "faces_model.py").write_text(FACTORY.replace("12", "13"))
    (edited / "own-model.toml").write_text(competition.read_text())
    assert get_competition(str(edited / "own-model.toml")).spec().key() != spec.key()
