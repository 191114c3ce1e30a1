"""Competitions declared in TOML files (issue 37): the built-ins are such files, read strictly by one loader,
with their content keys pinned; a bad file is refused before anything is trained, naming the file, the
`section.key` and what to write instead."""

from dataclasses import fields, replace
import json
from pathlib import Path
import re

import pytest

from conftest import NO_REPORT
from harness.benchmarks import BENCHMARKS, get_benchmark
from harness.competition import BUILT_IN, SECTIONS, CompetitionFileError, read_competition
from harness.competition_docs import KEY_DOCS, key_table
from reference_models.secret import cache_secret, sealed
from reference_models.spec import KEYED, RECIPE_KEYED, UNKEYED, BenchmarkSpec, ManifestColumns, TrainingRecipe

# The content keys of the built-ins, which name their reference caches and ledgers: a change of the loader or
# of a file that moved one would orphan every cache built before it.
KEYS = {"digits-mlp": "6d02bad15fde64c4", "cifar10-resnet18": "555e2fc1ebac8798", "cifar10-cnn-small": "d7a86798eca81fbe",
        "imagefolder": "6794d7220c965b1d"}
DIGITS = (BUILT_IN / "digits-mlp.toml").read_text()


def test_the_built_ins_are_files_whose_keys_are_pinned():
    assert sorted(path.stem for path in BUILT_IN.glob("*.toml")) == sorted(KEYS)
    assert {name: spec.key() for name, spec in BENCHMARKS.items()} == KEYS


def test_every_field_of_the_spec_and_the_recipe_is_placed_in_the_key_or_out_of_it():
    """The key is an explicit list: a new field must join the end of the later list (hashed only away from its
    default, so that no old key moves) or UNKEYED, or this fails."""
    assert sorted(name for group in (*KEYED, UNKEYED) for name in group) == sorted(field.name for field in fields(BenchmarkSpec))
    assert sorted(name for group in RECIPE_KEYED for name in group) == sorted(field.name for field in fields(TrainingRecipe))
    digits = BENCHMARKS["digits-mlp"]
    later = {"forget_selection": "class", "image_size": 16, "num_classes": 9, "data_fingerprint": "ab12", "forget_unit": "person",
             "manifest": "faces.csv", "columns": ManifestColumns(label="age", label_bins=10), "pixels": "raw", "split_method": "shuffled",
             "forget_persons": 15, "forget_choice": "first", "original_digest": "cd34", "model_source": "def build(num_classes): ..."}
    assert set(later) == set(KEYED[1])
    assert all(replace(digits, **{name: value}).key() != digits.key() for name, value in later.items())
    assert replace(digits, data_dir="/elsewhere", original_file="/elsewhere/original.pt").key() == digits.key()


def test_a_copy_of_a_built_in_elsewhere_is_the_same_benchmark(tmp_path):
    copy = tmp_path / "my-digits.toml"
    copy.write_text(DIGITS)
    assert get_benchmark(str(copy)) == get_benchmark("digits-mlp")
    changed = tmp_path / "longer.toml"
    changed.write_text(DIGITS.replace("epochs = 30", "epochs = 31"))
    assert get_benchmark(str(changed)).key() != KEYS["digits-mlp"]


