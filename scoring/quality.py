"""Forgetting quality F and the final score (official-metric.md, steps 7 and 8)."""

import math

import numpy as np

_BUCKET_WIDTH = 0.5
MIN_MODELS = 3  # per population: with fewer, no epsilon bucket is worth anything


def bucket_points(n_models: int) -> tuple[np.ndarray, np.ndarray]:
    """Right ends and points of the epsilon buckets for populations of N models.

    The largest epsilon worth points is ceil(ln(N - 1)): with N models per
    population no attack can resolve much more than that.
    """
    if n_models < MIN_MODELS:
        raise ValueError(f"the metric needs at least 3 models per population, got {n_models}")
    max_eps = math.ceil(math.log(n_models - 1))
    n_buckets = int(max_eps / _BUCKET_WIDTH)
    right_ends = _BUCKET_WIDTH * np.arange(1, n_buckets + 1)
    points = 2.0 ** -np.arange(n_buckets)
    return right_ends, points


def example_points(epsilon: np.ndarray, n_models: int) -> np.ndarray:
    """Points each example earns: those of the first bucket its epsilon is below."""
    right_ends, points = bucket_points(n_models)
    bucket = np.searchsorted(right_ends, np.asarray(epsilon, dtype=np.float64), side="right")
    padded = np.append(points, 0.0)  # past the last bucket: no points
    return padded[bucket]


def forgetting_quality(epsilon: np.ndarray, n_models: int) -> float:
    """F in [0, 1]: the mean points over forget examples; higher is better."""
    if len(epsilon) == 0:
        raise ValueError("no forget examples (E = 0): forgetting quality is a mean over examples and is undefined")
    return float(example_points(epsilon, n_models).sum() / len(epsilon))


def accuracy_restored(before: float, after: float, clean: float) -> float | None:
    """How much of the accuracy that poisoning cost came back: (after - before) / (clean - before).

    0 when unlearning changed nothing, 1 when it reached the accuracy of a
    model trained without the poisoned examples; None when poisoning cost
    nothing, so that there was nothing to restore.
    """
    lost = clean - before
    return None if lost <= 0 else (after - before) / lost


def undefined_final_score(retain_retrained: float, test_retrained: float, n_models: int) -> str | None:
    """Why no final score can be computed against these references, or None: it divides by their mean retain and test
    accuracy, which a recipe that trains nothing leaves at 0."""
    zero = [name for name, value in (("retain", retain_retrained), ("test", test_retrained)) if not value > 0]
    if not zero:
        return None
    return (f"the {n_models} retrained references classify no {' and no '.join(zero)} example correctly (mean accuracy 0): the final "
            "score divides by it, so no submission can be scored against them. Train them longer or otherwise (the benchmark's "
            "or competition file's training settings, e.g. --set training.epochs=N: other settings build other references), "
            "or check the data's labels")


def final_score(
    forgetting: float,
    retain_unlearned: float,
    retain_retrained: float,
    test_unlearned: float,
    test_retrained: float,
) -> float:
    """F scaled by how much retain and test accuracy the unlearned models kept."""
    return forgetting * (retain_unlearned / retain_retrained) * (test_unlearned / test_retrained)
