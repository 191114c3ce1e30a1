"""The secret that seeds the references, so that no submission can rebuild them.

A benchmark's seeds are public: they are in this repository. A submission
that knows them and has the references' trainer could retrain reference
model i bit for bit and return it as run i (F = 1), or rebuild the test
split. So the seeds that decide the data split, the forget set and every
model are derived from a secret made once per reference cache (256 random
bits in `<cache root>/secret`, readable by its owner only, kept out of git)
and the public seeds. The worker never receives the secret or the sealed
seeds (`public_view`). Same cache, same secret: same numbers.
"""

from dataclasses import replace
import os
from pathlib import Path
import secrets

import numpy as np

from reference_models.errors import CacheDamaged
from reference_models.spec import BenchmarkSpec

SECRET_FILE = "secret"
_SPLIT_SEED_BITS = 32  # scikit-learn's train_test_split takes seeds below 2**32
_SEED_BITS = 63


def cache_secret(cache_root: Path) -> str:
    """The cache's secret (hex), made on first use; two processes racing agree on one."""
    path = Path(cache_root) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
    text = path.read_text().strip()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise CacheDamaged(f"{path} is not a reference-cache secret (64 hex digits): restore it, or delete it and the cache to start afresh")
    return text


def _sealed_seed(secret: str, field: str, public: int, bits: int) -> int:
    entropy = [int(secret, 16), int.from_bytes(field.encode(), "little"), public]
    return int(np.random.SeedSequence(entropy).generate_state(2, np.uint64)[0]) >> (64 - bits)


def sealed(spec: BenchmarkSpec, secret: str) -> BenchmarkSpec:
    """The spec with its split, forget and model seeds derived from the secret; its key changes with them."""
    return replace(
        spec,
        split_seed=_sealed_seed(secret, "split", spec.split_seed, _SPLIT_SEED_BITS),
        forget_seed=_sealed_seed(secret, "forget", spec.forget_seed, _SEED_BITS),
        model_seed=_sealed_seed(secret, "model", spec.model_seed, _SEED_BITS),
    )


def public_view(spec: BenchmarkSpec) -> BenchmarkSpec:
    """What the worker may know of a spec: architecture, recipe and loaders, no seeds and no data folder."""
    return replace(spec, split_seed=0, forget_seed=0, model_seed=0, data_dir=None)
