"""The settings of a score, shared by `score`, `score-checkpoints`, leaderboards and `stability`; and which of
them a score's numbers depend on (harness.outputs.kept_scores keys a kept score by those)."""

from dataclasses import asdict, dataclass, field
import json
import os
from pathlib import Path

from harness.competition import CompetitionUse
from harness.outputs.results import MetricSettings
from harness.submissions.checkpoints import CheckpointLimits
from harness.timing.choices import DEFAULT_FRACTION


def default_jobs() -> int:
    """One job per core this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ScoreSettings:
    n_models: int = 512
    jobs: int = default_jobs()
    budget_fraction: float = DEFAULT_FRACTION
    timeout_s: float | None = None  # None: derived from the budget
    allow_failures: bool = False
    ceiling: bool = False  # also score N more retrained models: the best F reachable at this N
    originals: int = 1  # a study of originals (--originals K): K originals trained from K seeds, run i unlearning from original i mod K
    report: bool = True  # write report.html with its figures (about 3 s of CPU a score); False: score.json alone
    memory_gb: float = 8.0  # address space a run may add to the worker's
    budget_policy: str = "eligible"  # over budget: ranked after those within it (eligible), or by score alone (rank-all)
    borderline: str = "pass"  # what a verdict whose interval holds the limit counts as: pass, fail, or more-runs (then pass)
    max_runs: int | None = None  # under more-runs, the most runs timed (None: MORE_RUNS x n_models)
    yardstick: str = "paired"  # retraining measured beside each submission's runs (paired), or once per machine (cached)
    rebuild: bool = True  # retrain damaged reference files (False: stop with CacheDamaged)
    cache_dir: Path = Path(".cache/references")
    ledger_dir: Path = Path(".cache/ledgers")
    progress: bool = True
    device: str = "cpu"  # where references train and are evaluated, and where a run's net is handed over
    sandbox: bool = True  # False (--no-sandbox): submissions run as plain processes, and score.json says so
    metric: MetricSettings = field(default_factory=MetricSettings)
    checkpoint_limits: CheckpointLimits = field(default_factory=CheckpointLimits)  # what score-checkpoints and leaderboards accept of an archive
    competition: CompetitionUse | None = None  # the competition file (or built-in) and what the command line overrode, for score.json

    def numbers(self) -> str:
        """The settings a score's numbers and files depend on, as canonical text: not those that change only how fast
        it is made (jobs, progress, the metric's device), where things are kept, or what a board accepts before scoring."""
        fields = asdict(self)
        for name in ("jobs", "progress", "rebuild", "cache_dir", "ledger_dir", "checkpoint_limits"):
            del fields[name]
        for name in ("jobs", "progress", "device"):
            del fields["metric"][name]
        return json.dumps(fields, sort_keys=True, default=str)
