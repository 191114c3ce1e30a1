"""Adaptive N: which entries get more models, and the leaderboard's account of it."""

from scoring.adaptive import Standing, needs_more, next_n
from scoring.leaderboard import Row, leaderboard_cells


def _standing(name: str, n: int, score: float | None, half_width: float = 0.01) -> Standing:
    if score is None:
        return Standing(name, n, None, None, None)
    return Standing(name, n, score, score - half_width, score + half_width)


def test_only_overlapping_neighbours_get_more_models():
    standings = [_standing("a", 32, 0.50), _standing("b", 32, 0.30), _standing("c", 32, 0.295), _standing("d", 32, 0.10), _standing("x", 32, None)]
    refine, why = needs_more(standings, top=None, max_n=512)
    assert refine == {"b", "c"}
    assert why["a"] == "separated from its neighbours at N = 32" and why["b"] == "overlapped c at N = 32"
    assert why["x"] == "not scored at N = 32"


def test_top_k_ignores_ranks_below_it_and_the_maximum_stops_refining():
    standings = [_standing("a", 64, 0.50), _standing("b", 64, 0.30), _standing("c", 64, 0.10), _standing("d", 64, 0.095)]
    refine, why = needs_more(standings, top=2, max_n=512)
    assert refine == set() and why["d"] == "below the top 2 at N = 64"
    at_max = [_standing("a", 512, 0.50), _standing("b", 512, 0.495)]
    refine, why = needs_more(at_max, top=None, max_n=512)
    assert refine == set() and why["a"] == "still overlaps b at the maximum N"
    # the pair (2, 3) decides who is in the top 2: both get more models
    close = [_standing("a", 32, 0.50), _standing("b", 32, 0.30), _standing("c", 32, 0.295)]
    assert needs_more(close, top=2, max_n=512)[0] == {"b", "c"}


def test_n_doubles_up_to_the_maximum():
    assert [next_n(n, 100) for n in (32, 64)] == [64, 100]


def test_adaptive_rows_show_their_n_and_why():
    row = Row("a", "scored", 0.5, 0.4, 0.6, 0.5, 1.0, 1.0, 0.1, 0.1, "pass")
    header, cells = leaderboard_cells([row])
    assert "N" not in header
    header, cells = leaderboard_cells([Row(**{**row.__dict__, "n_models": 64, "why": "separated from its neighbours at N = 64"})])
    assert header[-2:] == ("N", "why this N") and cells[0][-2:] == ["64", "separated from its neighbours at N = 64"]
