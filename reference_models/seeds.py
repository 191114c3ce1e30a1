"""Seeds derived from a base seed, a purpose and an index.

Every model, split and run draws its seed from here, so that its randomness
depends on what it is, never on the order or the process it runs in.
"""

import hashlib

import numpy as np

from reference_models.spec import BenchmarkSpec


def derive_seed(base: int, purpose: str, index: int = 0) -> int:
    """A 31-bit seed, the same on every machine for the same arguments."""
    tag = int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:4], "little")
    state = np.random.SeedSequence([base, tag, index]).generate_state(1)[0]
    return int(state) & 0x7FFFFFFF


def model_seed(spec: BenchmarkSpec, population: str, index: int) -> int:
    """The initialisation and shuffling seed of model `index` of a population (of "original", index 0 is the competition's
    original and 1, 2, ... those of a study of originals)."""
    return derive_seed(spec.model_seed, population, index)
