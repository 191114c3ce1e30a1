"""Where the harness's own files live, in a checkout or installed (site-packages alike).

One place, so that no module works out a project root from its own path: the
baselines the yardstick runs, the template and the baselines' reference figures
are package data of `harness` (harness/baselines and harness/template.py link to
the checkout's baselines/ and submissions/template.py; a wheel copies them). The sandbox binds the
folders of the packages the worker imports, wherever they are installed.
"""

from importlib import resources
import importlib.util
import json
from pathlib import Path

WORKER_PACKAGES = ("harness", "reference_models", "scoring")  # the only packages the sandbox worker sees
BASELINE_SCORES = "baseline_scores.json"  # stability.json of `make stability` on the baselines, copied into harness/


def package_folder(name: str) -> Path:
    """The folder an importable package's files are in."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {name} is not importable")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def worker_folders() -> list[Path]:
    """The folders of the packages the sandbox worker imports."""
    return [package_folder(name) for name in WORKER_PACKAGES]


def import_roots() -> list[Path]:
    """The folders holding those packages: the worker's PYTHONPATH."""
    return sorted({folder.parent for folder in worker_folders()})


def baseline_source(name: str) -> tuple[str, str]:
    """A baseline's path (for messages) and source: the yardstick runs retrain and identity."""
    file = resources.files("harness") / "baselines" / f"{name}.py"
    return str(file), file.read_text()


def template_source() -> str:
    """The submission template a participant copies."""
    return (resources.files("harness") / "template.py").read_text()


def baseline_scores_document() -> dict | None:
    """The baselines' final scores per N as `make stability` wrote them, or None where none ship."""
    file = resources.files("harness") / BASELINE_SCORES
    if not file.is_file():
        return None
    return json.loads(file.read_text())
