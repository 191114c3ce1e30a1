"""`make intervals`: coverage of candidate 95% intervals for F, where the true value is known.

A parametric generator stands in for the models: per forget example, the
retrained models' logit-scaled confidence is Gaussian, and the unlearned
models' is shifted and rescaled by an amount drawn once per example (half the
examples are forgotten perfectly); a common factor per model correlates a
model's examples, as one network's outputs are. The target is the expected F
of the official metric at the same N, the mean over many independent pairs of
populations. For each of many further independent pairs, every candidate
builds its interval from that pair alone, and the share of intervals that
contain the target is its coverage.

Candidates (n models per population; B resamplings):
- bootstrap percentile: models resampled with replacement, 2.5-97.5%
  percentiles (the harness's interval until issue 17);
- bootstrap BC: the same replicates, bias-corrected percentiles (Efron 1981);
- bootstrap normal: estimate +- t(0.975, B - 1) replicate SDs;
- jittered bootstrap: with replacement, plus Gaussian noise of 0.1
  per-example SDs so that duplicates no longer tie; percentiles;
- half-sampling normal: random halves without replacement, estimate +-
  t(0.975, B - 1) delete-(n/2) jackknife SEs (scoring.intervals, the chosen method);
- half-sampling recentred: the halves' percentiles shifted by estimate -
  their mean (m-out-of-n subsampling, m = n/2, without rescaling);
- disjoint halves: one split into two halves, a t interval on 1 degree of freedom;
- grouped jackknife: 8 groups of models, one left out at a time, t on 7
  degrees of freedom.

Each pair costs 48 evaluations of the metric on 8 examples (about 3 s of one
core); the defaults (60 pairs and 120 target pairs at each of four Ns) take
about 15 minutes with --jobs 2 on two otherwise idle cores.
"""

import argparse
from dataclasses import dataclass
from functools import partial
from pathlib import Path
import time

from joblib import Parallel, delayed
import numpy as np
from scipy import stats

from benchmarks.doc_tables import replace_between
from scoring.epsilon import estimate_epsilon
from scoring.intervals import half_draws, normal_interval, replicate_scores
from scoring.quality import forgetting_quality

EXAMPLES = 8
MODEL_FACTOR = 0.3  # correlation of one model's examples
JITTER = 0.1  # noise of the jittered bootstrap, in per-example SDs
GROUPS = 8
CANDIDATES = (
    "bootstrap percentile", "bootstrap BC", "bootstrap normal", "jittered bootstrap",
    "half-sampling normal", "half-sampling recentred", "disjoint halves", "grouped jackknife",
)
CHOSEN = "half-sampling normal"
Z95 = stats.norm.ppf(0.975)
DOC = Path(__file__).resolve().parents[1] / "docs" / "uncertainty.md"
START, END = "<!-- coverage table: make intervals -->", "<!-- end of coverage table -->"


