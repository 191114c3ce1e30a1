"""`make budget-reproducibility`: do time-budget verdicts near the line hold from one score to the next?

Each baseline whose ratio lay within 0.05 of the 0.2 limit in docs/baselines.md (N = 512, 2026-11-29)
is scored three times at N = 128, each on a fresh ledger and so with a fresh yardstick measured among
its runs (the default, paired): once as the machine is, then twice beside BUSY busy loops. Two
measures say whether a verdict can be defended (issue 22):

- flips: baselines that are `pass` in one repetition and `fail` in another (`borderline` may
  appear): there must be none;
- containment: how often one repetition's ratio lies inside another repetition's 95% interval, over
  every ordered pair of repetitions of every baseline: at least 90%.

Exits non-zero when either fails. Writes the table into docs/organisers.md with --write-doc; each
score's folder, ledgers included, stays in --out. About 25 minutes on 2 cores. `--replay` scores
nothing: it recomputes every verdict from the ledgers kept in --out with the harness's budget code as
it is now, which is how a change to the interval is checked against the same runs.

    .venv/bin/python -m benchmarks.budget_reproducibility [--n-models 128] [--busy 2] [--replay] [--write-doc]
"""

import argparse
from datetime import date
from pathlib import Path
import shutil
import subprocess
import sys

import numpy as np

from benchmarks.doc_tables import replace_between
from harness.running.ledger import MeasurementLedger, RunLedger
from harness.timing.budget import time_budget
from harness.timing.choices import DEFAULT_FRACTION
from harness.timing.yardstick import paired, paired_count
from rendering.pages import ratio_text
from scoring.document import TimeBudget, read_score

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "organisers.md"
START, END = "<!-- budget reproducibility: make budget-reproducibility -->", "<!-- end of budget reproducibility -->"
# Within 0.05 of the limit in docs/baselines.md (ratios 0.155 to 0.247 at N = 512 on 2026-11-29).
NEAR_THE_LINE = ("adversarial", "first_place_contrastive", "fisher", "fourth_place_prune", "random_labels", "salun", "scrub",
                 "second_place_reinit", "third_place_noise")
Repetition = tuple[float, float, float | None, str]  # ratio, interval low, high (None: unbounded), verdict


def flips(results: dict[str, list[Repetition]]) -> list[str]:
    """The baselines that pass in one repetition and fail in another."""
    return [name for name, reps in results.items() if {"pass", "fail"} <= {verdict for *_, verdict in reps}]


def containment(results: dict[str, list[Repetition]]) -> tuple[int, int]:
    """(inside, pairs): of every ordered pair of distinct repetitions of a baseline, how many have the
    first's ratio inside the second's interval."""
    inside = pairs = 0
    for reps in results.values():
        for i, (ratio, *_) in enumerate(reps):
            for j, (_, low, high, _) in enumerate(reps):
                if i != j:
                    pairs += 1
                    inside += low <= ratio and (high is None or ratio <= high)
    return inside, pairs


def _score(name: str, n_models: int, cache: Path, out: Path) -> Repetition:
    """One score of a baseline on a fresh ledger, kept in `out`: its ratio, interval and verdict."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "harness", "score", str(ROOT / "baselines" / f"{name}.py"), "--n-models", str(n_models),
               "--cache-dir", str(cache), "--ledger-dir", str(out / "ledgers"), "--out", str(out), "--bootstrap", "0",
               "--mia-models", "1", "--quiet"]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    budget = read_score(out / "score.json").time_budget
    if not isinstance(budget, TimeBudget) or budget.ratio is None or budget.ratio_ci is None:
        raise RuntimeError(f"{name}: its time was not measured ({budget.verdict}); see {out / 'submission.log'}")
    return budget.ratio, *budget.ratio_ci, budget.verdict


def _replayed(out: Path, n_models: int) -> Repetition:
    """The verdict of a kept score, recomputed from its run ledger and its measurements beside the runs."""
    (measured,) = (out / "ledgers").glob("*/*.yardstick.parquet")
    runs = RunLedger(out / "ledgers", measured.name.removesuffix(".yardstick.parquet"), measured.parent.name)
    yardstick = paired(MeasurementLedger(runs), paired_count(n_models), "cpu", (0.0, 0.0))
    ok = [record for record in runs.finished(n_models) if record.status == "ok"]
    budget = time_budget(np.array([r.unlearn_seconds for r in ok]), np.array([r.wall_seconds for r in ok]), yardstick, DEFAULT_FRACTION,
                         "eligible", 0.0)
    return budget.ratio, *budget.ratio_ci, budget.verdict


def table(results: dict[str, list[Repetition]], conditions: list[str], n_models: int, replayed: bool) -> str:
    inside, pairs = containment(results)
    flipped = flips(results)
    when = "Replayed" if replayed else "Scored"
    lines = [f"{when} on {date.today().isoformat()}, N = {n_models}, each score on a fresh ledger with its own paired yardstick:", "",
             "| baseline | " + " | ".join(conditions) + " |", "| --- |" + " --- |" * len(conditions)]
    for name, reps in results.items():
        lines.append(f"| `{name}` | " + " | ".join(f"{ratio_text(ratio, low, high)} {verdict}" for ratio, low, high, verdict in reps) + " |")
    lines += ["", f"Pass in one repetition and fail in another: {', '.join(flipped) if flipped else 'none'}. A repetition's ratio "
                  f"inside another repetition's interval: {inside} of {pairs} ordered pairs ({inside / pairs:.0%}).", ""]
    return "\n".join(lines)


def _scored(conditions: list[str], args: argparse.Namespace) -> dict[str, list[Repetition]]:
    """Every baseline near the line scored once per condition, busy loops started before the second."""
    results: dict[str, list[Repetition]] = {name: [] for name in NEAR_THE_LINE}
    loops: list[subprocess.Popen] = []
    try:
        for repetition, condition in enumerate(conditions):
            if repetition == 1:
                loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
            for name in NEAR_THE_LINE:
                results[name].append(_score(name, args.n_models, args.cache_dir, args.out / str(repetition) / name))
                ratio, low, high, verdict = results[name][-1]
                print(f"{condition}: {name} {ratio_text(ratio, low, high)} {verdict}", flush=True)
    finally:
        for loop in loops:
            loop.kill()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-models", type=int, default=128)
    parser.add_argument("--busy", type=int, default=2, help="busy loops beside the second and third repetitions")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "references")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "budget-reproducibility",
                        help="where each score's folder and ledgers are kept (REPETITION/BASELINE/), for replays")
    parser.add_argument("--replay", action="store_true", help="score nothing: recompute the verdicts from the ledgers kept in --out")
    parser.add_argument("--write-doc", action="store_true", help=f"replace the table in {DOC.name} between its markers")
    args = parser.parse_args()
    conditions = ["as the machine is", f"beside {args.busy} busy loops", f"beside {args.busy} busy loops, again"]
    if args.replay:
        results = {name: [_replayed(args.out / str(repetition) / name, args.n_models) for repetition in range(len(conditions))] for name in NEAR_THE_LINE}
    else:
        results = _scored(conditions, args)
    text = table(results, conditions, args.n_models, args.replay)
    print(text)
    if args.write_doc:
        replace_between(DOC, START, END, text)
    inside, pairs = containment(results)
    return 0 if not flips(results) and inside >= 0.9 * pairs else 1


if __name__ == "__main__":
    sys.exit(main())
