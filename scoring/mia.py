"""The starting kit's population membership attack ("simple MIA").

A logistic regression on per-example losses tries to tell forget examples
from test examples; its cross-validated accuracy is about 0.5 when the model
treats the forget set like unseen data (the retrained "gold standard") and
higher when it still remembers it. Our own implementation of the attack the
competition's starting kit and the seed reports used: balanced classes,
10 stratified shuffle splits.
"""

from joblib import parallel_config
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score

from scoring.document import MiaPopulation

N_SPLITS = 10


def losses_from_statistic(statistic: np.ndarray) -> np.ndarray:
    """Cross-entropy loss -log p_y from the logit-scaled confidence log(p / (1 - p))."""
    return np.logaddexp(0.0, -np.asarray(statistic, dtype=np.float64))


def mia_accuracy(forget_losses: np.ndarray, test_losses: np.ndarray, seed: int = 0) -> float:
    """Cross-validated accuracy of telling forget (member) from test losses, classes balanced."""
    rng = np.random.default_rng(seed)
    n = min(len(forget_losses), len(test_losses))
    forget = rng.choice(forget_losses, size=n, replace=False)
    test = rng.choice(test_losses, size=n, replace=False)
    features = np.concatenate([test, forget]).reshape(-1, 1)
    members = np.concatenate([np.zeros(n), np.ones(n)])
    splits = StratifiedShuffleSplit(n_splits=N_SPLITS, random_state=seed)
    with parallel_config(backend="sequential"):  # here, even when the caller sends joblib's work to a cluster
        return float(cross_val_score(LogisticRegression(), features, members, cv=splits, scoring="accuracy").mean())


def population_mia(forget_statistic: np.ndarray, test_statistic: np.ndarray, max_models: int = 64, seed: int = 0) -> MiaPopulation:
    """Mean and spread of the attack's accuracy over (up to `max_models`) models of a population.

    Statistics are [models, examples]; models beyond `max_models` are left
    out because the attack's mean settles long before 512.
    """
    forget_statistic = np.atleast_2d(forget_statistic)[:max_models]
    test_statistic = np.atleast_2d(test_statistic)[:max_models]
    accuracies = np.array(
        [
            mia_accuracy(losses_from_statistic(f), losses_from_statistic(t), seed + i)
            for i, (f, t) in enumerate(zip(forget_statistic, test_statistic, strict=True))
        ]
    )
    return MiaPopulation(mean=float(accuracies.mean()), std=float(accuracies.std()), n_models=len(accuracies))
