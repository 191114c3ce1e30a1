"""A leaderboard scored, then run again with every run kept: how long each takes.

Seven baselines on both splits at N models (32 by default), with fresh ledgers and the shared
reference cache: the first board makes every run and score; the second, the same command, finds
every run in the ledgers and every score kept (harness.outputs.kept_scores), so that it costs the
harness's start-up, the references' load and the tables. Exits non-zero when the rerun takes more
than `--target` seconds (30, issue 42) or its leaderboard differs from the first one's.

    .venv/bin/python benchmarks/board_rerun.py [--n-models 32] [--jobs 2]
"""

import argparse
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parent.parent
ENTRIES = ("identity", "finetune", "neggrad", "neggrad_plus", "random_labels", "scrub", "retrain")


def _board(folder: Path, out: Path, n_models: int, jobs: int, cache: Path) -> float:
    """Seconds the leaderboard command took."""
    command = [sys.executable, "-m", "harness", "leaderboard", str(folder), "--split", "both", "--n-models", str(n_models),
               "--jobs", str(jobs), "--cache-dir", str(cache), "--ledger-dir", str(out / "ledgers"), "--out", str(out / "board"), "--quiet"]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-models", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--target", type=float, default=30.0, help="the most seconds the rerun may take")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "references")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder, out = Path(scratch) / "entries", Path(scratch) / "out"
        folder.mkdir()
        for name in ENTRIES:
            shutil.copy(ROOT / "baselines" / f"{name}.py", folder)
        first = _board(folder, out, args.n_models, args.jobs, args.cache_dir)
        table = (out / "board" / "leaderboard.csv").read_bytes()
        again = _board(folder, out, args.n_models, args.jobs, args.cache_dir)
        same = (out / "board" / "leaderboard.csv").read_bytes() == table
    print(f"both-splits leaderboard of {len(ENTRIES)} baselines at N = {args.n_models}, {args.jobs} jobs")
    print("| board | seconds |")
    print("| --- | --- |")
    print(f"| first: every run and score made | {first:.1f} |")
    print(f"| again, every run and score kept | {again:.1f} |")
    print(f"the rerun's leaderboard.csv is {'the same' if same else 'DIFFERENT'}; target: rerun under {args.target:g} s")
    return 0 if same and again < args.target else 1


if __name__ == "__main__":
    sys.exit(main())
