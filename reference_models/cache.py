"""The reference cache: the original model and populations of models trained from scratch.

Two populations are trained on the retain set, each model with its own seed:
`retrained`, the references every submission is compared with, and
`ceiling`, more models of exactly the same kind, scored like a submission to
show the F that perfect unlearning reaches at this N.

Layout, per benchmark key (the spec's content hash):

    <root>/<key>/manifest.json            spec, hardware, and per population
                                          and model index its file checksum,
                                          outputs checksum and what it was trained
                                          with (optimiser, class weights, kept epoch)
    <root>/<key>/original.pt              weights of the model trained on all of train (or supplied)
    <root>/<key>/originals/0001.pt        weights of the study's further originals (--originals K), seeds 1..K-1
    <root>/<key>/<population>/0000.pt     weights of model 0 of a population, ...
    <root>/<key>/<population>.parquet     one row per model: accuracies and the
                                          forget- and test-set statistics

Models train in chunks: small models CHUNK at a time in one stack (see
batched_training), image models one per task, so that a cluster's workers
share them out. The manifest is written last and is the commit record: a
model counts as built only once the manifest holds checksums that its files
still match, so an interrupted build loses at most the chunks in flight, and
a damaged file is rebuilt.

Retrain time, the yardstick of the time budget, is not measured here: the
retrain baseline runs in the sandbox like a submission (harness.timing.yardstick).
"""

from dataclasses import dataclass
from functools import lru_cache
import json
import logging
from pathlib import Path

from filelock import FileLock
from joblib import Parallel, delayed
import numpy as np
import pyarrow as pa
import torch

from reference_models.architectures import STACKABLE, build_model
from reference_models.datasets import BenchmarkData, load_benchmark_data
from reference_models.errors import CacheDamaged, InputError
from reference_models.evaluation import ModelOutputs, PopulationOutputs, evaluate
from reference_models.files import load_state_dict_bytes, read_table, sha256_bytes, state_dict_bytes, write_atomic, write_table_atomic
from reference_models.hardware import hardware_fingerprint
from reference_models.progress import progress as progress_bar
from reference_models.seeds import model_seed
from reference_models.spec import CACHE_FORMAT, BenchmarkSpec
from reference_models.supplied import load_original
from reference_models.training import train_models

log = logging.getLogger(__name__)

CHUNK = 64  # small models trained in one stack
POPULATIONS = ("retrained", "ceiling")
_ORIGINAL = "original"


@dataclass(frozen=True)
class References:
    """The original models (the competition's one, then any more a study of originals asked for) and the first N
    retrained models, ready for scoring."""

    key: str
    original_states: tuple[dict[str, torch.Tensor], ...]
    originals: tuple[ModelOutputs, ...]
    retrained: PopulationOutputs

    @property
    def original_state(self) -> dict[str, torch.Tensor]:
        return self.original_states[0]

    @property
    def original(self) -> ModelOutputs:
        """The competition's original: the one every run unlearns from, unless a study of originals spreads them."""
        return self.originals[0]


@lru_cache(maxsize=4)
def _data(spec: BenchmarkSpec) -> BenchmarkData:
    return load_benchmark_data(spec)


def _chunk_size(spec: BenchmarkSpec) -> int:
    return CHUNK if spec.architecture in STACKABLE else 1


def _train_chunk(spec: BenchmarkSpec, population: str, indices: list[int], device: str) -> tuple[str, list[dict]]:
    """Train a chunk of models of one population (the original: on train; others: on retain).

    Runs in a joblib worker with one thread, so that a chunk's result does not
    depend on how many chunks train side by side.
    """
    torch.set_num_threads(1)
    data = _data(spec)
    seeds = [model_seed(spec, population, index) for index in indices]
    if population == _ORIGINAL and spec.original_file is not None:
        made = [(load_original(spec), {"supplied": spec.original_digest})]
    else:
        trained = train_models(spec, data.train if population == _ORIGINAL else data.retain, seeds, device, data.validation)
        made = [(one.state, one.record.to_dict()) for one in trained]
    results = []
    for index, seed, (state, how) in zip(indices, seeds, made, strict=True):
        model = build_model(spec)
        model.load_state_dict(state)
        model.to(device)
        results.append({"index": index, "seed": seed, "weights": state_dict_bytes(state), "trained": how, **evaluate(model, data).to_row()})
    return population, results


def _row_checksum(row: dict) -> str:
    return sha256_bytes(json.dumps(row, sort_keys=True).encode())


