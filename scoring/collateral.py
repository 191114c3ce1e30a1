"""Collateral privacy: per-example epsilon outside the forget set.

Unlearning may change how the models treat examples it was never asked to
forget. The same attacks, on the same unlearned and retrained models, give a
per-example epsilon on a sample of the retain set and, as a control, on the
test set, which neither population trained on. These summaries sit beside the
forget set's and never enter the official score.
"""

import numpy as np

from scoring.document import EpsilonSpread
from scoring.quality import forgetting_quality

SETS = ("forget", "retain_sample", "test_control")


def epsilon_spread(epsilon: np.ndarray, n_models: int) -> EpsilonSpread:
    """Mean, median and the share above 1 of per-example epsilons, and the F they would earn."""
    epsilon = np.asarray(epsilon, dtype=np.float64)
    return EpsilonSpread(
        n_examples=int(len(epsilon)),
        mean=float(epsilon.mean()),
        median=float(np.median(epsilon)),
        share_above_1=float(np.mean(epsilon > 1.0)),
        forget_quality_equivalent=forgetting_quality(epsilon, n_models),
        epsilons=tuple(float(value) for value in epsilon),
    )
