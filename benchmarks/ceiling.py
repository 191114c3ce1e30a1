"""`make ceiling`: the F that perfect unlearning gets at each N, from disjoint sets of retrained models.

Two populations retrained from scratch on the retain set are the same
distribution, so F between them is the best any submission can expect at
that N (the `--ceiling` of `make score`, measured without training anything
new). The benchmark's first 512 reference models are split into disjoint
consecutive pairs of sets of N models: 512 / (2N) independent values per N,
summarised by their mean and range. Writes the table into docs/uncertainty.md
with --write-doc. Builds the references if the cache lacks them (about a
minute on two cores for digits-mlp).
"""

import argparse
from pathlib import Path

import numpy as np

from benchmarks.doc_tables import replace_between
from harness.benchmarks import get_benchmark
from reference_models.cache import ReferenceCache
from reference_models.secret import cache_secret, sealed
from scoring.epsilon import estimate_epsilon
from scoring.quality import forgetting_quality

DOC = Path(__file__).resolve().parents[1] / "docs" / "uncertainty.md"
START, END = "<!-- ceiling table: make ceiling -->", "<!-- end of ceiling table -->"


def ceilings(statistics: np.ndarray, n_models: int, jobs: int) -> list[float]:
    """F of every disjoint consecutive pair of N-model sets in the [M, E] statistics."""
    pairs = len(statistics) // (2 * n_models)
    return [
        forgetting_quality(estimate_epsilon(statistics[(2 * k) * n_models : (2 * k + 1) * n_models],
                                            statistics[(2 * k + 1) * n_models : (2 * k + 2) * n_models], jobs=jobs).epsilon, n_models)
        for k in range(pairs)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="digits-mlp", help="a built-in benchmark's name or a competition file (NAME.toml)")
    parser.add_argument("--n-models", default="16,32,64,128,256", help="Ns, separated by commas")
    parser.add_argument("--references", type=int, default=512, help="reference models to split")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/references"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--write-doc", action="store_true", help=f"replace the table in {DOC.name} between its markers")
    args = parser.parse_args()
    spec = sealed(get_benchmark(args.benchmark), cache_secret(args.cache_dir))  # the references `make score` builds and reuses
    cache = ReferenceCache(args.cache_dir, spec)
    cache.build(args.references, jobs=args.jobs, progress=False)
    statistics = cache.population("retrained", args.references).forget_statistic
    lines = ["| N | disjoint pairs | mean F | lowest | highest |", "| --- | --- | --- | --- | --- |"]
    for n in (int(value) for value in args.n_models.split(",")):
        values = ceilings(statistics, n, args.jobs)
        lines.append(f"| {n} | {len(values)} | {np.mean(values):.3f} | {min(values):.3f} | {max(values):.3f} |")
        print(lines[-1], flush=True)
    text = (
        "\n".join(lines)
        + f"\n\nF between disjoint sets of N models retrained from scratch ({spec.name}, {statistics.shape[1]} forget examples, "
        f"the first {args.references} references of its cache), by `make ceiling`.\n"
    )
    print(text)
    if args.write_doc:
        replace_between(DOC, START, END, text)


if __name__ == "__main__":
    main()
