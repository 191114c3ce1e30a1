"""Scores kept by what they were computed from, so that scoring again with nothing new costs a lookup (issue 42).

A score is a pure function of its inputs: the runs in its ledger, the references' outputs, the
benchmark, the file scored (path and hash), the yardstick's measurements, the settings its numbers
depend on, the libraries' versions and the isolation it ran in, and the harness's own source. Their
digest names a folder under the ledger root holding the score's files and, written last, their
checksums. A later score with the same digest copies those files into its output folder instead of
computing the metric and the report again: a rerun of a board with every run kept, or each round of an
adaptive board run again. Anything missing or altered there is computed again; the folder
(LEDGER_DIR/scores) may be deleted at any time. It holds at most MAX_KEPT scores: past that, keeping one removes those
least recently kept or copied back (a changed harness leaves every earlier score unused, so the folder would only grow).
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
import hashlib
import json
import logging
import os
from pathlib import Path
import shutil

import numpy as np

from harness.outputs.results import RESULT_FILES
from reference_models.files import write_atomic
from scoring.document import ScoreDocument, from_json

log = logging.getLogger(__name__)

_CHECKSUMS = "checksums.json"
MAX_KEPT = 4096  # scores, about 0.5 MB each on digits-mlp with report.html: room for a two-split board of 2,000 entries
_PACKAGES = ("harness", "scoring", "reference_models", "rendering")


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The digest of every source file of the packages that make a score: a changed harness recomputes every kept score."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in _PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def outputs_digest(items: Sequence[object]) -> str:
    """The digest of runs or references (dataclasses), field by field, their statistics as float64 bytes."""
    digest = hashlib.sha256()
    for item in items:
        for field in fields(item):  # type: ignore[arg-type]
            value = getattr(item, field.name)
            data = np.asarray(value, dtype=np.float64).tobytes() if isinstance(value, list | np.ndarray) else repr(value).encode()
            digest.update(field.name.encode() + b"=" + data + b";")
    return digest.hexdigest()


@dataclass(frozen=True)
class ScoreInputs:
    """What a score's numbers and files are computed from."""

    benchmark_key: str
    submission: str  # the path as given, which score.json names
    submission_sha256: str
    runs: str  # outputs_digest of the records scored
    references: str  # outputs_digest of the original's and the retrained models' outputs scored against
    yardstick: str  # the retraining and floor seconds the budget was judged by, or why there are none
    settings: str  # ScoreSettings.numbers()
    circumstances: str  # what else score.json records: the libraries' versions, the isolation

    def key(self) -> str:
        """The digest of these inputs and of the harness's source."""
        text = json.dumps({**asdict(self), "code": code_fingerprint()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


class KeptScores:
    """The kept scores under a ledger root."""

    def __init__(self, ledger_dir: Path):
        self.root = Path(ledger_dir) / "scores"

    def restore(self, inputs: ScoreInputs, out_dir: Path) -> ScoreDocument | None:
        """The score kept for these inputs, its files copied into out_dir (and any other result file there removed);
        None where none is kept whole."""
        folder = self.root / inputs.key()
        try:
            checksums = json.loads((folder / _CHECKSUMS).read_text())
            kept = {name: (folder / name).read_bytes() for name in checksums}
        except (OSError, ValueError):
            return None
        if set(kept) - set(RESULT_FILES) or "score.json" not in kept or any(
                hashlib.sha256(data).hexdigest() != checksums[name] for name, data in kept.items()):
            log.warning(f"the kept score in {folder} is incomplete or altered: scoring again")
            return None
        for name in RESULT_FILES:
            if name in kept:
                write_atomic(out_dir / name, kept[name])
            else:
                (out_dir / name).unlink(missing_ok=True)
        os.utime(folder / _CHECKSUMS)  # used now: the last to be removed
        log.info(f"nothing new since the last score of these runs with these settings: its results copied from {folder}")
        return from_json(kept["score.json"].decode(), str(out_dir / "score.json"))

    def keep(self, inputs: ScoreInputs, out_dir: Path) -> None:
        """Keep the result files that out_dir holds now as the score of these inputs: the files first, their checksums
        last; then the least recently used past MAX_KEPT go. A score that cannot be kept (a full disk, another harness
        removing the folder meanwhile) is only logged: its results are in out_dir already."""
        folder = self.root / inputs.key()
        try:
            kept = {name: (out_dir / name).read_bytes() for name in RESULT_FILES if (out_dir / name).is_file()}
            for name, data in kept.items():
                write_atomic(folder / name, data)
            checksums = {name: hashlib.sha256(data).hexdigest() for name, data in kept.items()}
            write_atomic(folder / _CHECKSUMS, (json.dumps(checksums, indent=1, sort_keys=True) + "\n").encode())
            self._remove_past(MAX_KEPT)
        except OSError as error:
            log.warning(f"the score could not be kept in {folder} ({error}); its results are in {out_dir}, and a rerun computes it again")

    def _remove_past(self, limit: int) -> None:
        """Remove the kept scores least recently kept or copied back (by their checksums' time) beyond `limit`; a
        folder still being written has no checksums yet and stays."""
        used = []
        for folder in self.root.iterdir():
            try:
                used.append(((folder / _CHECKSUMS).stat().st_mtime, folder))
            except OSError:
                continue
        for _, folder in sorted(used)[: max(0, len(used) - limit)]:
            shutil.rmtree(folder, ignore_errors=True)
