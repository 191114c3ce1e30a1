"""`python -m scoring forget-quality`: the metric on saved arrays, without the harness.

Exit codes: 0 computed, 2 bad arguments or input, 1 a bug (with its traceback).
"""

import argparse
import json
import os
from pathlib import Path
import sys
from typing import Any

import numpy as np

from scoring.attacks import resolve_attacks
from scoring.epsilon import Epsilons
from scoring.intervals import intervals
from scoring.quality import forgetting_quality
from scoring.tables import RATES

EXIT_OK, EXIT_USAGE = 0, 2


class ArrayFileError(ValueError):
    """An --unlearned or --retrained file that is not a numeric [N, E] array with E >= 1."""


def _attacks(choice: str) -> str:
    """An --attacks value, checked as it is parsed: a misspelt attack is a usage error before any array is read."""
    try:
        resolve_attacks(choice)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return choice


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scoring", description="Forgetting quality of saved statistics")
    commands = parser.add_subparsers(dest="command", required=True)
    fq = commands.add_parser("forget-quality", help="F and per-example epsilon from two [N, E] .npy arrays")
    fq.add_argument("--unlearned", type=Path, required=True, help="float [N, E] logit-scaled confidences of the unlearned models")
    fq.add_argument("--retrained", type=Path, required=True, help="the same for the models retrained from scratch")
    fq.add_argument("--attacks", type=_attacks, default="official", help="official, strong, or attack names separated by commas")
    fq.add_argument("--rates", default="empirical", choices=RATES, help="error rates: empirical, or Clopper-Pearson upper bounds")
    fq.add_argument("--confidence", type=float, default=0.95, help="confidence of the Clopper-Pearson bounds")
    fq.add_argument("--bootstrap", type=int, default=0, metavar="B",
                    help="half-sampling replicates for a 95%% interval of F (0: none; see docs/uncertainty.md)")
    fq.add_argument("--seed", type=int, default=0, help="seed of the half-sampling")
    fq.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="threads")
    fq.add_argument("--device", default=None, help="torch device for the grid attacks, e.g. cuda (default: numpy on CPU)")
    fq.add_argument("--out", type=Path, required=True, help="where to write result.json")
    return parser


def _load(path: Path, name: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ArrayFileError(f"--{name} {path}: not a readable .npy array ({error})") from None
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise ArrayFileError(f"--{name} {path}: expected a numeric [N, E] array, got shape {array.shape} of {array.dtype}")
    if array.shape[1] == 0:
        raise ArrayFileError(f"--{name} {path}: no forget examples (shape {array.shape}); F is a mean over examples and needs E >= 1")
    return array.astype(np.float64)


def forget_quality_document(args: argparse.Namespace) -> dict[str, Any]:
    unlearned = _load(args.unlearned, "unlearned")
    retrained = _load(args.retrained, "retrained")
    epsilons = Epsilons(args.attacks, args.rates, args.confidence, args.device)
    estimate = epsilons.estimate(unlearned, retrained, args.jobs)
    n_models = min(len(unlearned), len(retrained))
    document = {
        "forget_quality": forgetting_quality(estimate.epsilon, n_models),
        "n_models": n_models,
        "n_examples": int(unlearned.shape[1]),
        "attacks": args.attacks,
        "rates": args.rates,
        "epsilons": estimate.epsilon.tolist(),
        "epsilon_by_attack": {name: values.tolist() for name, values in estimate.by_attack.items()},
        "peaky_examples": int(estimate.peaky.sum()),
        "undetermined_examples": int(estimate.undetermined.sum()),
    }
    if args.rates == "clopper-pearson":
        document["confidence"] = args.confidence
    if args.bootstrap:
        result = intervals(
            unlearned, retrained, epsilons, document["forget_quality"],
            replicates=args.bootstrap, seed=args.seed, jobs=args.jobs if args.device is None else 1,
        )
        document["forget_quality_ci95"] = list(result.forget_quality_ci95)
        document["interval_method"] = result.method
        document["interval_replicates"] = result.replicates
    return document


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        document = forget_quality_document(args)
    except ArrayFileError as error:  # anything else is a bug: its traceback, exit code 1
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"F = {document['forget_quality']:.6f} over {document['n_examples']} examples, N = {document['n_models']}; written {args.out}")
    return EXIT_OK
