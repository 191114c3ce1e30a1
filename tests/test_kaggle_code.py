"""Real competition code runs unchanged: a None return, the Kaggle image's packages, notebooks,
tracebacks that point at the participant's line, and a stop at the first failed run."""

import ast
import hashlib
import json
from pathlib import Path
import time

import pytest
import torch

from conftest import CACHED_YARDSTICK, N_SMALL, NO_REPORT, ONE_WORKER
from harness.sandbox import tracebacks
from harness.submissions.notebooks import convert_notebook, is_constant, is_kept
from harness.submissions.untrusted import SubmissionRefused

KAGGLE = Path(__file__).resolve().parent / "kaggle"
SHAPES = ("official_notebook", "cifar_kit", "persons")


def _notebook(*cells: str) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": cell, "outputs": []} for cell in cells], "nbformat": 4})


# ---------------------------------------------------------------- notebooks, pure


@pytest.mark.parametrize("text, kept", [
    ("import torch", True),
    ("from torch import nn", True),
    ("def f():\n    pass", True),
    ("class A:\n    pass", True),
    ("EPOCHS = 3", True),
    ("LR: float = 1e-3 * 2", True),
    ("A, B = 1, (2, 3)", True),
    ("DTYPE = torch.float32", True),
    ("DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'", True),
    ("DEVICE = torch.device('cuda:0')", True),
    ("LOSS = nn.CrossEntropyLoss(label_smoothing=0.1)", True),
    ("SIZES = {'a': [1, 2], 'b': -3}", True),
    ("STEPS = list(range(3))", True),
    ("df = pd.read_csv('/kaggle/input/x.csv')", False),
    ("files = os.listdir('/kaggle/input')", False),
    ("net = resnet18(weights=None)", False),
    ("torch.backends.cudnn.benchmark = True", False),
    ("x += 1", False),
    ("for i in range(512):\n    pass", False),
    ("if True:\n    import torch", False),
    ("print('hello')", False),
    ("SQUARES = [i * i for i in range(3)]", False),
])
def test_what_is_kept(text, kept):
    assert is_kept(ast.parse(text).body[0]) is kept


def test_constant_calls_need_constant_arguments():
    assert is_constant(ast.parse("torch.device(NAME)", mode="eval").body)
    assert not is_constant(ast.parse("torch.device(pick())", mode="eval").body)


def test_conversion_keeps_order_and_lists_what_it_dropped():
    source = _notebook(
        "!pip install timm\n%matplotlib inline\nimport torch\n",
        "%%time\nimport os\n",
        "@torch.no_grad()\ndef unlearning(net, retain, forget, validation):\n    return net\nunlearning(1, 2, 3, 4)\n",
        "DEVICE = 'cpu'; os.listdir('/kaggle/input'); EPOCHS = 2\n",
        "def broken(:\n",
    )
    conversion = convert_notebook(source, "nb.ipynb")
    assert [(d.cell, d.first_line) for d in conversion.dropped] == [
        (1, "!pip install timm"), (1, "%matplotlib inline"), (2, "%%time"), (3, "unlearning(1, 2, 3, 4)"), (4, "os.listdir('/kaggle/input')"),
    ]
    body = [line for line in conversion.source.splitlines() if line and not line.startswith("# nb.ipynb")]
    assert body == [
        "# cell 1", "import torch",
        "# cell 3", "@torch.no_grad()", "def unlearning(net, retain, forget, validation):", "    return net",
        "# cell 4", "DEVICE = 'cpu'", "EPOCHS = 2",
        "# cell 5", "def broken(:",  # kept whole: the worker reports the SyntaxError at its line
    ]
    log = conversion.log_text("nb.ipynb")
    assert "dropped 5 statement(s)" in log and "  cell 3: unlearning(1, 2, 3, 4)" in log


def test_a_file_that_is_not_a_notebook_is_refused():
    with pytest.raises(SubmissionRefused, match="bad.ipynb is not a Jupyter notebook"):
        convert_notebook("{not json", "bad.ipynb")


