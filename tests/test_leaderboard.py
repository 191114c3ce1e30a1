"""`python -m harness leaderboard`: a folder scored against shared references, ranked, on both splits."""

import base64
from dataclasses import replace
from pathlib import Path
import re

import pyarrow.csv
import pyarrow.parquet as pq
import pytest
import torch

from conftest import CACHED_YARDSTICK, ONE_WORKER, run_cli, small_folder
from harness.benchmarks import get_benchmark, split_benchmark
from harness.commands.errors import UsageError
from reference_models.datasets import load_benchmark_data
from rendering.pages import html_page, markdown_page
from rendering.tables import leaderboard_cells
from score_documents import BUBBLEWRAP, scored
from scoring.document import read_score
from scoring.leaderboard import GROUP_LEGEND, Row, arrow_table, rank, rank_groups, ranked_by_note, row_from_document

SPLIT_FIELDS = ("rank", "rank_group", "score", "score_ci_low", "score_ci_high", "verdict")
FILES = ("leaderboard.md", "leaderboard.html", "leaderboard.csv", "leaderboard.parquet")
COLUMNS = ["rank", "rank_group", "submission", "status", "final_score", "final_score_ci_low", "final_score_ci_high", "forget_quality",
           "retain_ratio", "test_ratio", "unlearn_median_s", "budget_ratio", "verdict", "eligible", "budget_ratio_ci_low", "budget_ratio_ci_high",
           "unverified", "models", "ranked_by", "panel_value", "panel_value_ci_low", "panel_value_ci_high"]
N_FIGURES = 7


