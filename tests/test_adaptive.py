"""Adaptive N: which entries get more models, and the leaderboard's account of it."""

from dataclasses import replace
import json

import pyarrow.parquet as pq

from conftest import CACHED_YARDSTICK, NO_REPORT, ONE_WORKER, run_cli, small_folder
from rendering.tables import leaderboard_cells
from scoring.adaptive import Block, Standing, next_n, open_names, refine
from scoring.leaderboard import Row, rank


def _standings(n: int, **scores: float | None) -> dict[str, Standing]:
    """Entries with intervals of +-0.01 around their scores."""
    return {
        name: Standing(name, n, score, None if score is None else score - 0.01, None if score is None else score + 0.01)
        for name, score in scores.items()
    }


def test_only_overlapping_neighbours_get_more_models_and_failures_go_last():
    standings = _standings(32, a=0.50, b=0.30, c=0.29, d=0.10, x=None)
    blocks = refine([Block(tuple(standings))], standings, top=None, max_n=512)
    assert [block.names for block in blocks] == [("a",), ("b", "c"), ("d",), ("x",)]
    assert open_names(blocks) == {"b", "c"}
    assert blocks[0].why == "separated from its neighbours at N = 32" and blocks[3].why == "not scored at N = 32"


def test_a_group_keeps_its_place_when_scores_at_higher_n_fall():
    """At N = 64 b and c score below d's N = 32 score, yet stay above d: F falls with N."""
    blocks = [Block(("a",), "settled"), Block(("b", "c")), Block(("d",), "settled")]
    later = {**_standings(32, a=0.5, d=0.10), **_standings(64, b=0.05, c=0.08)}
    blocks = refine(blocks, later, top=None, max_n=512)
    assert [block.names for block in blocks] == [("a",), ("c",), ("b",), ("d",)] and not open_names(blocks)
    rows = [Row(name, "scored", later[name].score, None, None, None, None, None, None, None, "pass", block=i)
            for i, block in enumerate(blocks) for name in block.names]
    assert [(position, row.submission) for position, row in rank(rows)] == [(1, "a"), (2, "c"), (3, "b"), (4, "d")]


def test_top_k_and_the_maximum_stop_refining():
    standings = _standings(64, a=0.50, b=0.30, c=0.10, d=0.095)
    blocks = refine([Block(tuple(standings))], standings, top=2, max_n=512)
    assert not open_names(blocks) and blocks[-1].why == "below the top 2 at N = 64"
    # a group that straddles rank K decides who is in the top K: refined
    close = _standings(32, a=0.50, b=0.30, c=0.29)
    assert open_names(refine([Block(tuple(close))], close, top=2, max_n=512)) == {"b", "c"}
    at_max = _standings(512, a=0.50, b=0.495)
    blocks = refine([Block(("a", "b"))], at_max, top=None, max_n=512)
    assert not open_names(blocks) and blocks[0].why == "intervals still overlap within a, b at the maximum N"


def test_ranks_count_every_entry_within_budget_first_but_chains_ignore_the_verdict():
    """An over-budget entry takes no place in the top K, yet still competes with its neighbours by
    score: a verdict from the first N runs can change at a larger N."""
    standings = {**_standings(32, a=0.50, c=0.29, d=0.10), **{name: Standing(name, 32, score, score - 0.01, score + 0.01, eligible=False)
                                                              for name, score in (("x", 0.90), ("b", 0.30))}}
    blocks = refine([Block(tuple(standings))], standings, top=None, max_n=512)
    assert [block.names for block in blocks] == [("x",), ("a",), ("b", "c"), ("d",)] and open_names(blocks) == {"b", "c"}
    # x scores best but ranks after a, c and d: with K = 2 the b-c chain decides rank 2 (c's)
    assert open_names(refine([Block(tuple(standings))], standings, top=2, max_n=512)) == {"b", "c"}
    blocks = refine([Block(tuple(standings))], standings, top=1, max_n=512)
    assert not open_names(blocks) and blocks[2] == Block(("b", "c"), "below the top 1 at N = 32")