# ---------------------------------------------------------------- tracebacks, pure


def _raise_in(source: str, path: str, *args):
    tracebacks.register_source(path, source)
    namespace: dict = {}
    exec(compile(source, path, "exec"), namespace)
    with pytest.raises(BaseException) as caught:
        namespace["unlearning"](*args)
    return caught.value


def test_only_the_participants_frames_are_shown():
    path = "/nowhere/shape_bug.py"
    source = ("import torch\n\n\ndef helper(net):\n    return net(torch.zeros(3, 5))\n\n\n"
              "def unlearning(net, retain, forget, validation):\n    return helper(net)\n")
    text = tracebacks.participant_traceback(_raise_in(source, path, torch.nn.Linear(4, 2), 0, 0, 0), path)
    assert f'File "{path}", line 9, in unlearning\n    return helper(net)' in text
    assert f'File "{path}", line 5, in helper\n    return net(torch.zeros(3, 5))' in text
    assert "frames inside torch/... not shown)" in text and "test_kaggle_code.py" not in text
    assert text.splitlines()[-1].startswith("RuntimeError: mat1 and mat2 shapes cannot be multiplied")


def test_hints_for_a_driver_left_in_and_a_gpu():
    path = "/nowhere/driver.py"
    error = _raise_in("def unlearning(net, retain, forget, validation):\n    return net.to(DEVICE)\n", path, torch.nn.Linear(1, 1), 0, 0, 0)
    assert "Hint: DEVICE was defined by the notebook's driver" in tracebacks.participant_traceback(error, path)
    missing = FileNotFoundError(2, "No such file or directory", "/kaggle/input/retain.csv")
    assert "there is no /kaggle here" in tracebacks.participant_traceback(missing, path)
    gpu = AssertionError("Torch not compiled with CUDA enabled")
    assert "next(net.parameters()).device" in tracebacks.participant_traceback(gpu, path)


def test_wrong_arity_is_said_the_right_way_round():
    path = "/nowhere/arity.py"
    source = "def unlearning(net, retain, forget):\n    return net\n"
    tracebacks.register_source(path, source)
    namespace: dict = {}
    exec(compile(source, path, "exec"), namespace)
    problem = tracebacks.arity_problem(namespace["unlearning"], path)
    assert problem.startswith("unlearning takes 3 arguments (net, retain, forget), the harness passes 4: (net, retain, forget, validation)")
    assert f'File "{path}", line 1, in unlearning' in problem
    assert tracebacks.arity_problem(lambda net, *loaders: net, path) is None


# ---------------------------------------------------------------- real runs


@pytest.mark.parametrize("suffix", [".py", ".ipynb"])
@pytest.mark.parametrize("shape", SHAPES)
def test_competition_shapes_score_ok(score_cli, tmp_path, shape, suffix):
    """The starting notebook (returns nothing, imports pandas), the CIFAR-10 kit (imports requests) and
    code reading person_id, image and age_group, each as a file and as a notebook with its driver left in."""
    submission = KAGGLE / f"{shape}{suffix}"
    result, document = score_cli(submission, "--jobs", "1", n_models=4)
    assert result.returncode == 0, result.stderr + result.stdout
    assert document["runs"] == {"ok": 4, "timeout": 0, "error": 0, "invalid": 0}
    assert document["submission_sha256"] == hashlib.sha256(submission.read_bytes()).hexdigest()
    log = (tmp_path / "out" / "submission.log").read_text()
    assert log.count("unlearning returned None") == (shape != "cifar_kit")  # once, not once a run
    assert ("is a notebook" in log and "cell 7: if os.path.exists" in log) == (suffix == ".ipynb")


