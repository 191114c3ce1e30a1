"""The reference cache: the original model and N models retrained from scratch.

Layout, per benchmark key (the spec's content hash):

    <root>/<key>/manifest.json     spec, hardware, retrain timings, the
                                   original's outputs, and per model index its
                                   seed, file checksum and outputs checksum
    <root>/<key>/original.pt       weights of the model trained on all of train
    <root>/<key>/models/0000.pt    weights of retrained model 0, ...
    <root>/<key>/outputs.parquet   one row per retrained model: accuracies and
                                   forget-set statistic

Models train in stacks of up to CHUNK (see batched_training). The manifest is
written last and is the commit record: a model counts as built only once the
manifest holds checksums that its files still match, so an interrupted build
loses at most the stacks in flight, and a damaged file is rebuilt.

Retrain time, the yardstick of the time budget, is measured separately by
training a few models one at a time through the participants' loaders.
"""

from dataclasses import dataclass
from functools import lru_cache
import json
import os
from pathlib import Path

from joblib import Parallel, delayed
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm import tqdm

from reference_models.architectures import build_model
from reference_models.batched_training import train_stack
from reference_models.datasets import BenchmarkData, load_benchmark_data
from reference_models.evaluation import ModelOutputs, evaluate
from reference_models.files import (
    load_state_dict_bytes,
    sha256_bytes,
    state_dict_bytes,
    write_atomic,
    write_table_atomic,
)
from reference_models.hardware import hardware_fingerprint
from reference_models.seeds import derive_seed
from reference_models.spec import CACHE_FORMAT, BenchmarkSpec
from reference_models.training import train_from_scratch

CHUNK = 64  # models trained in one stack
_MIN_TIMINGS = 3


@dataclass(frozen=True)
class References:
    """The first N reference models' outputs, ready for scoring."""

    key: str
    original_state: dict[str, torch.Tensor]
    original: ModelOutputs
    seeds: np.ndarray
    retrain_seconds: np.ndarray  # timed one model at a time, see time_retraining
    retain_accuracy: np.ndarray
    test_accuracy: np.ndarray
    forget_accuracy: np.ndarray
    forget_statistic: np.ndarray  # float64 [N, E]
    hardware: dict


@lru_cache(maxsize=4)
def _data(spec: BenchmarkSpec) -> BenchmarkData:
    return load_benchmark_data(spec)


def _model_seed(spec: BenchmarkSpec, index: int | None) -> int:
    """Index None is the original model; 0..N-1 the retrained ones."""
    return derive_seed(spec.model_seed, "original" if index is None else "retrain", index or 0)


def _train_chunk(spec: BenchmarkSpec, indices: list[int | None]) -> list[dict]:
    """Train the original (index None, on train) or retrained models (on retain), stacked.

    Runs in a joblib worker with one thread, so that a chunk's result does not
    depend on how many chunks train side by side.
    """
    torch.set_num_threads(1)
    data = _data(spec)
    train_set = data.train if indices == [None] else data.retain
    seeds = [_model_seed(spec, index) for index in indices]
    results = []
    for index, seed, state in zip(indices, seeds, train_stack(spec, train_set, seeds)):
        model = build_model(spec)
        model.load_state_dict(state)
        outputs = evaluate(model, data)
        results.append(
            {
                "index": index,
                "seed": seed,
                "weights": state_dict_bytes(state),
                "retain_accuracy": outputs.retain_accuracy,
                "test_accuracy": outputs.test_accuracy,
                "forget_accuracy": outputs.forget_accuracy,
                "forget_statistic": outputs.forget_statistic.tolist(),
            }
        )
    return results


def _time_one(spec: BenchmarkSpec, index: int) -> float:
    torch.set_num_threads(1)
    return train_from_scratch(spec, _data(spec).retain, _model_seed(spec, index))[1]


def time_retraining(spec: BenchmarkSpec, jobs: int) -> list[float]:
    """Seconds to retrain one model here, through the loader submissions get.

    Timed with as many trainings side by side as there will be unlearning
    runs, so that both sides of the time budget see the same contention.
    """
    n = max(_MIN_TIMINGS, 2 * jobs)
    return Parallel(n_jobs=jobs)(delayed(_time_one)(spec, i) for i in range(n))


_ROW_FIELDS = ("index", "seed", "retain_accuracy", "test_accuracy", "forget_accuracy", "forget_statistic")


def _row_checksum(row: dict) -> str:
    return sha256_bytes(json.dumps([row[f] for f in _ROW_FIELDS]).encode())


