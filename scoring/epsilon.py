"""Per-example privacy estimate (epsilon): the worst case over the chosen attacks.

Steps 2, 3 and 6 of ../shared/specs/official-metric.md around the attacks of
`scoring.attacks`. With the `official` preset and empirical rates this is the
competition metric, equal to the organisers' scorer on every fixture; the
organisers evaluate each rule one by one, here a rule costs a table lookup
(see `scoring.tables` and `scoring.counting`).
"""

from dataclasses import dataclass
from functools import partial

from joblib import Parallel, delayed
import numpy as np

from scoring.attacks import ATTACKS, TableFor, resolve_attacks
from scoring.tables import rule_table
from scoring.torch_grids import GRID_ATTACKS, grid_attacks

MAX_EPSILON = 50.0
_PEAKY_RATIO = 0.01
_CHUNK = 16  # examples per parallel task


@dataclass(frozen=True)
class EpsilonEstimate:
    """Per-example epsilon, per attack, with the flags that explain extreme values."""

    epsilon: np.ndarray  # float32 [E], in [0, 50]
    by_attack: dict[str, np.ndarray]  # attack name -> float32 [E]
    peaky: np.ndarray  # bool [E]: the ratio shortcut gave 50
    undetermined: np.ndarray  # bool [E]: every rule was discarded, epsilon 0


def orient(unlearned: np.ndarray, retrained: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (positives, negatives): retrained are positive if their median is larger (step 2)."""
    u, r = np.sort(unlearned), np.sort(retrained)
    return (r, u) if np.median(r) > np.median(u) else (u, r)


def is_peaky(pos: np.ndarray, neg: np.ndarray) -> bool:
    """Step 3: one population's range is under 1% of the other's (or both are constant)."""
    dp, dn = pos[-1] - pos[0], neg[-1] - neg[0]
    wide, narrow = (dp, dn) if dp > dn else (dn, dp)
    with np.errstate(divide="ignore", invalid="ignore"):
        return bool(np.float64(narrow) / np.float64(wide) < _PEAKY_RATIO)


def _chunk(unlearned: np.ndarray, retrained: np.ndarray, names: tuple[str, ...], table_for: TableFor, device: str | None) -> np.ndarray:
    """Raw per-attack maxima [E, attacks] for some examples; NaN marks a peaky example."""
    oriented = [orient(unlearned[:, e], retrained[:, e]) for e in range(unlearned.shape[1])]
    raw = np.full((len(oriented), len(names)), np.nan)
    live = [i for i, (pos, neg) in enumerate(oriented) if not is_peaky(pos, neg)]
    on_device = tuple(name for name in names if device is not None and name in GRID_ATTACKS)
    for column, name in enumerate(names):
        if name not in on_device:
            for i in live:
                raw[i, column] = ATTACKS[name](*oriented[i], table_for)
    if on_device and live and device is not None:
        columns = [names.index(name) for name in on_device]
        raw[np.ix_(live, columns)] = grid_attacks([oriented[i] for i in live], on_device, table_for, device)
    return raw


@dataclass(frozen=True)
class Epsilons:
    """Per-example epsilon under fixed settings, the one place a score holds them: called, on one thread, it is the
    function the interval replicates call, small enough to send to a worker process."""

    attacks: str = "official"
    rates: str = "empirical"
    confidence: float = 0.95
    device: str | None = None

    def estimate(self, unlearned: np.ndarray, retrained: np.ndarray, jobs: int = 1) -> EpsilonEstimate:
        return estimate_epsilon(unlearned, retrained, self.attacks, self.rates, self.confidence, jobs=jobs, device=self.device)

    def __call__(self, unlearned: np.ndarray, retrained: np.ndarray) -> np.ndarray:
        return self.estimate(unlearned, retrained).epsilon


def estimate_epsilon(
    unlearned: np.ndarray,
    retrained: np.ndarray,
    attacks: str = "official",
    rates: str = "empirical",
    confidence: float = 0.95,
    jobs: int = 1,
    device: str | None = None,
) -> EpsilonEstimate:
    """Epsilon per forget example from statistics [N, E] of both populations.

    `attacks` is a preset (`official`, `strong`) or comma-separated attack
    names; `rates` is `empirical` or `clopper-pearson` (at `confidence`).
    Examples are split over `jobs` threads; the result does not depend on it.
    With a torch `device` (e.g. "cuda") the two official grid attacks, the
    bulk of the work, run there, with the same results.
    """
    unlearned = np.asarray(unlearned, dtype=np.float64)
    retrained = np.asarray(retrained, dtype=np.float64)
    if unlearned.ndim != 2 or retrained.ndim != 2 or unlearned.shape[1] != retrained.shape[1]:
        raise ValueError(f"expected two [N, E] arrays with the same E, got {unlearned.shape} and {retrained.shape}")
    if not (np.isfinite(unlearned).all() and np.isfinite(retrained).all()):
        raise ValueError("the statistics contain NaN or Inf; they must be finite logit-scaled confidences")
    names = resolve_attacks(attacks)
    table_for = partial(rule_table, rates, confidence=confidence)
    starts = range(0, unlearned.shape[1], _CHUNK)
    parts = Parallel(n_jobs=jobs, backend="threading")(
        delayed(_chunk)(unlearned[:, s : s + _CHUNK], retrained[:, s : s + _CHUNK], names, table_for, device) for s in starts
    )
    raw = np.concatenate(parts) if parts else np.zeros((0, len(names)))
    peaky = np.isnan(raw[:, 0])
    undetermined = ~peaky & np.all(raw == -np.inf, axis=1)
    per_attack = np.where(np.isnan(raw), MAX_EPSILON, np.clip(raw, 0.0, MAX_EPSILON)).astype(np.float32)
    return EpsilonEstimate(
        epsilon=per_attack.max(axis=1, initial=0.0),
        by_attack={name: per_attack[:, i] for i, name in enumerate(names)},
        peaky=peaky,
        undetermined=undetermined,
    )