class ReferenceCache:
    """Builds, checks and loads the references of one benchmark spec."""

    def __init__(self, root: Path, spec: BenchmarkSpec, device: str = "cpu"):
        self.spec = spec
        self.device = device  # where models train and are evaluated; never part of the key
        self.dir = Path(root) / spec.key()
        self.manifest_path = self.dir / "manifest.json"
        self._read()

    def _read(self) -> None:
        """(Re)load the manifest and every row that still matches it; note what does not."""
        self.damaged: list[str] = []
        self.manifest = self._read_manifest()
        self.rows = {name: self._read_valid_rows(name) for name in (_ORIGINAL, *POPULATIONS)}

    def _read_manifest(self) -> dict:
        if self.manifest_path.exists():
            try:
                manifest = json.loads(self.manifest_path.read_text())
            except (OSError, ValueError):
                manifest = {}
                self.damaged.append(f"{self.manifest_path} (unreadable)")
            if manifest.get("format") == CACHE_FORMAT and manifest.get("key") == self.spec.key():
                return manifest
        return {
            "format": CACHE_FORMAT,
            "key": self.spec.key(),
            "spec": self.spec.to_dict(),
            "hardware": hardware_fingerprint(self.device),
            "models": {name: {} for name in (_ORIGINAL, *POPULATIONS)},
        }

    def _outputs_path(self, population: str) -> Path:
        return self.dir / f"{population}.parquet"

    def _weights_path(self, population: str, index: int) -> Path:
        if population == _ORIGINAL:
            return self.dir / "original.pt" if index == 0 else self.dir / "originals" / f"{index:04d}.pt"
        return self.dir / population / f"{index:04d}.pt"

    def _read_valid_rows(self, population: str) -> dict[int, dict]:
        """Rows whose weights file and outputs both match the manifest."""
        path = self._outputs_path(population)
        entries = self.manifest["models"][population]
        try:
            table = read_table(path).to_pylist() if path.exists() else []
        except (OSError, ValueError, pa.ArrowException):
            table = []
        rows = {}
        for row in table:
            entry = entries.get(str(row["index"]))
            if entry is not None and entry["outputs_sha256"] == _row_checksum(row):
                rows[row["index"]] = row
        for index, entry in entries.items():
            weights = self._weights_path(population, int(index))
            if int(index) not in rows:
                self.damaged.append(f"{path} (row {index})")
            elif not weights.exists() or sha256_bytes(weights.read_bytes()) != entry["weights_sha256"]:
                self.damaged.append(str(weights))
                del rows[int(index)]
        return rows

    def _commit(self, population: str, results: list[dict]) -> None:
        """Persist trained models: weights, then outputs, then the manifest."""
        rows, entries = self.rows[population], self.manifest["models"][population]
        for result in results:
            weights, trained = result.pop("weights"), result.pop("trained")
            write_atomic(self._weights_path(population, result["index"]), weights)
            rows[result["index"]] = result
            entries[str(result["index"])] = {"weights_sha256": sha256_bytes(weights), "outputs_sha256": _row_checksum(result), "trained": trained}
        write_table_atomic(self._outputs_path(population), pa.Table.from_pylist([rows[i] for i in sorted(rows)]))
        self._write_manifest()

    def _write_manifest(self) -> None:
        write_atomic(self.manifest_path, json.dumps(self.manifest, indent=1).encode())

    def build(
        self,
        n_models: int,
        populations: tuple[str, ...] = ("retrained",),
        jobs: int = -1,
        progress: bool = True,
        rebuild: bool = True,
        originals: int = 1,
    ) -> None:
        """Train whatever is missing or damaged of the first `originals` originals and the first n models
        of each population.

        Holds the cache's lock, so that two harness processes never write it at
        once; the second one finds the first one's models. With rebuild=False,
        damaged files raise CacheDamaged instead of being retrained.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.dir / ".lock")):
            self._read()
            if self.damaged and not rebuild:
                listed = "\n  ".join(self.damaged)
                raise CacheDamaged(f"the reference cache does not match its manifest:\n  {listed}\nrun without --no-rebuild to retrain these models")
            self._build_locked(n_models, populations, jobs, progress, originals)

    def _build_locked(self, n_models: int, populations: tuple[str, ...], jobs: int, progress: bool, originals: int) -> None:
        if originals > 1 and self.spec.original_file is not None:
            raise InputError(f"this benchmark's original model is supplied ({self.spec.original_file}), so no other originals can be "
                             "trained from other seeds: leave --originals out")
        tasks = []
        size = _chunk_size(self.spec)
        for population, count in ((_ORIGINAL, originals), *((population, n_models) for population in populations)):
            missing = [i for i in range(count) if i not in self.rows[population]]
            tasks += [(population, missing[i : i + size]) for i in range(0, len(missing), size)]
        if not tasks:
            what = "the original" if originals == 1 else f"{originals} originals"
            log.debug(f"references: {what} and {n_models} {', '.join(populations)} models found in {self.dir}")
        else:
            log.debug(f"references: training {sum(len(chunk) for _, chunk in tasks)} models into {self.dir}")
            results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
                delayed(_train_chunk)(self.spec, p, c, self.device) for p, c in tasks
            )
            total = sum(len(chunk) for _, chunk in tasks)
            with progress_bar(total, "reference models", "model", progress) as bar:
                for population, chunk in results:
                    self._commit(population, chunk)
                    bar.update(len(chunk))

    def population(self, name: str, n_models: int) -> PopulationOutputs:
        """Outputs of the first n models of a population; build() them first."""
        rows = self.rows[name]
        if any(i not in rows for i in range(n_models)):
            raise RuntimeError(f"reference cache {self.dir} lacks {name} models below {n_models}: build it first (make references)")
        return PopulationOutputs.from_rows([rows[i] for i in range(n_models)])

    def load(self, n_models: int, originals: int = 1) -> References:
        """The first `originals` originals and the first n retrained models; build() them first."""
        if any(index not in self.rows[_ORIGINAL] for index in range(originals)):
            raise RuntimeError(f"reference cache {self.dir} is incomplete: build it first (make references)")
        rows = [self.rows[_ORIGINAL][index] for index in range(originals)]
        return References(
            key=self.spec.key(),
            original_states=tuple(load_state_dict_bytes(self._weights_path(_ORIGINAL, index).read_bytes()) for index in range(originals)),
            originals=tuple(
                ModelOutputs(row["retain_accuracy"], row["test_accuracy"], row["forget_accuracy"], np.array(row["forget_statistic"]),
                             np.array(row["test_statistic"]), np.array(row["retain_statistic"]))
                for row in rows
            ),
            retrained=self.population("retrained", n_models),
        )
