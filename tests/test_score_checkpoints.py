"""`score-checkpoints` (issue 39): models made elsewhere, a Kaggle-style zip of state dicts, scored as the
runs of a submission against the same references.

The zip is made as the starting notebook made it: a driver loop calls a deterministic submission on
the original model, then `torch.save(net.state_dict(), f"unlearned_checkpoint_{i}.pth")`, and the files
are zipped. Its score must be the one `score` gives the same file with the same seeds. The hostile
archive is judged from outside: the ledger's reason for each member, a marker file a pickle would
write, and the files under the test's folder.
"""

import io
import json
from pathlib import Path
import random
import zipfile

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from conftest import NO_REPORT, ONE_WORKER, ROOT, run_ledgers
from harness.benchmarks import get_benchmark
from harness.running.runs import run_seed
from harness.sandbox.protocol import WorkerSetup
from harness.sandbox.worker import load_submission
from reference_models.architectures import build_model
from reference_models.files import load_state_dict_bytes
from reference_models.loaders import make_loader
from reference_models.secret import cache_secret, sealed

N = 8
# The starting kit's fine-tuning, one epoch instead of three: deterministic given its seed, and a tenth of
# retraining's time or less, so that its verdict passes even when the cached yardstick met another load.
QUICK = (ROOT / "baselines" / "finetune.py").read_text().replace("EPOCHS = 3\n", "EPOCHS = 1\n")


