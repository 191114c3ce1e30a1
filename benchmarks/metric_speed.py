"""`make bench`: how fast the official metric is, against a straightforward implementation.

The reference below evaluates the official rules the way the organisers'
scorer does: example by example, every rule's error rates from comparisons
with every sample (vectorised over samples and the 400 lefts of a right
threshold, which is already kinder than one rule at a time). It is run on a
few examples, checked equal to ours, and its time scaled to the full set.
"""

import math
import os
import time

import numpy as np
import torch

from scoring.attacks import narrow_first
from scoring.epsilon import MAX_EPSILON, estimate_epsilon, is_peaky, orient
from scoring.intervals import intervals
from scoring.tables import DELTA

N_MODELS, N_EXAMPLES, REFERENCE_EXAMPLES = 512, 2000, 3
INTERVAL_EXAMPLES, INTERVAL_REPLICATES = 144, 100


def _rule_epsilons(tp, fp, n_pos, n_neg) -> np.ndarray:
    """Step 6 for arrays of rules, from counts of accepted positives and negatives."""
    f32 = np.float32
    tpr, fpr = (tp / n_pos).astype(f32), (fp / n_neg).astype(f32)
    fnr, tnr = ((n_pos - tp) / n_pos).astype(f32), ((n_neg - fp) / n_neg).astype(f32)
    with np.errstate(divide="ignore", invalid="ignore"):
        side_1 = np.log(f32(1) - f32(DELTA) - fpr) - np.log(fnr)
        side_2 = np.log(f32(1) - f32(DELTA) - fnr) - np.log(fpr)
    eps = np.maximum(np.fmax(side_1, side_2), f32(0))
    perfect = (fpr + fnr == 0) & (tpr + tnr == 2)
    kept = perfect | ~((fpr * fnr == 0) | np.isnan(eps))
    return np.where(perfect, np.inf, eps)[kept]


def reference_epsilon(unlearned: np.ndarray, retrained: np.ndarray) -> float:
    """One example, rule by rule against every sample."""
    pos, neg = orient(unlearned, retrained)
    if is_peaky(pos, neg):
        return MAX_EPSILON
    narrow, wide = narrow_first(pos, neg)
    width = narrow.max() - narrow.min()
    lo, hi = narrow.min() + width - 2, narrow.max() + 2
    found = [np.float32(-np.inf)]
    for right in np.linspace(lo, hi, math.ceil((hi - lo) * 100)):
        lefts = np.linspace(right - width - 2, right - width + 2, 400)[:, None]
        tp = ((narrow >= lefts) & (narrow <= right)).sum(axis=1)
        fp = ((wide >= lefts) & (wide <= right)).sum(axis=1)
        found.extend(_rule_epsilons(tp, fp, len(narrow), len(wide)))
    both = np.concatenate([pos, neg])
    thresholds = torch.linspace(both.min(), both.max(), math.ceil((both.max() - both.min()) * 100), dtype=torch.float64).numpy()[:, None]
    found.extend(_rule_epsilons((pos >= thresholds).sum(axis=1), (neg >= thresholds).sum(axis=1), len(pos), len(neg)))
    best = max(found)
    return 0.0 if best == -np.inf else float(min(best, MAX_EPSILON))


def synthetic_statistics(rng: np.random.Generator, n: int, e: int) -> tuple[np.ndarray, np.ndarray]:
    """Logit-scaled confidences with per-example location and spread, unlearned slightly off."""
    centre, spread = rng.normal(6, 2, e), rng.uniform(0.5, 2.5, e)
    retrained = rng.normal(centre, spread, (n, e))
    unlearned = rng.normal(centre + rng.normal(0, 0.5, e), spread * rng.uniform(0.7, 1.3, e), (n, e))
    return unlearned, retrained


def main() -> None:
    jobs = len(os.sched_getaffinity(0))
    rng = np.random.default_rng(0)
    unlearned, retrained = synthetic_statistics(rng, N_MODELS, N_EXAMPLES)

    start = time.perf_counter()
    ours = estimate_epsilon(unlearned, retrained, jobs=jobs).epsilon
    ours_s = time.perf_counter() - start

    start = time.perf_counter()
    reference = [reference_epsilon(unlearned[:, e], retrained[:, e]) for e in range(REFERENCE_EXAMPLES)]
    per_example_s = (time.perf_counter() - start) / REFERENCE_EXAMPLES
    assert np.array_equal(np.float32(reference), ours[:REFERENCE_EXAMPLES]), "the reference and the fast path disagree"

    half_u, half_r = unlearned[:, :INTERVAL_EXAMPLES], retrained[:, :INTERVAL_EXAMPLES]
    start = time.perf_counter()
    intervals(half_u, half_r, lambda u, r: estimate_epsilon(u, r).epsilon, 0.5, replicates=INTERVAL_REPLICATES, jobs=jobs)
    half_s = time.perf_counter() - start

    print(f"official metric, N = {N_MODELS}, E = {N_EXAMPLES}, {jobs} threads: {ours_s:.2f} s ({ours_s / N_EXAMPLES * 1e3:.2f} ms per example)")
    print(f"straightforward reference: {per_example_s:.2f} s per example, {per_example_s * N_EXAMPLES:.0f} s scaled to E = {N_EXAMPLES} "
          f"(equal on {REFERENCE_EXAMPLES} examples)")
    print(f"speed-up: {per_example_s * N_EXAMPLES / ours_s:.0f}x")
    print(f"95% intervals, {INTERVAL_REPLICATES} half-samples, N = {N_MODELS}, E = {INTERVAL_EXAMPLES}: {half_s:.1f} s")


if __name__ == "__main__":
    main()
