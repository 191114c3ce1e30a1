"""Where the time of a new submission's score goes: start-up, references, yardstick, runs, ledger, metric (and its panel), report.

Scores a submission never scored before (the finetune baseline with a fresh comment, so a new
ledger) at N models on references already built (warm), as `make score` would, with -v, and reads
each stage's seconds from the harness's own lines; start-up is what the stages leave of the
command's wall time. Within the runs, the submission's charged CPU and the retraining and floor
measured beside it are read from the ledgers, and the ledger's writes from its line. Issue 42's
target: at most 25 s at N = 512 on digits-mlp, on a quiet 2-core machine.

    .venv/bin/python benchmarks/score_breakdown.py [--n-models 512] [--jobs 2]
"""

import argparse
from pathlib import Path
import re
import subprocess
import sys
import tempfile
import time

from harness.running.ledger import MeasurementLedger, RunLedger
from scoring.document import read_score

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("references and data", "yardstick", "runs", "metric", "score.json and report")
TARGET_S = 25.0


def _stage_seconds(stderr: str) -> dict[str, float]:
    found = {}
    for stage in (*STAGES, "ledger", "metric panel"):
        match = re.search(rf"^{re.escape(stage)}: (?:\d+ runs appended, )?([\d.]+) s", stderr, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"the harness printed no '{stage}' line with -v:\n{stderr[-2000:]}")
        found[stage] = float(match.group(1))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-models", type=int, default=512)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "references")
    args = parser.parse_args()
    warm = [sys.executable, "-m", "harness", "references", "--n-models", str(args.n_models), "--cache-dir", str(args.cache_dir)]
    subprocess.run(warm, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as scratch:
        submission, ledgers = Path(scratch) / "finetune.py", Path(scratch) / "ledgers"
        submission.write_text((ROOT / "baselines" / "finetune.py").read_text() + f"\n# {time.time_ns()}: a new file, so a new ledger\n")
        command = [sys.executable, "-m", "harness", "score", str(submission), "--n-models", str(args.n_models), "--jobs", str(args.jobs),
                   "--cache-dir", str(args.cache_dir), "--ledger-dir", str(ledgers), "--out", str(Path(scratch) / "out"), "-v"]
        start = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        total = time.perf_counter() - start
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return result.returncode
        stages = _stage_seconds(result.stderr)
        document = read_score(Path(scratch) / "out" / "score.json")
        ledger = RunLedger(ledgers, document.submission_sha256 or "", document.benchmark_key)
        runs_cpu = sum(record.unlearn_seconds or 0.0 for record in ledger.records.values())
        measured = MeasurementLedger(ledger).rows.values()
        beside_cpu = sum(row["charged_seconds"] for row in measured)
    rows = [
        ("start-up: imports, arguments, the sandbox's check", total - sum(stages[stage] for stage in STAGES)),
        ("references and data, loaded", stages["references and data"]),
        ("cached yardstick, read", stages["yardstick"]),
        ("runs, wall (below: what they hold)", stages["runs"]),
        (f"- the submission's charged CPU, {len(ledger.records)} runs, over {args.jobs} jobs", runs_cpu / args.jobs),
        (f"- retraining and floor measured beside them, {len(measured)} runs, over {args.jobs} jobs", beside_cpu / args.jobs),
        ("- ledger writes", stages["ledger"]),
        ("- the rest: forks, hand-over, answers, evaluation in the parent", stages["runs"] - (runs_cpu + beside_cpu) / args.jobs - stages["ledger"]),
        ("metric: F, 100 half-samples, population attack, collateral, panel", stages["metric"]),
        ("- of which the metric panel (strong, LiRA-style, KLoM; 100 half-samples)", stages["metric panel"]),
        ("score.json and report.html", stages["score.json and report"]),
    ]
    print(f"a new submission (finetune) at N = {args.n_models}, {args.jobs} jobs, warm references: {total:.1f} s in all "
          f"(target {TARGET_S:g} s: {'met' if total <= TARGET_S else 'not met'})")
    print("| stage | seconds | share |")
    print("| --- | --- | --- |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} | {100 * seconds / total:.0f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