def _saved(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def finetune(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("submission") / "finetune.py"
    path.write_text(QUICK)
    return path


def kaggle_loop(setup: WorkerSetup, cache: Path, n: int) -> dict[str, bytes]:
    """The starting notebook's loop, with the harness's seeds and loaders (its own were Kaggle's): for
    each run, the original model, `unlearning`, and the state dict saved under Kaggle's name."""
    spec = sealed(get_benchmark("digits-mlp"), cache_secret(cache))
    unlearning = load_submission(setup.submission, setup.source)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the sandboxed worker, so that sums are added in the same order
    try:
        files = {}
        for i in range(n):
            seed = run_seed(spec, i)
            random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)
            net = build_model(setup.spec)
            net.load_state_dict(load_state_dict_bytes(setup.original_weights[0]))
            parts = (setup.retain, setup.forget, setup.validation)
            loaders = [make_loader(part, setup.spec.loader_batch_size, shuffle=True, seed=seed + j) for j, part in enumerate(parts)]
            unlearning(net, *loaders)
            files[f"unlearned_checkpoint_{i}.pth"] = _saved(net.state_dict())
    finally:
        torch.set_num_threads(threads)
    return files


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def kaggle_files(worker_setup, reference_cache, finetune) -> dict[str, bytes]:
    return kaggle_loop(worker_setup(finetune), reference_cache, N)


def _score_checkpoints(in_process, archive: Path, cache: Path, out: Path, *extra: str):
    result = in_process("score-checkpoints", str(archive), "--cache-dir", str(cache), "--ledger-dir", str(out.parent / "ledgers"),
                        "--out", str(out), "--quiet", "--bootstrap", "0", "--mia-models", "4", *ONE_WORKER, *extra)
    path = out / "score.json"
    return result, (json.loads(path.read_text()) if path.exists() else None)


@pytest.mark.sandbox
def test_a_kaggle_zip_scores_as_the_submission_it_came_from(kaggle_files, finetune, reference_cache, score_cli, in_process, tmp_path):
    archive = _zip(tmp_path / "submission.zip", dict(reversed(kaggle_files.items())))  # the zip's order is not the runs'
    result, document = _score_checkpoints(in_process, archive, reference_cache, tmp_path / "zip", "--n-models", str(N))
    assert result.returncode == 0, result.stderr
    ran, scored = score_cli(finetune, n_models=N, out=tmp_path / "ran")
    assert ran.returncode == 0, ran.stderr
    assert document["runs"]["ok"] == N and document["status"] == "scored"
    assert (document["forget_quality"], document["final_score"]) == (scored["forget_quality"], scored["final_score"])
    assert document["forget_quality"] > 0  # the runs differ (seeded loaders), so F compares real populations
    assert document["checkpoints"]["runs"] == [f"unlearned_checkpoint_{i}.pth" for i in range(N)]
    assert document["time_budget"]["verdict"] == "not measured" and "ratio" not in document["time_budget"]
    assert "time budget      not measured: checkpoints made elsewhere" in result.stdout
    assert (tmp_path / "zip" / "report.html").exists() and (tmp_path / "zip" / "examples.parquet").exists()


def _hostile_archive(path: Path, good: dict[str, bytes], marker: Path, limit_bytes: int) -> Path:
    """Four good checkpoints and one member of each hostile kind the issue lists."""

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    state = {name: tensor.clone() for name, tensor in torch.load(io.BytesIO(next(iter(good.values()))), weights_only=True).items()}
    first = next(iter(state))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in list(good.items())[:4]:
            archive.writestr(name, data)
        archive.writestr("../../climbs_out.pth", good["unlearned_checkpoint_0.pth"])
        archive.writestr("/absolute.pth", good["unlearned_checkpoint_0.pth"])
        link = zipfile.ZipInfo("link.pth")
        link.create_system, link.external_attr = 3, (0o120777 << 16)
        archive.writestr(link, "/work/main/.cache/references/secret")
        archive.writestr("runs_code.pth", _saved({first: Payload()}))
        archive.writestr("bomb.pth", b"\0" * (limit_bytes + 1))  # a small member that expands past the cap
        archive.writestr("wrong_shape.pth", _saved({**state, first: torch.zeros(3, 3)}))
        archive.writestr("nan.pth", _saved({**state, first: torch.full_like(state[first], float("nan"))}))
        archive.writestr("not_a_checkpoint.pth", b"these are not weights")
        archive.writestr("README.txt", b"not a checkpoint at all: listed, not scored")
    return path


@pytest.mark.sandbox
def test_each_hostile_member_is_a_failed_run_with_its_reason_and_the_rest_are_scored(kaggle_files, reference_cache, in_process, tmp_path):
    marker = tmp_path / "pickle_ran"
    work = tmp_path / "work"
    work.mkdir()
    archive = _hostile_archive(work / "hostile.zip", kaggle_files, marker, 1 << 20)
    before = sorted(tmp_path.parent.iterdir())
    result, document = _score_checkpoints(in_process, archive, reference_cache, work / "out", "--max-checkpoint-mb", "1")
    assert result.returncode == 0, result.stderr
    assert document["status"] == "scored-with-failures" and document["runs"]["ok"] == 4 and document["runs"]["invalid"] == 8
    assert document["checkpoints"]["ignored"] == ["README.txt"]
    rows = pq.read_table(run_ledgers(work / "ledgers")[0]).to_pylist()
    names = document["checkpoints"]["runs"]
    reasons = {names[row["run_id"]]: row["message"] for row in rows if row["status"] != "ok"}
    assert "its path leaves the archive's folder" in reasons["../../climbs_out.pth"]
    assert "its path leaves the archive's folder" in reasons["/absolute.pth"]
    assert "it is a symbolic link" in reasons["link.pth"]
    assert "weights_only" in reasons["runs_code.pth"]
    assert "over the 1,048,576 a checkpoint may" in reasons["bomb.pth"]
    assert "has shape" in reasons["wrong_shape.pth"]
    assert "NaN" in reasons["nan.pth"]
    assert "weights_only" in reasons["not_a_checkpoint.pth"]
    assert not marker.exists()
    assert sorted(tmp_path.parent.iterdir()) == before  # nothing climbed out of the test's folder
    assert sorted(path.name for path in work.iterdir()) == ["hostile.zip", "ledgers", "out"]
    assert not list(tmp_path.rglob("climbs_out.pth")) and not list(tmp_path.rglob("absolute.pth"))


@pytest.mark.sandbox
@pytest.mark.parametrize("count", [N - 1, N + 1])
def test_a_zip_without_exactly_the_models_asked_for_is_refused_before_anything_is_built(kaggle_files, reference_cache, in_process, tmp_path, count):
    files = {**kaggle_files, f"unlearned_checkpoint_{N}.pth": kaggle_files["unlearned_checkpoint_0.pth"]}
    archive = _zip(tmp_path / "submission.zip", dict(list(files.items())[:count]))
    cache = tmp_path / "cache"
    result, document = _score_checkpoints(in_process, archive, cache, tmp_path / "out", "--n-models", str(N))
    assert result.returncode == 2 and document is None
    assert f"holds {count} checkpoints, not the {N} asked for" in result.stderr
    assert not (tmp_path / "out").exists() and not cache.exists()


def _timings(path: Path, names, seconds: float) -> Path:
    path.write_text("checkpoint,seconds,hardware\n" + "".join(f"{name},{seconds},Kaggle P100\n" for name in names))
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda folder: folder / "missing.zip", "does not exist: give the zip archive, or the folder"),
    (lambda folder: _write(folder / "notes.zip", b"not a zip"), "is not a zip archive"),
    (lambda folder: _zip(folder / "two.zip", {f"m{i}.pth": _saved({"w": torch.zeros(1)}) for i in range(2)}),
     "holds 2 checkpoints: the metric compares populations of at least 3 models"),
], ids=["missing", "not a zip", "too few"])
def test_an_archive_that_cannot_be_scored_is_a_usage_error_before_anything_is_built(in_process, tmp_path, make, message):
    """Refused as it is read, before the sandbox is probed, the cache's secret made or a reference built."""
    result, document = _score_checkpoints(in_process, make(tmp_path), tmp_path / "cache", tmp_path / "out")
    assert result.returncode == 2 and message in result.stderr and document is None
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_checkpoint_entries_are_zips_and_folders_of_checkpoints(tmp_path):
    from harness.boards.leaderboard import submissions_in

    for name in ("a.py", "b.ipynb", "c.zip", "notes.txt"):
        (tmp_path / name).write_text("")
    for folder, file in (("d", "unlearned_checkpoint_0.pth"), ("__pycache__", "a.cpython-311.pyc"), ("empty", None)):
        (tmp_path / folder).mkdir()
        if file:
            (tmp_path / folder / file).write_bytes(b"")
    assert [path.name for path in submissions_in(tmp_path)] == ["a.py", "b.ipynb", "c.zip", "d"]
    assert [path.name for path in submissions_in(tmp_path, checkpoints=False)] == ["a.py", "b.ipynb"]


