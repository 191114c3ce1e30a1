"""A score is kept by what it was computed from (harness.outputs.kept_scores): scoring again with nothing new
copies its files back instead of computing the metric and the report, and anything new computes them again."""

from dataclasses import replace
import json
import logging
import os

import numpy as np

from conftest import ROOT
from harness.benchmarks import get_benchmark
from harness.outputs import kept_scores
from harness.outputs.kept_scores import KeptScores, ScoreInputs, outputs_digest
from harness.outputs.results import MetricSettings
from harness.pipeline import _inputs
from harness.running.ledger import RunRecord
from harness.settings import ScoreSettings
from reference_models.cache import References
from reference_models.evaluation import ModelOutputs, PopulationOutputs
from score_documents import BUBBLEWRAP, scored
from scoring.document import from_json, to_json

INPUTS = ScoreInputs("benchmark", "s.py", "a" * 64, "runs", "references", "('paired', 'cpu', (1.0,), (1.0,), (0.1,))", ScoreSettings().numbers(),
                     "versions, isolation")


SPEC = get_benchmark("digits-mlp")


def _record(statistic: float) -> RunRecord:
    return RunRecord(0, 7, "ok", None, "", 0.1, 0.2, 1.0, 0.9, 0.8, [statistic, 2.0], [3.0], [4.0])


def test_the_key_changes_with_each_input_and_with_no_setting_of_speed_or_place():
    names = ("benchmark_key", "submission", "submission_sha256", "runs", "references", "yardstick", "settings", "circumstances")
    changed = [replace(INPUTS, **{name: "other"}) for name in names]
    assert len({inputs.key() for inputs in [INPUTS, *changed]}) == 9
    numbers = ScoreSettings().numbers()
    what = [ScoreSettings(report=False), ScoreSettings(n_models=8), ScoreSettings(metric=MetricSettings(bootstrap=10))]
    assert all(settings.numbers() != numbers for settings in what)
    how = ScoreSettings(jobs=7, progress=False, cache_dir=ROOT, ledger_dir=ROOT, rebuild=False, metric=MetricSettings(jobs=2, device="cuda"))
    assert how.numbers() == numbers


def test_the_outputs_digest_sees_one_changed_statistic_and_the_order():
    first, other = _record(1.0), _record(1.0 + 1e-12)
    assert outputs_digest([first]) == outputs_digest([_record(1.0)])
    assert outputs_digest([first]) != outputs_digest([other])
    assert outputs_digest([first, replace(first, run_id=1)]) != outputs_digest([replace(first, run_id=1), first])


def _write_score(folder, document, report: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "score.json").write_text(to_json(document))
    (folder / "examples.parquet").write_bytes(b"examples")
    if report:
        (folder / "report.html").write_text("<p>report</p>")


def test_a_kept_score_is_copied_back_and_stale_files_go(tmp_path):
    kept, first, second = KeptScores(tmp_path / "ledgers"), tmp_path / "first", tmp_path / "second"
    document = scored(final_score=0.25)
    _write_score(first, document, report=False)
    kept.keep(INPUTS, first)
    assert kept.restore(replace(INPUTS, runs="new runs"), second) is None
    (second / "report.html").parent.mkdir()
    (second / "report.html").write_text("an earlier score's report")  # which would not explain the kept score
    assert kept.restore(INPUTS, second) == document
    assert (second / "score.json").read_text() == (first / "score.json").read_text()
    assert (second / "examples.parquet").read_bytes() == b"examples"
    assert not (second / "report.html").exists()


def test_an_altered_or_incomplete_kept_score_is_computed_again(tmp_path, caplog):
    kept, out = KeptScores(tmp_path / "ledgers"), tmp_path / "out"
    _write_score(out, scored(), report=True)
    kept.keep(INPUTS, out)
    folder = kept.root / INPUTS.key()
    json.loads((folder / "checksums.json").read_text())  # written last, naming every file kept
    original = (folder / "score.json").read_text()
    (folder / "score.json").write_text(original.replace('"final_score": 0.1', '"final_score": 0.9'))
    with caplog.at_level(logging.WARNING):
        assert kept.restore(INPUTS, tmp_path / "elsewhere") is None
    assert "incomplete or altered" in caplog.text
    (folder / "score.json").write_text(original)
    (folder / "report.html").unlink()
    assert kept.restore(INPUTS, tmp_path / "elsewhere") is None
    assert not (tmp_path / "elsewhere").exists()


