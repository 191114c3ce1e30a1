"""The frozen description of a benchmark; its content hash keys the reference cache."""

from dataclasses import asdict, dataclass
import hashlib
import json

# Bump when the meaning of cached files changes, so old caches are never reused.
CACHE_FORMAT = 2


@dataclass(frozen=True)
class TrainingRecipe:
    """SGD with momentum and a cosine schedule, as in the competition's kit."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4


@dataclass(frozen=True)
class BenchmarkSpec:
    """Everything that decides the reference models' weights and outputs.

    Run settings (how many models, the time-budget fraction) are deliberately
    not here: references are cached by index, so N = 64 reuses the first 64
    models of a cache built for N = 512.
    """

    name: str
    dataset: str
    split_fractions: tuple[float, float, float]  # train, validation, test
    split_seed: int
    forget_fraction: float
    forget_seed: int
    architecture: str
    hidden_sizes: tuple[int, ...]
    recipe: TrainingRecipe
    model_seed: int
    loader_batch_size: int = 64
    forget_selection: str = "random"  # see reference_models.forget_sets; "poisoned": forget_fraction is the poison fraction

    def to_dict(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        """Short content hash of every field and the cache format.

        The forget selection enters the hash only when it is not the default,
        so that benchmarks with a random forget set keep the keys, and the
        caches and ledgers, they had before selections existed.
        """
        fields = self.to_dict()
        if fields["forget_selection"] == "random":
            del fields["forget_selection"]
        text = json.dumps({"format": CACHE_FORMAT, **fields}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