def test_an_adaptive_leaderboard_refuses_checkpoints_whose_n_is_fixed(in_process, tmp_path):
    (tmp_path / "a.py").write_text(QUICK)
    (tmp_path / "b.zip").write_bytes(b"")
    result = in_process("leaderboard", str(tmp_path), "--adaptive", "--out", str(tmp_path / "board"))
    assert result.returncode == 2 and "holds checkpoints made elsewhere, whose N is fixed" in result.stderr
    assert not (tmp_path / "board").exists()


@pytest.mark.sandbox
def test_reported_timings_give_a_verdict_marked_self_reported(kaggle_files, reference_cache, in_process, tmp_path):
    """Seconds far within retraining's pass the budget: judged from the participant's word against retraining
    timed here, and every output says whose word it was (the leaderboard below fails one far beyond it)."""
    archive = _zip(tmp_path / "submission.zip", kaggle_files)
    timings = _timings(tmp_path / "timings.csv", kaggle_files, 1e-4)
    result, document = _score_checkpoints(in_process, archive, reference_cache, tmp_path / "out", "--timings", str(timings))
    assert result.returncode == 0, result.stderr
    budget = document["time_budget"]
    assert (budget["verdict"], budget["eligible"], budget["reported_on"]) == ("pass", True, "Kaggle P100")
    assert budget["unlearn_median_s"] == pytest.approx(1e-4) and "SELF-REPORTED" in result.stdout
    assert document["checkpoints"]["timings"] == str(timings)


@pytest.fixture(scope="module")
def mixed_board(kaggle_files, reference_cache, tmp_path_factory) -> Path:
    """One leaderboard of finetune.py run here; finetune's checkpoints from Kaggle's loop, untimed; the same
    checkpoints with timings far beyond retraining's; and with a timings file that misses a checkpoint."""
    from harness.commands.cli import main

    tmp = tmp_path_factory.mktemp("mixed")
    folder = tmp / "entries"
    folder.mkdir()
    (folder / "finetune.py").write_text(QUICK)
    for name in ("kaggle", "slow", "wrong"):
        _zip(folder / f"{name}.zip", kaggle_files)
    _timings(folder / "slow.timings.csv", kaggle_files, 1e4)
    _timings(folder / "wrong.timings.csv", list(kaggle_files)[1:], 1.0)
    out = tmp / "board"
    code = main(["leaderboard", str(folder), "--n-models", str(N), "--cache-dir", str(reference_cache), "--ledger-dir", str(tmp / "ledgers"),
                 "--out", str(out), "--quiet", "--bootstrap", "0", "--mia-models", "4", "--yardstick", "cached", *ONE_WORKER, *NO_REPORT])
    assert code == 0
    return out


def _board_rows(board: Path) -> dict[str, dict]:
    return {row["submission"]: row for row in pq.read_table(board / "leaderboard.parquet").to_pylist()}


@pytest.mark.sandbox
def test_a_leaderboard_ranks_code_and_checkpoints_side_by_side(mixed_board):
    """The same models run here and loaded from the zip: the same score and a shared rank; the zip's row
    says its models were loaded and its budget not measured."""
    rows = _board_rows(mixed_board)
    assert rows["kaggle"]["final_score"] == rows["finetune"]["final_score"] and rows["kaggle"]["rank"] == rows["finetune"]["rank"] == 1
    assert (rows["kaggle"]["models"], rows["kaggle"]["verdict"], rows["kaggle"]["budget_ratio"]) == ("checkpoints", "not measured", None)
    assert rows["finetune"]["models"] == "runs" and rows["finetune"]["verdict"] in ("pass", "borderline")
    assert "| not measured | scored | checkpoints |" in (mixed_board / "leaderboard.md").read_text()


@pytest.mark.sandbox
def test_a_leaderboard_reads_timings_beside_an_archive_and_refuses_a_wrong_one(mixed_board):
    rows = _board_rows(mixed_board)
    assert (rows["slow"]["verdict"], rows["slow"]["eligible"], rows["slow"]["unverified"]) == ("fail", False, "self-reported timings")
    assert rows["slow"]["rank"] == 3  # over budget by its own timings: after the two within it (1, 1), though its score ties theirs
    assert rows["wrong"]["status"] == "failed: refused" and rows["wrong"]["rank"] is None
    refused = json.loads((mixed_board / "wrong" / "score.json").read_text())["failures"]["refused"]["first_message"]
    assert "has no row for 'unlearned_checkpoint_0.pth'" in refused
    assert "fail: over budget (unverified: self-reported timings)" in (mixed_board / "leaderboard.md").read_text()
