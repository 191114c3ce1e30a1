"""The time budget under load: a submission's ratio on a quiet machine and beside busy loops.

Scores a submission (default: the finetune baseline) twice at N models, each time with a fresh
ledger and a freshly measured yardstick, first as the machine is, then with BUSY processes
spinning (two on a 2-core machine: every core oversubscribed). Wall time roughly doubles under
such load; the charged CPU time, and so the ratio, should not. Exits non-zero when the loaded
ratio is more than `--tolerance` (1.25) times off the quiet one.

    .venv/bin/python benchmarks/budget_under_load.py [--n-models 64] [--busy 2]
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _score(submission: Path, n_models: int, cache: Path, scratch: Path) -> dict:
    """One score with a fresh ledger and yardstick (in a scratch copy of the cache); its time_budget."""
    shutil.rmtree(cache / "yardsticks", ignore_errors=True)
    out = Path(tempfile.mkdtemp(dir=scratch))
    command = [sys.executable, "-m", "harness", "score", str(submission), "--n-models", str(n_models), "--cache-dir", str(cache),
               "--ledger-dir", str(out / "ledgers"), "--out", str(out), "--bootstrap", "0", "--mia-models", "1", "--quiet"]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "score.json").read_text())["time_budget"]


def _row(condition: str, budget: dict) -> str:
    return (f"| {condition} | {budget['unlearn_median_s']:.3f} | {budget['retrain_median_s']:.3f} | {budget['ratio']:.3f} | "
            f"{budget['unlearn_wall_median_s']:.3f} | {budget['retrain_wall_median_s']:.3f} | {budget['load_average']['runs']:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", type=Path, default=ROOT / "baselines" / "finetune.py")
    parser.add_argument("--n-models", type=int, default=64)
    parser.add_argument("--busy", type=int, default=2, help="busy loops beside the loaded score")
    parser.add_argument("--tolerance", type=float, default=1.25)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "references")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        # a copy: the yardstick is measured afresh each time, and the real cache's must stay as leaderboards measured it
        cache = Path(scratch) / "cache"
        if args.cache_dir.exists():  # else the first score builds the references there
            shutil.copytree(args.cache_dir, cache, ignore=shutil.ignore_patterns("yardsticks", "*.lock"))
        quiet = _score(args.submission, args.n_models, cache, Path(scratch))
        loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
        try:
            loaded = _score(args.submission, args.n_models, cache, Path(scratch))
        finally:
            for loop in loops:
                loop.kill()
    print(f"time budget of {args.submission.name} at N = {args.n_models}, charged as {quiet['measure']}")
    print("| condition | unlearn median s | retrain median s | ratio | unlearn wall s | retrain wall s | load |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(_row("as the machine is", quiet))
    print(_row(f"beside {args.busy} busy loops", loaded))
    change = loaded["ratio"] / quiet["ratio"]
    print(f"ratio under load / ratio as is = {change:.3f} (tolerance {args.tolerance})")
    return 0 if 1 / args.tolerance <= change <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