def _table_rows(markdown: str) -> list[list[str]]:
    """The cells of each table row below a header, in every table of the document."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if not line.startswith("| rank") and not line.startswith("| submission")]


@pytest.fixture(scope="module")
def board(reference_cache, tmp_path_factory):
    """Three submissions, one failing, scored with bootstrap intervals on both splits.

    Ranked by score alone (rank-all): finetune's budget ratio on this small benchmark sits at the
    line (0.19 to 0.20 measured), and a verdict of "over" put it below identity in one run. The
    ranking of over-budget entries has its own test (test_time_budget.py)."""
    tmp = tmp_path_factory.mktemp("board")
    folder = small_folder(tmp / "submissions")
    out = tmp / "board"
    result = run_cli(
        "leaderboard", str(folder), "--split", "both", "--n-models", "4", "--cache-dir", str(reference_cache),
        "--ledger-dir", str(tmp / "ledgers"), "--out", str(out), "--quiet", "--bootstrap", "4", "--mia-models", "2",
        "--budget-policy", "rank-all", *CACHED_YARDSTICK, *ONE_WORKER,
    )
    assert result.returncode == 0, result.stderr
    return out, result


@pytest.mark.parametrize("split", ["public", "private"])
def test_each_split_is_ranked_with_failures_last(board, split):
    out, _ = board
    folder = out / split
    for name in FILES:
        assert (folder / name).stat().st_size > 0, name
    table = pq.read_table(folder / "leaderboard.parquet")
    assert table.column_names == COLUMNS
    assert table["submission"].to_pylist() == ["finetune", "identity", "a_failure"]
    assert table["rank"].to_pylist() == [1, 2, None]
    assert table["status"].to_pylist()[2] == "failed: invalid-output"
    assert table["final_score"].to_pylist()[0] > table["final_score"].to_pylist()[1] == 0.0
    assert pyarrow.csv.read_csv(folder / "leaderboard.csv").column_names == COLUMNS
    rows = _table_rows((folder / "leaderboard.md").read_text())
    assert [[row[0], row[2]] for row in rows] == [["1", "`finetune`"], ["2", "`identity`"], ["-", "`a_failure`"]]
    assert [row[1] for row in rows] == [group or "-" for group in table["rank_group"].to_pylist()] and rows[2][1] == "-"
    assert "(" in rows[0][3] and rows[2][3] == "n/a"  # the interval next to the score; none for a failure
    assert GROUP_LEGEND in (folder / "leaderboard.md").read_text()
    links = re.findall(r'<a href="([^"]+)">report</a>', (folder / "leaderboard.html").read_text())
    assert links == ["finetune/report.html", "identity/report.html"] and all((folder / link).is_file() for link in links)
    assert rows[2][-1] == "-"  # a failure has no report to link
    assert "<table>" in (folder / "leaderboard.html").read_text()
    for name in ("identity", "finetune", "a_failure"):
        assert (folder / name / "score.json").is_file()


def test_both_splits_side_by_side(board):
    out, result = board
    comparison = pq.read_table(out / "leaderboard.parquet")
    assert comparison.column_names == ["submission", *(f"{split}_{field}" for split in ("public", "private") for field in SPLIT_FIELDS), "rank_change",
                                       "forecast_overtaken", "forecast_rank_low", "forecast_rank_high"]
    overtaken = comparison["forecast_overtaken"].to_pylist()
    assert 0.0 <= overtaken[0] <= 1.0 and overtaken[1:] == [None, None]  # the last ranked has no one below; a failure no forecast
    lows, highs = comparison["forecast_rank_low"].to_pylist(), comparison["forecast_rank_high"].to_pylist()
    assert lows[0] == 1 and highs[1] == 2 and all(low <= high for low, high in zip(lows[:2], highs[:2], strict=True)) and lows[2] is None
    assert comparison["public_score_ci_low"].to_pylist()[0] <= comparison["public_score"].to_pylist()[0]
    assert comparison["submission"].to_pylist() == ["finetune", "identity", "a_failure"]
    assert comparison["rank_change"].to_pylist() == [0, 0, None]
    assert comparison["public_score"].to_pylist()[0] != comparison["private_score"].to_pylist()[0]
    markdown = (out / "leaderboard.md").read_text()
    assert markdown in result.stdout
    for heading in ("Public against private rank", "Public split", "Private split", "Versions:", "Hardware:", "Shake-up forecast", "P(next overtakes)"):
        assert heading in markdown
    html = (out / "leaderboard.html").read_text()
    assert html.count("<table>") == 3 and "Public against private rank" in html
    links = re.findall(r'<a href="([^"]+)">report</a>', html)
    assert len(links) == 4 and all((out / link).is_file() for link in links) and {link.split("/")[0] for link in links} == {"public", "private"}


def test_report_embeds_every_figure(board):
    out, _ = board
    report = (out / "public" / "finetune" / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', report)
    assert len(images) == N_FIGURES
    for encoded in images:
        png = base64.b64decode(encoded)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
    for words in ("final score", "forgetting quality F", "time budget", "Losses of the forget set", "epsilon bucket", "Collateral privacy"):
        assert words in report
    assert not (out / "public" / "a_failure" / "report.html").exists()  # nothing to explain: no score


def test_folder_without_submissions_is_a_clear_error(in_process, tmp_path):
    result = in_process("leaderboard", str(tmp_path), "--n-models", "4")
    assert result.returncode == 2
    assert "not a folder with submission files" in result.stderr


def test_private_split_draws_another_forget_set_deterministically():
    public = get_benchmark("digits-mlp")
    private = split_benchmark(public, "private")
    assert private.key() != public.key() and split_benchmark(public, "public") == public
    first, again, other = load_benchmark_data(private), load_benchmark_data(private), load_benchmark_data(public)
    assert torch.equal(first.forget.images, again.forget.images) and torch.equal(first.retain.labels, again.retain.labels)
    assert len(first.forget) == len(other.forget)
    assert not torch.equal(first.forget.images, other.forget.images)
    assert torch.equal(first.test.images, other.test.images)  # only the forget set moves
    with pytest.raises(UsageError, match="unknown split"):
        split_benchmark(public, "secret")


def test_equal_scores_share_a_rank():
    def row(name: str, score: float | None) -> Row:
        return Row(name, "scored" if score is not None else "failed: exception", score, None, None, score, 1.0, 1.0, 0.1, 0.1, "pass")

    ranked = rank([row("d", 0.0), row("c", None), row("b", 0.2), row("a", 0.0), row("e", 0.5)])
    assert [(position, r.submission) for position, r in ranked] == [(1, "e"), (2, "b"), (3, "a"), (3, "d"), (None, "c")]


@pytest.mark.parametrize("isolation, reason", [
    (replace(BUBBLEWRAP, mechanism="none (--no-sandbox)", cpu="unverified: getrusage"), "no sandbox"),
    (replace(BUBBLEWRAP, cpu="unverified: getrusage of the run's waited-for children"), "CPU time a run could hide (no cgroup)"),
    (BUBBLEWRAP, None),
])
def test_a_verdict_without_sandbox_or_cgroup_is_marked_unverified(isolation, reason):
    row = row_from_document("entry", scored(final_score=0.5, forget_quality=0.5, isolation=isolation))
    header, cells = leaderboard_cells([row])
    assert cells[0][header.index("verdict")] == ("pass" if reason is None else f"pass (unverified: {reason})")
    assert arrow_table([row]).column("unverified").to_pylist() == [reason]


def _scored_row(name: str, score: float | None, interval: tuple[float, float] | None, eligible: bool = True) -> Row:
    low, high = interval or (None, None)
    return Row(name, "scored" if score is not None else "failed: exception", score, low, high, score, 1.0, 1.0, 0.1, 0.1, "pass", eligible)


def test_neighbours_whose_intervals_overlap_share_a_rank_group():
    rows = [
        _scored_row("a", 0.50, (0.45, 0.55)),
        _scored_row("b", 0.48, (0.40, 0.50)),  # overlaps a
        _scored_row("c", 0.30, (0.25, 0.35)),  # apart from b
        _scored_row("d", 0.29, (0.20, 0.31)),
        _scored_row("e", 0.10, (0.09, 0.11)),
        _scored_row("slow", 0.60, (0.50, 0.70), eligible=False),  # over budget: grouped among its own class only
        _scored_row("plain", 0.05, None),  # no interval: in no group
        _scored_row("broken", None, None),
    ]
    assert rank_groups(rows) == {"a": "1-2", "b": "1-2", "c": "3-4", "d": "3-4", "e": "5", "plain": None, "slow": "7", "broken": None}


def test_a_group_chains_through_overlapping_neighbours_and_ties_keep_their_rank():
    chained = [_scored_row("a", 0.5, (0.40, 0.60)), _scored_row("b", 0.4, (0.30, 0.50)), _scored_row("c", 0.3, (0.20, 0.35))]
    assert set(rank_groups(chained).values()) == {"1-3"}  # a and c are apart, but each touches b
    tied = [_scored_row("a", 0.5, (0.5, 0.5)), _scored_row("b", 0.5, (0.5, 0.5)), _scored_row("c", 0.2, (0.2, 0.2))]
    assert rank_groups(tied) == {"a": "1", "b": "1", "c": "3"}


def test_a_report_link_stays_in_its_folder_and_holds_no_markup():
    """The href is percent-encoded and escaped: a name's characters can neither end the attribute nor leave the folder."""
    row = _scored_row('a"b <c>', 0.5, None)
    header, cells = leaderboard_cells([row], {row.submission: f"{row.submission}/report.html"})
    page, markdown = html_page("t", [], [("", (header, cells))]), markdown_page("t", [], [("", (header, cells))])
    assert header[-1] == "report" and '<a href="a%22b%20%3Cc%3E/report.html">report</a>' in page
    assert "[report](a%22b%20%3Cc%3E/report.html)" in markdown
    assert leaderboard_cells([row], {})[1][0][-1] == "-"