@dataclass(frozen=True)
class Truth:
    """Per-example parameters of the generator, drawn once."""

    mean: np.ndarray
    sd: np.ndarray
    shift: np.ndarray  # unlearned mean - retrained mean, in retrained SDs
    scale: np.ndarray  # unlearned SD / retrained SD

    @classmethod
    def draw(cls, seed: int) -> "Truth":
        rng = np.random.default_rng(seed)
        forgotten = np.arange(EXAMPLES) % 2 == 0
        return cls(
            mean=rng.normal(2.0, 1.5, EXAMPLES),
            sd=rng.uniform(0.5, 2.0, EXAMPLES),
            shift=np.where(forgotten, 0.0, rng.uniform(0.2, 1.0, EXAMPLES)),
            scale=np.where(forgotten, 1.0, rng.uniform(0.8, 1.25, EXAMPLES)),
        )

    def population(self, rng: np.random.Generator, n: int, unlearned: bool) -> np.ndarray:
        noise = MODEL_FACTOR * rng.normal(size=(n, 1)) + np.sqrt(1 - MODEL_FACTOR**2) * rng.normal(size=(n, EXAMPLES))
        if not unlearned:
            return self.mean + self.sd * noise
        return self.mean + self.sd * (self.shift + self.scale * noise)

    def pair(self, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return self.population(rng, n, True), self.population(rng, n, False)


def _epsilon(u: np.ndarray, r: np.ndarray) -> np.ndarray:
    return estimate_epsilon(u, r).epsilon


def _quality(u: np.ndarray, r: np.ndarray) -> float:
    return forgetting_quality(_epsilon(u, r), min(len(u), len(r)))


def _percentile(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _bias_corrected(estimate: float, values: np.ndarray) -> tuple[float, float]:
    """Efron's BC percentiles; with every replicate on one side the correction is infinite."""
    below = np.clip(np.mean(values < estimate) + 0.5 * np.mean(values == estimate), 0.5 / len(values), 1 - 0.5 / len(values))
    z0 = stats.norm.ppf(below)
    levels = stats.norm.cdf(2 * z0 + np.array([-Z95, Z95])) * 100
    low, high = np.percentile(values, levels)
    return float(low), float(high)


def candidate_intervals(u: np.ndarray, r: np.ndarray, seed: int, replicates: int) -> dict[str, tuple[float, float]]:
    """Every candidate's interval from one pair of populations."""
    rng = np.random.default_rng(seed)
    n = len(u)
    estimate = _quality(u, r)
    scores = partial(replicate_scores, u, r, _epsilon)
    boot = scores([(rng.integers(0, n, n), rng.integers(0, n, n)) for _ in range(replicates)])[:, 0]
    sd_u, sd_r = u.std(axis=0), r.std(axis=0)
    jittered = np.array([
        _quality(u[rng.integers(0, n, n)] + JITTER * sd_u * rng.normal(size=u.shape), r[rng.integers(0, n, n)] + JITTER * sd_r * rng.normal(size=r.shape))
        for _ in range(replicates)
    ])
    halves = scores(half_draws(n, n, replicates, rng))[:, 0]
    split_u, split_r = rng.permutation(n), rng.permutation(n)
    disjoint = np.array([_quality(u[part_u], r[part_r]) for part_u, part_r in zip(np.array_split(split_u, 2), np.array_split(split_r, 2), strict=True)])
    groups_u, groups_r = np.array_split(rng.permutation(n), GROUPS), np.array_split(rng.permutation(n), GROUPS)
    leave_one = np.array([_quality(np.delete(u, gu, axis=0), np.delete(r, gr, axis=0)) for gu, gr in zip(groups_u, groups_r, strict=True)])
    jackknife_se = np.sqrt((GROUPS - 1) / GROUPS * np.sum((leave_one - leave_one.mean()) ** 2))
    disjoint_se = abs(disjoint[0] - disjoint[1]) / 2
    t1, t7 = stats.t.ppf(0.975, 1), stats.t.ppf(0.975, GROUPS - 1)
    return {
        "bootstrap percentile": _percentile(boot),
        "bootstrap BC": _bias_corrected(estimate, boot),
        "bootstrap normal": normal_interval(estimate, boot, upper=1.0),
        "jittered bootstrap": _percentile(jittered),
        "half-sampling normal": normal_interval(estimate, halves, upper=1.0),
        "half-sampling recentred": tuple(estimate + np.array(_percentile(halves)) - halves.mean()),
        "disjoint halves": (estimate - t1 * disjoint_se, estimate + t1 * disjoint_se),
        "grouped jackknife": (estimate - t7 * jackknife_se, estimate + t7 * jackknife_se),
        "estimate": (estimate, estimate),
    }


def coverage_at(truth: Truth, n: int, pairs: int, truth_pairs: int, replicates: int, jobs: int) -> dict:
    """Target F at n and every candidate's coverage and mean width over `pairs` pairs."""
    target_values = Parallel(n_jobs=jobs)(delayed(_quality)(*truth.pair(10**6 + i, n)) for i in range(truth_pairs))
    target = float(np.mean(target_values))
    found = Parallel(n_jobs=jobs)(delayed(candidate_intervals)(*truth.pair(i, n), 10**7 + i, replicates) for i in range(pairs))
    row = {"n": n, "target": target, "target_se": float(np.std(target_values, ddof=1) / np.sqrt(truth_pairs)), "sd": float(np.std(target_values, ddof=1))}
    for name in CANDIDATES:
        bounds = np.array([result[name] for result in found])
        row[name] = (float(np.mean((bounds[:, 0] <= target) & (target <= bounds[:, 1]))), float(np.mean(bounds[:, 1] - bounds[:, 0])))
    estimates = np.array([result["estimate"][0] for result in found])
    contains = [r["bootstrap percentile"][0] <= e <= r["bootstrap percentile"][1] for r, e in zip(found, estimates, strict=True)]
    row["percentile contains estimate"] = float(np.mean(contains))
    return row


def table(rows: list[dict], pairs: int, truth_pairs: int, replicates: int, seconds: float) -> str:
    """The coverage table in Markdown, with how it was made."""
    head = "| candidate | " + " | ".join(f"N = {row['n']}" for row in rows) + " |"
    lines = [head, "|" + " --- |" * (len(rows) + 1)]
    lines.append("| target: expected F (SD of F) | " + " | ".join(f"{row['target']:.3f} ({row['sd']:.3f})" for row in rows) + " |")
    for name in CANDIDATES:
        label = f"**{name}** (chosen)" if name == CHOSEN else name
        lines.append(f"| {label} | " + " | ".join(f"{100 * row[name][0]:.0f}% (width {row[name][1]:.3f})" for row in rows) + " |")
    contained = " | ".join(f"{100 * row['percentile contains estimate']:.0f}%" for row in rows)
    lines.append(f"| bootstrap percentile range contains its own estimate | {contained} |")
    note = (
        f"\nCoverage of the target over {pairs} independent pairs of populations per N ({EXAMPLES} forget examples, "
        f"{replicates} resamplings per interval; a coverage's standard error is about "
        f"{100 * np.sqrt(0.95 * 0.05 / pairs):.1f} points at 95%); the target is the mean F over {truth_pairs} further pairs. "
        f"Generated by `make intervals` in {seconds / 60:.0f} minutes.\n"
    )
    return "\n".join(lines) + "\n" + note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-models", default="32,64,128,512", help="Ns, separated by commas")
    parser.add_argument("--pairs", type=int, default=60, help="population pairs whose intervals are checked, per N")
    parser.add_argument("--truth-pairs", type=int, default=120, help="population pairs averaged into the target, per N")
    parser.add_argument("--replicates", type=int, default=12, help="resamplings per interval")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator's per-example parameters")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--write-doc", action="store_true", help=f"replace the table in {DOC.name} between its markers")
    args = parser.parse_args()
    truth = Truth.draw(args.seed)
    started = time.time()
    rows = []
    for n in (int(value) for value in args.n_models.split(",")):
        rows.append(coverage_at(truth, n, args.pairs, args.truth_pairs, args.replicates, args.jobs))
        print(f"N = {n}: target {rows[-1]['target']:.4f}; " + ", ".join(f"{name} {100 * rows[-1][name][0]:.0f}%" for name in CANDIDATES), flush=True)
    text = table(rows, args.pairs, args.truth_pairs, args.replicates, time.time() - started)
    print(text)
    if args.write_doc:
        replace_between(DOC, START, END, text)


if __name__ == "__main__":
    main()
