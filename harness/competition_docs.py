"""Each key of a competition file in words: the comments of `competition new` and the tables of docs/competitions.md.

The meanings are written once, here; a test holds the docs to them and to the sections' fields.
"""

from dataclasses import MISSING, Field, fields

from harness.competition import SCHEMA_VERSION, SECTIONS, Competition

# What each key means: the comments of `competition new` and the tables of docs/competitions.md (a test holds
# the two to these words and to the sections' fields).
KEY_DOCS = {
    "data.dataset": "`sklearn-digits` (embedded), `cifar10` (the python-pickle batches, from `--data-dir`), "
                    "`imagefolder` (class folders or a manifest, from `--data-dir`)",
    "data.split_seed": "the seed of the train, validation and test split",
    "data.split_fractions": "train, validation and test shares adding up to 1; left out: the data set's own test part, halved into validation and test",
    "data.image_size": "`imagefolder`: images are resized to this many pixels a side",
    "data.split": "`stratified` by label, or `shuffled`: every example shuffled with the split seed (Python's `random.Random`) and cut "
                  "in order, as the NeurIPS 2023 organisers cut the faces (a person may then appear in several splits)",
    "data.pixels": "`normalised` (the data set's own: CIFAR-10's kit, or image folders to -1 to 1), `unit` (0 to 1) or `raw` "
                   "(0 to 255, as the organisers fed the faces)",
    "data.manifest": "`imagefolder`: the manifest (CSV or Parquet) in the data directory; left out, the directory holds class folders "
                     "or is the manifest",
    "data.path_column": "the manifest's column of image paths (relative to the manifest's folder)",
    "data.label_column": "the manifest's column of labels (class names or integers; numbers with `label_bins`)",
    "data.person_column": "the manifest's column of who each image pictures (optional): random forget sets then take whole persons",
    "data.age_column": "the manifest's column of ages (optional), served in batches as the competition's `age` key",
    "data.label_bins": "0: labels as they are; k: the label column's numbers cut into k equal-width bins from the lowest to the "
                       "highest + 1, as the organisers made 10 age groups",
    "model.architecture": "`mlp`, `cnn-small`, `resnet18`; `torchvision:NAME`, any torchvision classification model "
                          "(such as `torchvision:resnet50`), built untrained with a head for the data's classes (nothing is downloaded); "
                          "or `path/model.py:function`, the organiser's own `function(num_classes)` returning a `torch.nn.Module` "
                          "(the path relative to the file's folder; the file's source enters the content key)",
    "model.seed": "the seed of the original model",
    "model.original": "a checkpoint (state dict) of the original model, relative to the file's folder: supplied, not trained, "
                      "as the organisers handed theirs out; read with `weights_only`, its bytes enter the content key. The references "
                      "are still trained by the recipe",
    "model.hidden_sizes": "`mlp`: the widths of its hidden layers; `cnn-small`: the channels of its three convolutions",
    "training.epochs": "passes over train",
    "training.batch_size": "training batches",
    "training.learning_rate": "the initial learning rate",
    "training.momentum": "SGD's momentum (the other optimisers have none)",
    "training.weight_decay": "the optimiser's weight decay",
    "training.augment": "random crops (4-pixel padding) and horizontal flips of training batches",
    "training.mixed_precision": "bfloat16 autocast while training; evaluation stays float32",
    "training.optimiser": "`sgd`, `adam` or `adamw` (the NeurIPS 2023 organisers trained with Adam)",
    "training.schedule": "the learning rate's schedule, stepped once an epoch: `cosine`, `step` (times `gamma` at each of `milestones`) or `constant`",
    "training.warmup_epochs": "a linear rise to the learning rate over these first epochs, before the schedule",
    "training.milestones": "`step`: the epochs after the warm-up at which the rate is multiplied by `gamma`",
    "training.gamma": "`step`: the factor of each milestone",
    "training.class_weights": "`none`, or `inverse-count`: the loss weighs each class by 1 / its count in train, as the organisers did",
    "training.label_smoothing": "cross-entropy's label smoothing (0: none)",
    "training.keep": "which weights training ends with: the `last` epoch's, or `best-validation`, the epoch of best validation accuracy "
                     "(evaluated after each epoch, as the organisers kept theirs; such models train one at a time)",
    "forget.seed": "the public split's seed; the private split derives its own",
    "forget.fraction": "the share of train to forget (of persons, where the data name them; for `poisoned`, the share of train relabelled); "
                       "or give `persons`",
    "forget.persons": "instead of a fraction: every training example of this many whole persons (the data must name them)",
    "forget.choice": "`persons`: `random` (drawn with the seed) or `first` (the lowest person ids, as the organisers took 15; "
                     "the private split takes the next ones)",
    "forget.rule": "`random`, `class` (a few classes), `hardest` (highest loss under the original) or `poisoned` (relabelled examples)",
    "runs.loader_batch_size": "the batches of the loaders `unlearning(net, retain, forget, validation)` is given",
    "runs.n_models": "unlearning runs, and reference models to compare them with (`--n-models`)",
    "runs.budget_fraction": "the time a run may take, as a share of retraining's (`--budget-fraction`)",
    "runs.budget_policy": "`eligible`: over budget ranks after every entry within it, as on Kaggle; `rank-all`: by score alone (`--budget-policy`)",
    "runs.borderline": "what a verdict whose interval holds the limit counts as: `pass`, `fail` or `more-runs` (`--borderline`)",
    "runs.yardstick": "retraining timed `paired` among each entry's runs, or `cached` once per machine (`--yardstick`)",
    "runs.timeout_s": "a run is stopped after this many seconds; left out: ten budgets, at least 10 s (`--timeout`)",
    "runs.memory_gb": "the memory a run may use on top of the worker's own (`--memory-gb`)",
    "metric.attacks": "`official` (the competition's), `strong`, or attack names separated by commas (`--attacks`)",
    "metric.rates": "error rates: `empirical`, or `clopper-pearson` upper bounds (`--rates`)",
    "metric.confidence": "the confidence of the Clopper-Pearson bounds (`--confidence`)",
    "metric.bootstrap": "half-sampling replicates for the 95% intervals of F and the score; 0: none (`--bootstrap`)",
    "metric.mia_models": "models per population for the starting kit's simple MIA (`--mia-models`)",
}