def _refusal(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(CompetitionFileError) as refused:
        read_competition(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ")
    return message


@pytest.mark.parametrize("edit, expected", [
    (("epochs = 30", "epoch = 30"), "training.epoch is not a key of [training]; did you mean 'epochs'?"),
    (("[runs]\n", "[runs]\nn_model = 8\n"), "runs.n_model is not a key of [runs]; did you mean 'n_models'?"),
    (("[runs]\n", "[runs]\nn_models = 2\n"), "runs.n_models is 2; the metric compares populations of at least 3 models"),
    (("[runs]\n", "[runs]\nyardstick = \"pairs\"\n"), "runs.yardstick is 'pairs'; did you mean 'paired'?"),
    (("[runs]\n", "[metric]\nattacks = \"weak\"\n[runs]\n"), "metric.attacks: unknown attacks weak; presets: official, strong"),
    (("[runs]\n", "[metric]\nbootstrap = 1\n[runs]\n"), "metric.bootstrap is 1; write 0 (no intervals) or at least 2"),
    (("epochs = 30", 'epochs = 30\nschedule = "step"'), "training.schedule is \"step\": give training.milestones"),
    (("epochs = 30", "epochs = 30\nwarmup_epochs = 30"), "training.warmup_epochs is 30; it must be below training.epochs (30)"),
    (("epochs = 30", 'epochs = 30\noptimiser = "adma"'), "training.optimiser is 'adma'; did you mean 'adam'?"),
    (("epochs = 30", "epochs = 30\nlabel_smoothing = 1.0"), "training.label_smoothing is 1.0; it must be below 1"),
    (("epochs = 30", 'epochs = 30\nschedule = "step"\nmilestones = [20, 10]'), "training.milestones is [20, 10]; write epochs after"),
    (("seed = 1\n", "seeds = 1\n"), "forget.seeds is not a key of [forget]; did you mean 'seed'?"),
    (("[training]", "[trainig]"), "trainig is not a section or a key of the file; did you mean 'training'?"),
    (("epochs = 30", 'epochs = "thirty"'), "training.epochs is 'thirty'; write a whole number"),
    (("epochs = 30", "epochs = 30\naugment = 1"), "training.augment is 1; write true or false"),
    (("hidden_sizes = [64, 64]", "hidden_sizes = 64"), "model.hidden_sizes is 64; write a list"),
    (("epochs = 30", "epochs = 0"), "training.epochs is 0; it must be above 0"),
    (("fraction = 0.1", "fraction = 1.5"), "forget.fraction is 1.5; it must be between 0 and 1"),
    (("[0.8, 0.1, 0.1]", "[0.8, 0.3, 0.1]"), "data.split_fractions is [0.8, 0.3, 0.1]; write three positive shares"),
    (("architecture = \"mlp\"", "architecture = \"mpl\""), "model.architecture is 'mpl'; did you mean 'mlp'? known: mlp, cnn-small, resnet18, or"),
    (("architecture = \"mlp\"", "architecture = \"torchvision:resnet19\""), "torchvision has no classification model 'resnet19' (such as: resnet101"),
    (("rule = \"random\"", "rule = \"randm\""), "forget.rule is 'randm'; did you mean 'random'?"),
    (("dataset = \"sklearn-digits\"", "dataset = \"mnist\""), "data.dataset is 'mnist'"),
    (("architecture = \"mlp\"\n", ""), "[model] needs model.architecture"),
    (("schema_version = 1", "schema_version = 2"), "schema_version is 2; this harness reads schema_version = 1"),
    (("name = \"digits-mlp\"", ""), "name is missing"),
    (("[data]", "[data"), "not TOML"),
    (("fraction = 0.1", "fraction = 0.1\npersons = 15"), "[forget] needs forget.fraction (a share of train) or forget.persons"),
    (('rule = "random"\nfraction = 0.1', 'rule = "class"\npersons = 15'), "forget.persons takes whole persons by forget.choice; forget.rule 'class' picks"),
    (("fraction = 0.1", "persons = -1"), "forget.persons is -1; it must be 0 or more"),
    (("fraction = 0.1", 'persons = 15\nchoice = "firts"'), "forget.choice is 'firts'; did you mean 'first'?"),
    (("split_seed = 2023", 'split_seed = 2023\nmanifest = "faces.csv"'), "data.manifest describes an image manifest; data.dataset 'sklearn-digits' has none"),
    (("split_seed = 2023", "split_seed = 2023\nlabel_bins = 1"), "data.label_bins is 1; write 0 (labels as they are) or at least 2 bins"),
    (("split_seed = 2023", 'split_seed = 2023\npixels = "raw"'), "data.pixels scales images read from files; sklearn-digits is scaled"),
    (("split_seed = 2023", 'split_seed = 2023\npixels = "rgb"'), "data.pixels is 'rgb'; known: normalised, unit, raw"),
    (("split_fractions = [0.8, 0.1, 0.1]", 'split = "shuffled"'), "data.split is \"shuffled\": give data.split_fractions"),
], ids=lambda value: value[1] if isinstance(value, tuple) else None)
def test_a_bad_file_is_refused_naming_the_key_and_what_to_write(tmp_path, edit, expected):
    old, new = edit
    assert old in DIGITS
    assert expected in _refusal(tmp_path, DIGITS.replace(old, new, 1))


def test_a_missing_section_or_a_value_in_its_place_is_named(tmp_path):
    start, end = DIGITS.index("[model]"), DIGITS.index("[training]")
    assert "the section [model] is missing" in _refusal(tmp_path, DIGITS[:start] + DIGITS[end:])
    runs = DIGITS.index("[runs]")
    assert "runs must be a section [runs], not a value" in _refusal(tmp_path, DIGITS[:runs].replace("schema_version = 1", "schema_version = 1\nruns = 64"))


def test_the_cli_refuses_a_bad_file_before_anything_is_built(in_process, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(DIGITS.replace("epochs = 30", "epoch = 30"))
    result = in_process("score", "baselines/identity.py", "--benchmark", str(bad), "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "training.epoch is not a key of [training]; did you mean 'epochs'?" in result.stderr
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()
    unknown = in_process("references", "--benchmark", "digits", "--cache-dir", str(tmp_path / "cache"))
    assert unknown.returncode == 2 and "unknown benchmark 'digits'" in unknown.stderr


def test_the_docs_and_the_starting_file_describe_every_key_and_no_other():
    """Each key's meaning is written once (KEY_DOCS): docs/competitions.md holds the tables made from it, and
    `competition new` comments every key with it."""
    every_key = {f"{name}.{field.name}" for name, cls in SECTIONS.items() for field in fields(cls)}
    assert set(KEY_DOCS) == every_key
    docs = (Path(__file__).resolve().parent.parent / "docs" / "competitions.md").read_text()
    for section in SECTIONS:
        assert key_table(section) in docs, f"docs/competitions.md: paste harness.competition.key_table({section!r})"
    listed = re.findall(r"^`\[(\w+)\]`", docs, re.MULTILINE)
    assert listed == list(SECTIONS)


def test_competition_new_writes_a_file_that_checks(in_process, tmp_path):
    """The issue's done-when: new, then check, prints the splits, the forget set, the content key and the cost."""
    path = tmp_path / "my.toml"
    created = in_process("competition", "new", str(path))
    assert created.returncode == 0, created.stderr
    text = path.read_text()
    assert all(f"\n{key.split('.')[1]} =" in text or f"# {key.split('.')[1]} =" in text for key in KEY_DOCS)
    checked = in_process("competition", "check", str(path), "--n-models", "8")
    assert checked.returncode == 0, checked.stderr
    lines = checked.stdout
    assert f"content key {KEYS['digits-mlp']}" in lines and "train 1437, validation 180, test 180 examples" in lines
    assert "forget set       144 examples, by the random rule; retain 1293" in lines
    assert re.search(r"cost .* the original and 8 references take about \d+ s of one thread", lines)
    again = in_process("competition", "new", str(path))
    assert again.returncode == 2 and "exists" in again.stderr and path.read_text() == text


def test_competition_check_times_a_recipe_that_keeps_its_best_validation_epoch(in_process, tmp_path):
    """One epoch is timed as the training batches it is: a warm-up or a best-validation rule does not stop the estimate."""
    path = tmp_path / "best.toml"
    path.write_text(DIGITS.replace("epochs = 30", 'epochs = 30\nkeep = "best-validation"\nwarmup_epochs = 2\noptimiser = "adam"'))
    result = in_process("competition", "check", str(path), "--n-models", "8")
    assert result.returncode == 0, result.stderr
    assert "30 epochs of Adam" in result.stdout and "after 2 warm-up epochs" in result.stdout
    assert "keeping the epoch of best validation accuracy" in result.stdout and "the original and 8 references take about" in result.stdout


@pytest.mark.parametrize("edit, message", [
    (("epochs = 30", "epoch = 30"), "training.epoch is not a key of [training]; did you mean 'epochs'?"),
    (("rule = \"random\"\nfraction = 0.1", "rule = \"class\"\nfraction = 0.9"), "a forget set of 1293 examples needs more than the 434 candidates"),
    (("dataset = \"sklearn-digits\"", "dataset = \"cifar10\""), "pass --data-dir DIR"),
], ids=["misspelt key", "forget set too large", "no data directory"])
def test_competition_check_refuses_what_cannot_be_trained(in_process, tmp_path, edit, message):
    old, new = edit
    assert old in DIGITS
    path = tmp_path / "bad.toml"
    path.write_text(DIGITS.replace(old, new))
    result = in_process("competition", "check", str(path))
    assert result.returncode == 2 and message in result.stderr


RUN_SETTINGS = DIGITS.replace("[runs]\n", "[runs]\nn_models = 4\nyardstick = \"cached\"\n") + "\n[metric]\nbootstrap = 0\nmia_models = 2\n"


def test_the_files_runs_and_metric_are_the_options_defaults_and_the_command_line_wins(tmp_path):
    from harness.commands.arguments import build_parser
    from harness.commands.cli import _settle_options

    path = tmp_path / "mine.toml"
    path.write_text(RUN_SETTINGS)
    args = build_parser().parse_args(["score", "baselines/identity.py", "--benchmark", str(path), "--bootstrap", "7"])
    use = _settle_options(args, read_competition(path))
    assert (args.n_models, args.yardstick, args.mia_models, args.bootstrap, args.budget_fraction) == (4, "cached", 2, 7, 0.2)
    assert use.to_dict() == {"source": str(path), "overrides": {"metric.bootstrap": 7}}
    assert read_competition(path).spec() == BENCHMARKS["digits-mlp"]  # runs and metric do not decide the references


@pytest.mark.sandbox
def test_a_score_follows_the_files_run_settings_and_says_which_it_overrode(reference_cache, in_process, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(RUN_SETTINGS)
    result = in_process("score", "baselines/identity.py", "--benchmark", str(path), "--cache-dir", str(reference_cache), "--ledger-dir",
                        str(tmp_path / "ledgers"), "--out", str(tmp_path / "out"), "--quiet", "--jobs", "1", *NO_REPORT)
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "out" / "score.json").read_text())
    sealed_key = sealed(BENCHMARKS["digits-mlp"], cache_secret(reference_cache)).key()  # the built-in's, as this cache seals it
    assert document["n_models"] == 4 and document["benchmark_key"] == sealed_key and document["final_score_ci95"] is None
    assert document["simple_mia"]["unlearned"]["n_models"] == 2 and document["time_budget"]["yardstick"] == "cached"
    assert document["competition"] == {"source": str(path), "overrides": {}}


def test_the_recipe_is_named_in_the_file(tmp_path):
    path = tmp_path / "adam.toml"
    path.write_text(DIGITS.replace("epochs = 30", 'epochs = 30\noptimiser = "adam"\nschedule = "step"\nmilestones = [10, 20]\ngamma = 0.5\n'
                                                  'warmup_epochs = 2\nclass_weights = "inverse-count"\nlabel_smoothing = 0.1\nkeep = "best-validation"'))
    recipe = read_competition(path).spec().recipe
    assert (recipe.optimiser, recipe.schedule, recipe.milestones, recipe.gamma, recipe.warmup_epochs, recipe.class_weights, recipe.label_smoothing,
            recipe.keep) == ("adam", "step", (10, 20), 0.5, 2, "inverse-count", 0.1, "best-validation")
    assert read_competition(path).spec().key() != KEYS["digits-mlp"]
