"""Score documents for tests that need one without scoring anything: every field set to a plausible value,
any of them changed by keyword."""

from dataclasses import replace

from scoring.document import Isolation, MetricUsed, MiaPopulation, Pair, ScoreDocument, SimpleMia, TimeBudget

BUBBLEWRAP = Isolation("bubblewrap", ("user", "pid"), "cgroup", "cgroup", "cgroup: the kernel's CPU time", "uid 65534", "refused")


def budget(**changes: object) -> TimeBudget:
    """A measured time budget that passes, changed by keyword."""
    measured = TimeBudget(
        fraction=0.2, measure="CPU time", floor_s=0.0, unlearn_median_s=0.1, retrain_median_s=1.0, ratio=0.1, ratio_ci=(0.08, 0.12),
        ratio_ci_coverage=0.95, verdict="pass", borderline="pass", runs_timed=8, policy="eligible", eligible=True, unlearn_wall_median_s=0.1,
        import_median_s=None, import_share=None, retrain_wall_median_s=1.0, retrain_median_ci=(0.9, 1.1), floor_median_ci=(0.0, 0.0),
        retrain_runs=8, yardstick="cached", load_average={"runs": 0.5, "yardstick": (0.5, 0.5)},
    )
    return replace(measured, **changes)


def scored(**changes: object) -> ScoreDocument:
    """A scored document of 8 runs on digits-mlp, changed by keyword."""
    mia = MiaPopulation(0.5, 0.01, 8)
    document = ScoreDocument(
        benchmark="digits-mlp", benchmark_key="k", submission="s.py", submission_sha256="0" * 64, models_from="runs", status="scored",
        n_models=8, n_models_scored=8, runs={"ok": 8}, failures={}, time_budget=budget(), forget_quality=0.1, final_score=0.1,
        retain_accuracy=Pair(1.0, 1.0), test_accuracy=Pair(1.0, 1.0), forget_accuracy=Pair(1.0, 1.0),
        metric=MetricUsed("official", "empirical"), simple_mia=SimpleMia(0.5, mia, mia), isolation=BUBBLEWRAP, versions={},
    )
    return replace(document, **changes)
