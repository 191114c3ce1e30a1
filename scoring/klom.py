"""KLoM: per example, the KL divergence between the unlearned and the retrained models' margins.

From Georgiev, Rinberg, Park, Garg, Ilyas, Madry and Neel, "Attribute-to-Delete: Machine Unlearning via
Datamodel Matching" (ICLR 2025, arXiv 2410.23232, appendix E.1), computed as its public evaluation code
(data-unlearning-bench, `compute_binned_KL_div`) does: an example's margins under both populations clipped
to +-100 and counted in 20 equal bins over their joint range (a range of no width widened to 1), then
KL(unlearned || retrained) between the bins' shares, a retrained share of 0 raised to 1e-5 where the
unlearned one is not 0, both renormalised (scipy's entropy). One departure: the last bin holds its right
edge, as np.histogram's does. The reference's np.digitize leaves the values equal to the joint maximum
uncounted, in every example (one of the two populations always reaches it), so its values differ from
these slightly everywhere, and it is undefined for a population that sits wholly at the maximum, the
most separated case.

A margin is the correct class's logit against the log-sum-exp of the others', which is the logit-scaled
confidence the ledger and the reference cache already hold (`scoring.confidences`): KLoM needs no run of
its own. It is 0 where both populations fill the bins alike and grows as they part, up to about
ln(1 / 1e-5) = 11.5 for populations in disjoint bins. It measures a distance, not an attack's success.
"""

import numpy as np
from scipy import stats

BINS = 20
CLIP = 100.0
FLOOR = 1e-5  # the retrained share a bin gets where the unlearned models have some of theirs and the retrained none


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(values, bins=edges)
    return counts / counts.sum()


def klom(unlearned: np.ndarray, retrained: np.ndarray) -> np.ndarray:
    """KLoM of each example [E], from the margins of both populations, [N_u, E] and [N_r, E]."""
    unlearned = np.clip(np.asarray(unlearned, dtype=np.float64), -CLIP, CLIP)
    retrained = np.clip(np.asarray(retrained, dtype=np.float64), -CLIP, CLIP)
    if unlearned.ndim != 2 or retrained.ndim != 2 or unlearned.shape[1] != retrained.shape[1] or not len(unlearned) or not len(retrained):
        raise ValueError(f"expected two non-empty [N, E] arrays with the same E, got {unlearned.shape} and {retrained.shape}")
    values = np.empty(unlearned.shape[1])
    for example in range(unlearned.shape[1]):
        u, r = unlearned[:, example], retrained[:, example]
        low, high = min(u.min(), r.min()), max(u.max(), r.max())
        edges = np.linspace(low, high if high > low else low + 1.0, BINS + 1)
        p, q = _shares(u, edges), _shares(r, edges)
        values[example] = stats.entropy(p, np.where(p > 0, np.maximum(q, FLOOR), q))
    return values
