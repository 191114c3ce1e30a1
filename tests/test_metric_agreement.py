"""benchmarks/metric_agreement.py on boards whose agreement is known: score.json files written to disk, read back."""

import numpy as np
import pytest

from benchmarks.metric_agreement import conclusions, read_board, report, taus
from harness.outputs.results import write_score
from score_documents import budget, scored
from scoring.document import PanelEntry
from scoring.panel import METRICS

HALVES = 10


def _entry(metric: str, value: float, rng: np.random.Generator) -> PanelEntry:
    spec = METRICS[metric]
    replicates = tuple(float(value + noise) for noise in rng.normal(0, 0.01, HALVES))
    return PanelEntry(value, (value - 0.02, value + 0.02), spec.better, spec.source, spec.says, replicates=replicates)


def _board(tmp_path, values: dict[str, dict[str, float]], over_budget: tuple[str, ...] = ()) -> None:
    rng = np.random.default_rng(0)
    for name, panel in values.items():
        (tmp_path / name).mkdir()
        document = scored(panel={metric: _entry(metric, value, rng) for metric, value in panel.items()},
                          time_budget=budget(eligible=name not in over_budget))
        write_score(tmp_path / name, document)


def test_metrics_that_order_alike_agree_fully_and_a_reversed_one_disagrees(tmp_path):
    # KLoM is better low: rising official scores with falling KLoM is the same order
    _board(tmp_path, {
        "retrain": {"official": 0.9, "strong": 0.8, "lira": 0.2, "klom": 0.1},
        "good": {"official": 0.6, "strong": 0.5, "lira": 0.4, "klom": 1.0},
        "fair": {"official": 0.3, "strong": 0.2, "lira": 0.6, "klom": 2.0},
        "identity": {"official": 0.0, "strong": 0.0, "lira": 0.8, "klom": 9.0},
    }, over_budget=("retrain",))
    board = read_board(tmp_path)
    by_pair = {(t.first, t.second): t for t in taus(board)}
    assert by_pair["official", "strong"].tau == pytest.approx(1.0) and by_pair["official", "klom"].tau == pytest.approx(1.0)
    assert by_pair["official", "lira"].tau == pytest.approx(-1.0)
    low, high = by_pair["official", "strong"].ci95
    assert -1.0 <= low <= 1.0 and high == 1.0
    claims = dict(conclusions(board))
    assert claims["`good` is the best entry within the time budget"] == {"official": "holds", "strong": "holds", "lira": "**fails**", "klom": "holds"}
    assert claims["`identity` (no unlearning) ranks last, or tied for last"]["lira"] == "**fails**"
    assert claims["the 6 pairs of entries whose official intervals are apart keep their order"] == {
        "official": "6 of 6", "strong": "6 of 6", "lira": "0 of 6", "klom": "6 of 6"}
    text = report(board, tmp_path)
    assert "| official | lira | -1.000 |" in text and "**fails**" in text


def test_a_board_without_the_panel_is_refused(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        write_score(tmp_path / name, scored())
    with pytest.raises(SystemExit, match="with the metric panel"):
        read_board(tmp_path)