def test_scoring_again_with_nothing_new_copies_the_kept_score(score_cli, tmp_path):
    """The same runs and settings: the score's files come back byte for byte, without the metric; another setting
    that changes the numbers computes them again, and keeps that score beside the first."""
    finetune, out = ROOT / "baselines" / "finetune.py", tmp_path / "out"
    first, document = score_cli(finetune, bootstrap=8, report=True, quiet=False)
    assert first.returncode == 0, first.stderr
    assert "nothing new" not in first.stderr
    files = {name: (out / name).read_bytes() for name in ("score.json", "examples.parquet", "report.html")}
    (out / "report.html").unlink()
    again, _ = score_cli(finetune, bootstrap=8, report=True, quiet=False)
    assert again.returncode == 0, again.stderr
    assert "nothing new since the last score" in again.stderr and "metric" not in again.stderr.split("nothing new")[1]
    assert {name: (out / name).read_bytes() for name in files} == files
    other, changed = score_cli(finetune, bootstrap=10, quiet=False)
    assert other.returncode == 0 and "nothing new" not in other.stderr
    assert changed["forget_quality"] == document["forget_quality"] and changed["forget_quality_ci95"] != document["forget_quality_ci95"]
    assert not (out / "report.html").exists()  # --no-report: the first score's report would not explain this one
    assert len(list((tmp_path / "ledgers" / "scores").iterdir())) == 2
    assert from_json((out / "score.json").read_text()).final_score == document["final_score"]


def test_the_ceiling_s_models_enter_the_key_where_they_are_scored():
    """A kept score with --ceiling holds the ceiling's F: other ceiling models must not copy it back."""
    record = _record(1.0)
    outputs = PopulationOutputs.from_rows([record, replace(record, run_id=1)])
    original = ModelOutputs(1.0, 0.9, 0.8, np.array([1.0, 2.0]), np.array([3.0]), np.array([4.0]))
    references = References("key", ({},), (original,), outputs)

    def inputs(ceiling):
        return _inputs(SPEC, "s.py", "a" * 64, [record], references, ceiling, "yardstick", "settings", BUBBLEWRAP)

    plain, ceiling = inputs(None), inputs(lambda n: outputs.head(n))
    other = inputs(lambda n: PopulationOutputs.from_rows([replace(record, forget_statistic=[9.0, 2.0])]).head(n))
    assert len({plain.key(), ceiling.key(), other.key()}) == 3
    assert ceiling.key() == inputs(lambda n: outputs.head(n)).key()


def test_past_the_limit_the_least_recently_used_scores_go(tmp_path, monkeypatch):
    """The kept scores cannot fill a disk: past MAX_KEPT, keeping one removes the one kept or copied back longest ago."""
    monkeypatch.setattr(kept_scores, "MAX_KEPT", 2)
    kept, out = KeptScores(tmp_path / "ledgers"), tmp_path / "out"
    _write_score(out, scored(), report=False)
    inputs = [replace(INPUTS, runs=f"runs {i}") for i in range(3)]
    for moment, each in enumerate(inputs[:2]):
        kept.keep(each, out)
        os.utime(kept.root / each.key() / "checksums.json", (1000 + moment, 1000 + moment))
    assert kept.restore(inputs[0], tmp_path / "again") is not None  # used now: the first is the most recent
    kept.keep(inputs[2], out)
    assert sorted(path.name for path in kept.root.iterdir()) == sorted([inputs[0].key(), inputs[2].key()])


def test_a_score_that_cannot_be_kept_is_only_logged(tmp_path, caplog):
    """Keeping is a saving, never a failure: a ledger root that cannot hold the folder leaves the score's results as they are."""
    (tmp_path / "ledgers").write_text("a file where the ledger root should be")
    out = tmp_path / "out"
    _write_score(out, scored(), report=False)
    with caplog.at_level(logging.WARNING):
        KeptScores(tmp_path / "ledgers").keep(INPUTS, out)
    assert "could not be kept" in caplog.text and (out / "score.json").is_file()