def test_a_failing_submission_stops_at_once_and_names_the_line(score_cli, tmp_path):
    """A submission that fails in every run starts 1-3 of the N runs (two workers), not N, and says where it failed."""
    submission = tmp_path / "uses_cuda.py"
    submission.write_text("import torch\n\n\ndef unlearning(net, retain, forget, validation):\n    net = net.to('cuda')\n    return net\n")
    start = time.monotonic()
    result, document = score_cli(submission, "--jobs", "2", "--device", "cpu")
    seconds = time.monotonic() - start
    assert result.returncode == 3
    started = document["runs"]["error"]
    assert 1 <= started <= 3 and document["runs"]["not started"] == N_SMALL - started and seconds < 60
    message = document["failures"]["exception"]["first_message"]
    assert f'File "{submission}", line 5, in unlearning\n    net = net.to(\'cuda\')' in message
    assert "Hint: this run has no GPU" in message and "see the traceback above" not in message
    assert "were not started" in result.stdout
    log = (tmp_path / "out" / "submission.log").read_text()
    assert "[run 0] --- unlearning: traceback ---" in log and "worker.py" in log  # the whole traceback, harness frames included
    assert "[run 0] Traceback" in log  # each run's lines marked with it, since two workers write into one log


def test_other_files_are_refused_before_any_run(in_process, tmp_path):
    submission = tmp_path / "solution.txt"
    submission.write_text("def unlearning(net, retain, forget, validation):\n    return net\n")
    result = in_process("score", str(submission), "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
    assert f"{submission} is not a submission" in result.stderr and ".py" in result.stderr and ".ipynb" in result.stderr


def test_convert_writes_what_the_harness_runs(in_process, tmp_path):
    notebook = KAGGLE / "official_notebook.ipynb"
    printed = in_process("convert", str(notebook))
    assert printed.returncode == 0 and "def unlearning(net, retain, forget, validation):" in printed.stdout
    assert "cell 3: print(os.listdir('/kaggle/input'))" in printed.stderr
    written = in_process("convert", str(notebook), "--out", str(tmp_path / "official.py"))
    assert written.returncode == 0 and (tmp_path / "official.py").read_text() == printed.stdout
    assert in_process("convert", str(KAGGLE / "cifar_kit.py")).returncode == 2


def test_a_broken_notebook_is_listed_as_failed_in_a_leaderboard(in_process, tmp_path):
    """Refused before any run (no references are built for it), ranked last, the table still written; other suffixes are not considered.
    Nothing runs, so nothing needs a sandbox (--no-sandbox: the fast tier never starts bubblewrap, not even to probe it)."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    (folder / "broken.ipynb").write_text("{ this is not JSON")
    (folder / "notes.txt").write_text("not a submission")
    result = in_process("leaderboard", str(folder), "--n-models", "4", "--cache-dir", str(tmp_path / "cache"), "--ledger-dir", str(tmp_path / "ledgers"),
                        "--out", str(tmp_path / "board"), "--quiet", "--bootstrap", "0", "--no-sandbox", *CACHED_YARDSTICK, *ONE_WORKER, *NO_REPORT)
    assert result.returncode == 0, result.stderr
    assert "broken.ipynb is not a Jupyter notebook" in result.stderr
    table = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "`broken`" in table and "failed: refused" in table and "notes" not in table
    assert not list((tmp_path / "cache").glob("*/manifest.json"))  # no reference was built


def test_a_notebook_traceback_names_the_cell():
    path = "/nowhere/mine.ipynb"
    notebook = _notebook("import os", "def unlearning(net, retain, forget, validation):\n    return os.listdir('/kaggle/input')\n")
    source = convert_notebook(notebook, "mine.ipynb").source
    text = tracebacks.participant_traceback(_raise_in(source, path, 0, 0, 0, 0), path)
    assert "in unlearning (cell 2 of the notebook" in text and "return os.listdir('/kaggle/input')" in text
    assert "Hint: there is no /kaggle here" in text


def test_an_indented_percent_is_python_not_a_magic():
    conversion = convert_notebook(_notebook("MESSAGE = ('%d items'\n           % 3)\n%time x\nfiles = !ls\n"), "nb.ipynb")
    assert "MESSAGE = ('%d items'\n           % 3)" in conversion.source
    assert [d.first_line for d in conversion.dropped] == ["%time x", "files = !ls"]
