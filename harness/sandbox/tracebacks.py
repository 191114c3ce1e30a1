"""Tracebacks that point at the participant's line, and hints for the usual causes.

A raw traceback from the worker starts in harness/sandbox/worker.py, runs
through exec, and often ends deep inside torch; the one line a participant
must fix is somewhere in the middle. Here an exception raised by submission code is
cut down to the frames of the submission's own file, with their source lines
(registered with `linecache`, since the sandbox hides the file itself), and
library frames are counted instead of shown. Pure: no process, no I/O.
"""

from collections.abc import Callable
import inspect
import linecache
from pathlib import Path
import sysconfig
import traceback

from harness.resources import worker_folders
from harness.submissions.notebooks import CELL_MARK

MAX_FRAMES = 8  # of the participant's own, the innermost; deep recursion is summarised
ARGUMENTS = ("net", "retain", "forget", "validation")
_STDLIB = str(Path(sysconfig.get_paths()["stdlib"]).resolve())
_SITE_DIRS = ("site-packages", "dist-packages")


def register_source(path: str, source: str) -> None:
    """Let tracebacks show the submission's lines although the sandbox hides its file.

    An mtime of None tells `linecache.checkcache` to keep the entry.
    """
    linecache.cache[path] = (len(source), None, source.splitlines(keepends=True), path)


def _where(filename: str) -> str:
    """Who owns a frame that is not the participant's: a package, the standard library or the harness."""
    if any(filename.startswith(f"{folder}/") for folder in worker_folders()):  # installed in site-packages or not
        return "the harness"
    parts = Path(filename).parts
    for site in _SITE_DIRS:
        if site in parts:
            return parts[parts.index(site) + 1].split(".")[0] + "/..."
    if filename.startswith(_STDLIB):
        return "the standard library"
    return "other code"


def _cell(path: str, lineno: int) -> str:
    """', cell N' for a converted notebook: the nearest cell marker above the line."""
    if not path.endswith(".ipynb"):
        return ""
    for number in range(lineno, 0, -1):
        line = linecache.getline(path, number).rstrip()
        if line.startswith(CELL_MARK) and line[len(CELL_MARK):].isdigit():
            return f" (cell {line[len(CELL_MARK):]} of the notebook; line numbers as in `python -m harness convert`)"
    return ""


def _frame_lines(frame: traceback.FrameSummary) -> list[str]:
    lines = [f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}{_cell(frame.filename, frame.lineno or 0)}']
    text = linecache.getline(frame.filename, frame.lineno or 0).strip()
    if text:
        lines.append(f"    {text}")
    return lines


def _skipped(owners: list[str]) -> str:
    """'(3 frames inside torch/... not shown)' for a run of frames that are not the participant's."""
    names = ", ".join(dict.fromkeys(owners))
    return f"  ({len(owners)} frame{'s' if len(owners) > 1 else ''} inside {names} not shown)"


def _participant_frames(error: BaseException, path: str) -> list[str]:
    """The participant's frames, with runs of other frames after the first one counted."""
    frames = traceback.extract_tb(error.__traceback__)
    mine = [i for i, frame in enumerate(frames) if frame.filename == path]
    if not mine:
        return []
    first = max(mine[0], mine[-MAX_FRAMES] if len(mine) > MAX_FRAMES else mine[0])
    lines = [f"  ({sum(1 for i in mine if i < first)} earlier frames of yours not shown)"] if first > mine[0] else []
    others: list[str] = []
    for frame in frames[first:]:
        if frame.filename == path:
            if others:
                lines.append(_skipped(others))
                others = []
            lines += _frame_lines(frame)
        else:
            others.append(_where(frame.filename))
    if others:
        lines.append(_skipped(others))
    return lines


def _gpu_hint(error: BaseException) -> str | None:
    text = str(error)
    signs = ("Torch not compiled with CUDA enabled", "no NVIDIA driver", "No CUDA GPUs are available", "CUDA_VISIBLE_DEVICES")
    if any(sign.lower() in text.lower() for sign in signs):
        return ("this run has no GPU (scored on the CPU, the worker sees none): take the device from the net, "
                "device = next(net.parameters()).device, instead of \"cuda\"; or score with --device cuda on a machine with a GPU")
    return None


def _driver_hint(error: BaseException) -> str | None:
    if isinstance(error, NameError) and getattr(error, "name", None) and str(error.name).isupper():
        return (f"{error.name} was defined by the notebook's driver code, which is not part of a submission: "
                f"define it at the top of your file (e.g. {error.name} = torch.device(...)) or derive it from net")
    if "/kaggle/" in str(error):
        return ("there is no /kaggle here: unlearning gets its data as the loaders retain, forget and validation; "
                "remove the code that reads or writes Kaggle paths (the notebook's driver)")
    return None


HINTS: tuple[Callable[[BaseException], str | None], ...] = (_gpu_hint, _driver_hint)


def hints(error: BaseException) -> list[str]:
    """Likely causes of `error`, in words, with the fix."""
    return [hint for hint in (find(error) for find in HINTS) if hint]


def participant_traceback(error: BaseException, path: str) -> str:
    """The traceback of `error` as the participant needs it: their frames, the exception, hints."""
    frames = _participant_frames(error, path)
    lines = ["Traceback (your file's frames only):", *frames] if frames else []
    lines += [line.rstrip("\n") for line in traceback.format_exception_only(type(error), error)]
    lines += [f"Hint: {hint}" for hint in hints(error)]
    return "\n".join(lines)


def full_traceback(error: BaseException, label: str) -> str:
    """The whole traceback, harness frames included, marked with what it belongs to, for submission.log."""
    return f"--- {label}: traceback ---\n" + "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip()


def arity_problem(function: Callable, path: str) -> str | None:
    """Why `function` cannot take the harness's four arguments, said the right way round; None if it can."""
    try:
        inspect.signature(function).bind(*ARGUMENTS)
        return None
    except TypeError:
        pass
    parameters = list(inspect.signature(function).parameters)
    code = getattr(function, "__code__", None)
    where = ""
    if code is not None and code.co_filename == path:
        where = f'\n  File "{path}", line {code.co_firstlineno}, in {function.__name__}\n    {linecache.getline(path, code.co_firstlineno).strip()}'
    return (f"unlearning takes {len(parameters)} argument{'s' if len(parameters) != 1 else ''} ({', '.join(parameters)}), "
            f"the harness passes {len(ARGUMENTS)}: ({', '.join(ARGUMENTS)}); "
            f"define it as def unlearning({', '.join(ARGUMENTS)}){where}")