def test_exact_ties_settle_at_once():
    """Equal scores whose intervals have no width (F = 0 in every half-sample) cannot be parted by more models."""
    zeros = {name: Standing(name, 32, 0.0, 0.0, 0.0) for name in ("x", "y")}
    blocks = refine([Block(("x", "y"))], zeros, top=None, max_n=512)
    assert blocks == [Block(("x", "y"), "tied: equal scores with intervals of no width at N = 32")]
    near = {**zeros, "y": Standing("y", 32, 0.001, 0.0, 0.002)}  # apart by more than their intervals will reach at N = 512
    assert open_names(refine([Block(("x", "y"))], near, top=None, max_n=512)) == {"x", "y"}


def test_a_chain_that_the_maximum_would_not_part_settles_as_one_group():
    """Gaps under the intervals' reach shrunk to the maximum N by sqrt(N / max N) (here 1/4): more models would most likely
    leave them overlapping, so they are reported as one group now; one wider gap in the chain keeps it refined."""
    crowded = _standings(32, a=0.300, b=0.296, c=0.292)  # gaps of 0.004 against a reach of 0.02 / 4 = 0.005 at N = 512
    blocks = refine([Block(tuple(crowded))], crowded, top=None, max_n=512)
    assert blocks == [Block(("a", "b", "c"), "one group: its gaps are under what N = 512 would part, at N = 32")]
    one_gap = _standings(32, a=0.300, b=0.296, c=0.285)  # b and c: 0.011 apart, more than 0.005
    assert open_names(refine([Block(tuple(one_gap))], one_gap, top=None, max_n=512)) == {"a", "b", "c"}
    assert open_names(refine([Block(tuple(crowded))], {name: replace(s, n_models=4) for name, s in crowded.items()}, top=None, max_n=512))


def test_n_doubles_up_to_the_maximum():
    assert [next_n(n, 100) for n in (32, 64)] == [64, 100]


def test_adaptive_rows_show_their_n_and_why():
    row = Row("a", "scored", 0.5, 0.4, 0.6, 0.5, 1.0, 1.0, 0.1, 0.1, "pass")
    header, cells = leaderboard_cells([row])
    assert "N" not in header
    header, cells = leaderboard_cells([Row(**{**row.__dict__, "n_models": 64, "why": "separated from its neighbours at N = 64"})])
    assert header[-2:] == ("N", "why this N") and cells[0][-2:] == ["64", "separated from its neighbours at N = 64"]


def test_adaptive_leaderboard_end_to_end(reference_cache, tmp_path):
    """A real `leaderboard --adaptive` from N = 4 to 8: each entry's N, why, its ledger and the savings note;
    a notebook the harness refuses is a failed row, as on a fixed board, not the end of the board."""
    folder = small_folder(tmp_path / "submissions")
    (folder / "unreadable.ipynb").write_text("{not json")
    out = tmp_path / "board"
    result = run_cli(
        "leaderboard", str(folder), "--split", "public", "--adaptive", "--start-n", "4", "--max-n", "8",
        "--cache-dir", str(reference_cache), "--ledger-dir", str(tmp_path / "ledgers"), "--out", str(out),
        "--quiet", "--bootstrap", "4", "--mia-models", "2", *CACHED_YARDSTICK, *ONE_WORKER, *NO_REPORT,
    )
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out / "leaderboard.parquet").to_pylist()
    by_name = {row["submission"]: row for row in table}
    assert [row["submission"] for row in table][-2:] == ["a_failure", "unreadable"] and by_name["a_failure"]["why"] == "not scored at N = 4"
    assert by_name["unreadable"]["status"] == "failed: refused"
    for name in ("finetune", "identity"):
        document = json.loads((out / name / "score.json").read_text())
        assert by_name[name]["n_models"] in (4, 8) and document["n_models"] == by_name[name]["n_models"]
        assert by_name[name]["why"].endswith(f"N = {by_name[name]['n_models']}") or "maximum N" in by_name[name]["why"]
    runs = sum(row["n_models"] for row in table)
    markdown = (out / "leaderboard.md").read_text()
    assert f"Adaptive N: {runs} unlearning runs" in markdown and "| N | why this N |" in markdown


def test_adaptive_options_need_adaptive(in_process, tmp_path):
    result = in_process("leaderboard", str(small_folder(tmp_path / "s")), "--top", "3", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "need --adaptive" in result.stderr
