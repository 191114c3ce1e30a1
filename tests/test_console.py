"""The console's context line, its last lines and the interval's one label; --out's default; the epsilon figure."""

from pathlib import Path

import numpy as np

from harness.benchmarks import get_benchmark, scenario_benchmark
from harness.commands.arguments import build_parser
from harness.commands.cli import _default_out
from harness.outputs.console import summary, written
from harness.outputs.context import baseline_scores, context_line
from rendering.figures import epsilon_histogram
from rendering.tables import leaderboard_cells
from score_documents import scored
from scoring.intervals import INTERVAL_LABEL


def test_context_quotes_the_baselines_of_docs_stability_at_this_n():
    scores = baseline_scores("digits-mlp", 512)
    assert scores["retrain"] > max(score for name, score in scores.items() if name != "retrain") >= scores["identity"] == 0
    line = context_line(scored(n_models=512, forget_quality=0.01))
    assert line.startswith("at N = 512 the baselines score 0.0000 (identity)") and f"{scores['retrain']:.4f}" in line


def test_context_prefers_the_ceiling_and_is_silent_where_nothing_is_known():
    ceiling = scored(n_models=16, forget_quality=0.05, forget_quality_ceiling=0.2)
    assert context_line(ceiling) == "F is 25% of the ceiling's 0.2000 (models retrained from scratch, N = 16)"
    assert context_line(scored(n_models=16, forget_quality=0.05)) is None
    assert context_line(scored(benchmark="digits-mlp:class", n_models=512, forget_quality=0.05)) is None


def test_last_lines_name_the_files(tmp_path):
    (tmp_path / "report.html").write_text("<html>")
    lines = [f"score.json       {tmp_path / 'score.json'}", f"report.html      {tmp_path / 'report.html'}"]
    assert written(tmp_path, scored()).splitlines() == lines
    assert "none: nothing was scored" in written(tmp_path, scored(final_score=None))
    (tmp_path / "report.html").unlink()
    assert written(tmp_path, scored()).splitlines()[1] == "report.html      not written (--no-report)"


def test_one_interval_label_in_console_and_leaderboard():
    document = scored(forget_quality_ci95=(0.05, 0.15), final_score_ci95=(0.05, 0.15), interval_method="half-sampling", interval_replicates=10)
    assert f"({INTERVAL_LABEL}: 0.0500 to 0.1500" in summary(document)
    header, _ = leaderboard_cells([])
    assert f"final score ({INTERVAL_LABEL})" in header


def test_epsilon_figure_is_a_png_whatever_the_spread():
    for epsilon in (np.zeros(10), np.full(10, 50.0), np.array([0.2, 3.0, 6.9, 7.0, 20.0, 50.0])):
        assert epsilon_histogram(epsilon.astype(np.float32), 512).startswith(b"\x89PNG")


def test_out_defaults_to_a_folder_per_benchmark_and_submission():
    spec = get_benchmark("digits-mlp")
    assert _default_out(build_parser().parse_args(["score", "somewhere/mine.py"]), spec) == Path("results/digits-mlp/mine")
    assert _default_out(build_parser().parse_args(["leaderboard", "entries"]), spec) == Path("results/digits-mlp/leaderboard-entries")
    adaptive = build_parser().parse_args(["leaderboard", "entries", "--adaptive"])
    assert _default_out(adaptive, spec) == Path("results/digits-mlp/leaderboard-entries-adaptive")
    top = build_parser().parse_args(["leaderboard", "entries", "--adaptive", "--top", "3"])
    assert _default_out(top, spec) == Path("results/digits-mlp/leaderboard-entries-adaptive-top3")
    scenario = scenario_benchmark(spec, "class", None)
    assert _default_out(build_parser().parse_args(["score", "mine.py"]), scenario) == Path(f"results/{scenario.name}/mine")