def _toml(value: object) -> str:
    """A default as TOML writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _default(field: Field) -> str | None:
    """A field's default as TOML, "" where it is required, None where it is left out."""
    if field.default is MISSING:
        return ""
    return None if field.default is None else _toml(field.default)


def key_table(section: str) -> str:
    """The Markdown table of a section's keys: default (blank: required) and meaning."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for field in fields(SECTIONS[section]):
        default = _default(field)
        rows.append(f"| `{field.name}` | {'left out' if default is None else default.replace('[]', '`[]`')} | {KEY_DOCS[f'{section}.{field.name}']} |")
    return "\n".join(rows)


def starting_file(example: Competition) -> str:
    """A competition file for `competition new`: every key, with its meaning and default as a comment, set as in `example`."""
    lines = ["# A competition for the unlearning harness (docs/competitions.md). Every key is listed with what it means",
             "# and its default; a key commented out is left at it. Check the file with: python -m harness competition check FILE",
             f"schema_version = {SCHEMA_VERSION}", f'name = "{example.name}"  # enters the content key of the references']
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        for field in fields(SECTIONS[section]):
            default = _default(field)
            meaning = KEY_DOCS[f"{section}.{field.name}"].replace("`", "")
            lines.append(f"# {meaning} ({'required' if default == '' else 'default: ' + (default or 'left out')})")
            value = getattr(getattr(example, section), field.name)
            lines.append(f"{field.name} = {_toml(value)}" if value is not None else f"# {field.name} =")
    return "\n".join(lines) + "\n"