def _panel_row(name: str, klom: float, interval: tuple[float, float] | None, final: float = 0.5) -> Row:
    low, high = interval or (None, None)
    return replace(_scored_row(name, final, None), ranked_by="klom", panel_value=klom, panel_value_ci_low=low, panel_value_ci_high=high)


def test_ranked_by_klom_the_lowest_comes_first_and_groups_follow_its_intervals():
    rows = [_panel_row("far", 6.0, (5.5, 6.5), final=0.9), _panel_row("near", 1.0, (0.5, 1.5), final=0.1),
            _panel_row("nearer", 1.2, (1.1, 2.0)), _panel_row("plain", 3.0, None)]
    assert [(position, row.submission) for position, row in rank(rows)] == [(1, "near"), (2, "nearer"), (3, "plain"), (4, "far")]
    assert rank_groups(rows) == {"near": "1-2", "nearer": "1-2", "plain": None, "far": "4"}
    header, cells = leaderboard_cells(rows)
    assert header[3].startswith("klom, ranked by (lower is better") and cells[0][3] == "1.0000 (0.5000 to 1.5000)"
    assert ranked_by_note(rows)[0].startswith("Ranked by klom (lower is better)")
    assert arrow_table(rows).column("ranked_by").to_pylist() == ["klom"] * 4


