"""The import layers that docs/architecture.md states, checked over every module's `ast`.

A layer that holds only by convention breaks silently: a trusted module that imports the
sandbox worker would pull participant-facing code (and its process-wide side effects)
into the parent, and `scoring` importing `harness` would make the maths depend on the
orchestration. Reading the source, not importing it, checks every module, including
those no test imports.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "reference_models", "scoring", "rendering", "benchmarks", "tools")

# package -> the first-party packages it may import (docs/architecture.md, "Imports go one way").
ALLOWED = {
    "scoring": set(),
    "reference_models": {"scoring"},
    "rendering": {"scoring", "reference_models"},
    "harness": {"reference_models", "scoring", "rendering"},
}


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).parts[:-1])


def imports_of(path: Path, package: str) -> set[str]:
    """Every module name that `path` (a module of `package`) imports, relative imports made absolute."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_imports_of_resolves_relative_and_from_imports(tmp_path: Path) -> None:
    """The checker itself sees `from .worker import X` and `from harness.sandbox import worker` as the worker."""
    module = tmp_path / "probe.py"
    module.write_text("from .worker import main\nfrom ..sandbox import worker\nimport harness.sandbox.worker as w\n")
    assert {"harness.sandbox.worker", "harness.sandbox.worker.main"} <= imports_of(module, "harness.sandbox")
    assert "harness.sandbox.worker" in imports_of(module, "harness.other")  # the absolute import, wherever it is


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_outside_the_sandbox_imports_the_worker(package: str) -> None:
    """What crosses the sandbox lives in harness/sandbox/protocol.py; only the sandbox package may name the worker."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in modules(package)
        if "sandbox" not in path.relative_to(ROOT).parts
        and any(name == "harness.sandbox.worker" or name.startswith("harness.sandbox.worker.") for name in imports_of(path, package_of(path)))
    ]
    assert not offenders, f"import what crosses the sandbox from harness.sandbox.protocol, not the worker: {offenders}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_go_one_way(package: str) -> None:
    forbidden = set(PACKAGES) - ALLOWED[package] - {package}
    offenders = {
        str(path.relative_to(ROOT)): sorted({name.split(".")[0] for name in imports_of(path, package_of(path))} & forbidden)
        for path in modules(package)
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert not offenders, f"docs/architecture.md says {package} imports only {sorted(ALLOWED[package]) or 'none of the others'}: {offenders}"
