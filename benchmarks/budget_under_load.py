"""The time budget under load: a submission's ratio on a quiet machine and beside busy loops.

Scores a submission (default: the finetune baseline) at N models, each time with a fresh ledger:
first as the machine is, which also measures the cached yardstick (once per machine); then with
BUSY processes loading it (two by default: on a 2-core machine every core then runs two), once judged against
that cached yardstick (`--yardstick cached`: the runs under load, the retraining measured quiet)
and once against retraining measured among its own runs (`--yardstick paired`, the default).
A load either spins (`spin`: CPU only), streams memory (`memory`: a 256 MiB array copied over and
over, which slows every other process's memory accesses and so inflates their CPU time) or trains
(`torch`: matrix products on every core, as another harness or trainer on a shared machine would).
Charged CPU time itself moves under some loads (docs/sandbox.md): the paired ratio should not.
Exits non-zero when the loaded paired ratio is more than `--tolerance` (1.25) times off the quiet one.

    .venv/bin/python benchmarks/budget_under_load.py [--n-models 64] [--busy 2] [--load spin|memory|torch]
"""

import argparse
import math
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile

from scoring.document import TimeBudget, read_score

ROOT = Path(__file__).resolve().parent.parent
LOADS = {
    "spin": "while True: pass",
    "memory": "import numpy as np\na = np.ones(32 << 20)\nwhile True: b = a.copy()",
    "torch": "import torch\nx = torch.randn(1024, 1024)\nwhile True: x @ x",
}


def _score(submission: Path, n_models: int, cache: Path, scratch: Path, yardstick: str) -> TimeBudget:
    """One score with a fresh ledger (the cache, and so its cached yardstick, shared); its time_budget."""
    out = Path(tempfile.mkdtemp(dir=scratch))
    command = [sys.executable, "-m", "harness", "score", str(submission), "--n-models", str(n_models), "--cache-dir", str(cache),
               "--ledger-dir", str(out / "ledgers"), "--out", str(out), "--bootstrap", "0", "--mia-models", "1", "--quiet",
               "--yardstick", yardstick]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    budget = read_score(out / "score.json").time_budget
    if not isinstance(budget, TimeBudget) or budget.ratio is None or budget.ratio_ci is None:
        raise RuntimeError(f"{submission}: its time was not measured ({budget.verdict}); see {out / 'submission.log'}")
    return budget


def _row(condition: str, budget: TimeBudget) -> str:
    low, high = budget.ratio_ci or (float("nan"), None)
    return (f"| {condition} | {budget.unlearn_median_s:.3f} | {budget.retrain_median_s:.3f} | {budget.ratio:.3f} | "
            f"{low:.3f} to {'unbounded' if high is None else f'{high:.3f}'} | {budget.verdict} | {budget.load_average['runs']:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", type=Path, default=ROOT / "baselines" / "finetune.py")
    parser.add_argument("--n-models", type=int, default=64)
    parser.add_argument("--busy", type=int, default=2, help="loading processes beside the loaded scores")
    parser.add_argument("--load", default="spin", choices=sorted(LOADS), help="what each loading process does (default spin)")
    parser.add_argument("--tolerance", type=float, default=1.25)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "references")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        # a copy: the cached yardstick is measured afresh, and the real cache's must stay as leaderboards measured it
        cache = Path(scratch) / "cache"
        if args.cache_dir.exists():  # else the first score builds the references there
            shutil.copytree(args.cache_dir, cache, ignore=shutil.ignore_patterns("yardsticks", "*.lock"))
        quiet = _score(args.submission, args.n_models, cache, Path(scratch), "paired")
        loops = [subprocess.Popen([sys.executable, "-c", LOADS[args.load]]) for _ in range(args.busy)]
        try:
            loaded = {yardstick: _score(args.submission, args.n_models, cache, Path(scratch), yardstick) for yardstick in ("cached", "paired")}
        finally:
            for loop in loops:
                loop.kill()
    print(f"time budget of {args.submission.name} at N = {args.n_models}, charged as {quiet.measure}, limit {quiet.fraction:g}")
    print("| condition | unlearn median s | retrain median s | ratio | 95% interval | verdict | load |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(_row("as the machine is, paired yardstick", quiet))
    print(_row(f"beside {args.busy} {args.load} loads, yardstick cached as the machine was", loaded["cached"]))
    print(_row(f"beside {args.busy} {args.load} loads, paired yardstick", loaded["paired"]))
    change = {name: (budget.ratio or math.nan) / (quiet.ratio or math.nan) for name, budget in loaded.items()}
    print(f"ratio under load / ratio as is: {change['cached']:.3f} with the cached yardstick, {change['paired']:.3f} with the paired one "
          f"(tolerance {args.tolerance}, on the paired one)")
    return 0 if 1 / args.tolerance <= change["paired"] <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