def _board_again(board_out: Path, reference_cache: Path, again: Path, *options: str):
    """The board fixture's folder ranked again into `again` with more options, its runs and kept scores reused."""
    return run_cli(
        "leaderboard", str(board_out.parent / "submissions"), "--n-models", "4", "--cache-dir", str(reference_cache),
        "--ledger-dir", str(board_out.parent / "ledgers"), "--out", str(again), "--quiet", "--bootstrap", "4", "--mia-models", "2",
        "--budget-policy", "rank-all", *options, *CACHED_YARDSTICK, *ONE_WORKER,
    )


def test_the_board_ranks_by_a_metric_of_the_panel_and_says_so(board, reference_cache):
    """The same entries ranked by KLoM, from their kept scores: the order of their score.json's KLoM, said in every file."""
    out, _ = board
    again = out.parent / "by-klom"
    result = _board_again(out, reference_cache, again, "--rank-by", "klom")
    assert result.returncode == 0, result.stderr
    table = pq.read_table(again / "leaderboard.parquet")
    klom = {name: read_score(again / name / "score.json").panel["klom"].value for name in ("finetune", "identity")}
    assert table["submission"].to_pylist()[:2] == sorted(klom, key=klom.__getitem__) and table["rank"].to_pylist()[2] is None
    assert set(table["ranked_by"].to_pylist()) == {"klom"} and table["panel_value"].to_pylist()[:2] == sorted(klom.values())
    assert "Ranked by klom (lower is better)" in (again / "leaderboard.md").read_text()
    refused = run_cli("leaderboard", str(out.parent / "submissions"), "--adaptive", "--rank-by", "klom", "--cache-dir", str(reference_cache))
    assert refused.returncode == 2 and "--adaptive" in refused.stderr


def test_a_one_split_board_forecasts_from_more_forget_sets_when_asked(board, reference_cache):
    """--forecast 1: the folder scored on one more forget set (its own folder), and the table's forecast columns from it."""
    out, _ = board
    again = out.parent / "forecast"
    result = _board_again(out, reference_cache, again, "--forecast", "1", "--no-report")
    assert result.returncode == 0, result.stderr
    assert "more forget set(s)" in result.stderr  # the cost is said before anything is scored
    assert (again / "forecast-1" / "finetune" / "score.json").is_file()
    table = pq.read_table(again / "leaderboard.parquet")
    assert table.column_names[-3:] == ["forecast_overtaken", "forecast_rank_low", "forecast_rank_high"]
    assert 0.0 <= table["forecast_overtaken"].to_pylist()[0] <= 1.0 and table["forecast_rank_low"].to_pylist()[0] == 1
    markdown = (again / "leaderboard.md").read_text()
    assert "Shake-up forecast" in markdown and "2 pairs of an entry's scores on two forget sets" in markdown
    refused = run_cli("leaderboard", str(out.parent / "submissions"), "--adaptive", "--forecast", "1", "--cache-dir", str(reference_cache))
    assert refused.returncode == 2 and "--forecast" in refused.stderr
