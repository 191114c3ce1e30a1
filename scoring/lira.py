"""A per-example likelihood-ratio attack in the style of U-LiRA, scored out of sample.

Hayes, Shumailov, Triantafillou, Khalifa and Papernot, "Inexact unlearning needs more careful evaluations to
avoid a false sense of privacy" (arXiv 2403.01218) attack each example with Gaussians fitted to shadow models'
statistics with and without unlearning, and a likelihood-ratio test. Here the shadow models are half of each
population: per example, a Gaussian (its own mean and variance) is fitted to half of the unlearned and half of
the retrained models, and the other halves are classified by the ratio (unlearned when it is at least 1, equal
priors); then the halves swap, so every model is classified once by a fit that never saw it.

The held-out error rates become an epsilon by the metric's formula, each rate replaced by its one-sided 95%
Clopper-Pearson upper bound (`scoring.tables`): one fixed rule, so unlike the official metric's hundreds of
thousands it is not a maximum over rules and needs no discarding of zero rates. Identical populations give 0,
the floor; populations apart give the table's largest value at that N (about ln(N / 3), 5.1 at N = 512), the
ceiling, finite because no finite sample proves a zero error rate.
"""

import numpy as np

from scoring.epsilon import MAX_EPSILON
from scoring.tables import clopper_pearson_table

CONFIDENCE = 0.95


def _log_density(x: np.ndarray, models: np.ndarray) -> np.ndarray:
    """Each example's Gaussian, fitted on `models` [M, E], at x [K, E] (up to a constant)."""
    mean = models.mean(axis=0)
    std = np.maximum(models.std(axis=0), 1e-12 * (1.0 + np.abs(mean)))  # a constant sample is a very narrow Gaussian
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std)


def _accepted(fit_u: np.ndarray, fit_r: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Per example, how many of the `test` models the fitted ratio calls unlearned."""
    return (_log_density(test, fit_u) >= _log_density(test, fit_r)).sum(axis=0)


def lira_epsilon(unlearned: np.ndarray, retrained: np.ndarray) -> np.ndarray:
    """Epsilon of each example [E] under the held-out likelihood-ratio test, from statistics [N_u, E] and [N_r, E]."""
    unlearned, retrained = np.asarray(unlearned, dtype=np.float64), np.asarray(retrained, dtype=np.float64)
    if unlearned.ndim != 2 or retrained.ndim != 2 or unlearned.shape[1] != retrained.shape[1] or min(len(unlearned), len(retrained)) < 2:
        raise ValueError(f"expected two [N, E] arrays with the same E and N >= 2, got {unlearned.shape} and {retrained.shape}")
    halves_u, halves_r = (unlearned[0::2], unlearned[1::2]), (retrained[0::2], retrained[1::2])
    true_positives = sum(_accepted(halves_u[1 - k], halves_r[1 - k], halves_u[k]) for k in (0, 1))
    false_positives = sum(_accepted(halves_u[1 - k], halves_r[1 - k], halves_r[k]) for k in (0, 1))
    table = clopper_pearson_table(len(unlearned), len(retrained), CONFIDENCE)
    epsilon = table[true_positives * (len(retrained) + 1) + false_positives]
    return np.clip(np.nan_to_num(epsilon, nan=0.0, neginf=0.0), 0.0, MAX_EPSILON)