class ReferenceCache:
    """Builds, checks and loads the references of one benchmark spec."""

    def __init__(self, root: Path, spec: BenchmarkSpec):
        self.spec = spec
        self.dir = Path(root) / spec.key()
        self.manifest_path = self.dir / "manifest.json"
        self.outputs_path = self.dir / "outputs.parquet"
        self.manifest = self._read_manifest()
        self.rows = self._read_valid_rows()

    def _read_manifest(self) -> dict:
        if self.manifest_path.exists():
            manifest = json.loads(self.manifest_path.read_text())
            if manifest.get("format") == CACHE_FORMAT and manifest.get("key") == self.spec.key():
                return manifest
        return {
            "format": CACHE_FORMAT,
            "key": self.spec.key(),
            "spec": self.spec.to_dict(),
            "hardware": hardware_fingerprint(),
            "original": None,
            "models": {},
        }

    def _file_ok(self, relpath: str, checksum: str) -> bool:
        path = self.dir / relpath
        return path.exists() and sha256_bytes(path.read_bytes()) == checksum

    def _read_valid_rows(self) -> dict[int, dict]:
        """Rows whose model file and outputs both match the manifest."""
        if not self.outputs_path.exists():
            return {}
        rows = {}
        for row in pq.read_table(self.outputs_path).to_pylist():
            entry = self.manifest["models"].get(str(row["index"]))
            if (
                entry is not None
                and entry["outputs_sha256"] == _row_checksum(row)
                and self._file_ok(_model_path(row["index"]), entry["weights_sha256"])
            ):
                rows[row["index"]] = row
        return rows

    def _original_ok(self) -> bool:
        original = self.manifest["original"]
        return original is not None and self._file_ok("original.pt", original["weights_sha256"])

    def _commit(self, results: list[dict]) -> None:
        """Persist trained models: weights, then outputs, then the manifest."""
        for result in results:
            weights = result.pop("weights")
            index = result["index"]
            write_atomic(self.dir / ("original.pt" if index is None else _model_path(index)), weights)
            entry = {"weights_sha256": sha256_bytes(weights)}
            if index is None:
                self.manifest["original"] = {**result, **entry}
            else:
                self.rows[index] = result
                self.manifest["models"][str(index)] = {**entry, "outputs_sha256": _row_checksum(result)}
        if any(result["index"] is not None for result in results):
            rows = [self.rows[i] for i in sorted(self.rows)]
            write_table_atomic(self.outputs_path, pa.Table.from_pylist(rows))
        self._write_manifest()

    def _write_manifest(self) -> None:
        write_atomic(self.manifest_path, json.dumps(self.manifest, indent=1).encode())

    def build(self, n_models: int, jobs: int = -1, progress: bool = True) -> None:
        """Train whatever of the original and models 0..n-1 is missing or damaged, then time retraining."""
        missing = [i for i in range(n_models) if i not in self.rows]
        chunks: list[list[int | None]] = [] if self._original_ok() else [[None]]
        chunks += [missing[i : i + CHUNK] for i in range(0, len(missing), CHUNK)]
        if chunks:
            tasks = Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(_train_chunk)(self.spec, c) for c in chunks)
            total = sum(len(c) for c in chunks)
            with tqdm(total=total, desc="reference models", unit="model", disable=None if progress else True) as bar:
                for results in tasks:
                    self._commit(results)
                    bar.update(len(results))
        if not self.manifest.get("retrain_seconds"):
            self.manifest["retrain_seconds"] = time_retraining(self.spec, jobs if jobs > 0 else os.cpu_count() or 1)
            self.manifest["hardware"] = hardware_fingerprint()
            self._write_manifest()

    def load(self, n_models: int) -> References:
        """The original and the first n retrained models; build() them first."""
        missing = [i for i in range(n_models) if i not in self.rows]
        if missing or not self._original_ok() or not self.manifest.get("retrain_seconds"):
            raise RuntimeError(f"reference cache {self.dir} is incomplete: build it first (make references)")
        rows = [self.rows[i] for i in range(n_models)]
        original = self.manifest["original"]
        return References(
            key=self.spec.key(),
            original_state=load_state_dict_bytes((self.dir / "original.pt").read_bytes()),
            original=ModelOutputs(
                original["retain_accuracy"],
                original["test_accuracy"],
                original["forget_accuracy"],
                np.array(original["forget_statistic"]),
            ),
            seeds=_column(rows, "seed"),
            retrain_seconds=np.array(self.manifest["retrain_seconds"]),
            retain_accuracy=_column(rows, "retain_accuracy"),
            test_accuracy=_column(rows, "test_accuracy"),
            forget_accuracy=_column(rows, "forget_accuracy"),
            forget_statistic=np.array([r["forget_statistic"] for r in rows], dtype=np.float64).reshape(n_models, -1),
            hardware=self.manifest["hardware"],
        )


def _column(rows: list[dict], name: str) -> np.ndarray:
    return np.array([row[name] for row in rows])


def _model_path(index: int) -> str:
    return f"models/{index:04d}.pt"

