"""Jupyter notebooks as submissions: keep the definitions, drop the driver.

Competition code often lives in a Kaggle notebook: imports, the `unlearning`
function, a few constants such as `DEVICE`, and around them a driver that
reads /kaggle/input, loops over 512 models and writes a zip. The harness is
the driver now, so a notebook's code cells are reduced to what a module
needs. Of each top-level statement, in cell order, this keeps:

- imports (`import x`, `from x import y`);
- function and class definitions, with their decorators;
- constant assignments: every target a plain name (or a tuple of names), the
  value a *constant expression*: a literal; a name or attribute chain
  (`torch.float32`); a tuple, list, set or dict of constant expressions; a
  subscript, unary, binary, boolean, comparison or conditional (`a if c else
  b`) expression of constant expressions; or a *simple call* with constant
  expressions as arguments: to `torch.device`, to any `*.is_available`, to a
  loss class (a name ending in `Loss`, e.g. `nn.CrossEntropyLoss()`), or to a
  builtin constructor (int, float, str, bool, tuple, list, dict, set,
  frozenset, range).

Everything else is dropped and listed: loops, top-level calls (training,
`pd.read_csv("/kaggle/...")`, `os.listdir(...)`), other assignments, `if`
and `try` blocks, magics (`%...`, `%%...` cells) and shell lines (`!...`) that start a line.
A cell that does not parse is kept whole, so the participant gets the
SyntaxError with its line rather than a silent omission; one that the parser
or the walk over its tree cannot get through at all (RecursionError on an
expression nested thousands deep, ValueError, MemoryError) refuses the
notebook, naming the cell. Cells are numbered
from 1 by their position in the notebook, markdown cells included. Pure: no
I/O beyond the text given.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

from harness.submissions.untrusted import SubmissionRefused, loads_bounded

ACCEPTED_SUFFIXES = (".py", ".ipynb")
CELL_MARK = "# cell "  # + the number, above each cell's kept code; harness.sandbox.tracebacks reads it back
_BUILTIN_CALLS = frozenset({"int", "float", "str", "bool", "tuple", "list", "dict", "set", "frozenset", "range"})


@dataclass(frozen=True)
class Dropped:
    """One dropped statement or line: where it was and how it began."""

    cell: int
    first_line: str


@dataclass(frozen=True)
class Conversion:
    """A notebook as a module: its source, and what was left out."""

    source: str
    dropped: tuple[Dropped, ...]

    def log_text(self, name: str) -> str:
        """What submission.log says about the conversion."""
        header = f"[harness] {name} is a notebook: kept its imports, definitions and constants; dropped {len(self.dropped)} statement(s)"
        return "\n".join([header + (":" if self.dropped else ""), *(f"  cell {d.cell}: {d.first_line}" for d in self.dropped)]) + "\n"


def _dotted(node: ast.expr) -> str | None:
    """'torch.nn.CrossEntropyLoss' for a name or attribute chain; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _simple_callee(node: ast.expr) -> bool:
    name = _dotted(node)
    if name is None:
        return False
    last = name.rsplit(".", 1)[-1]
    if "." not in name and name in _BUILTIN_CALLS:
        return True
    return name == "torch.device" or last == "is_available" or last.endswith("Loss")


def is_constant(node: ast.expr) -> bool:
    """Whether `node` is a constant expression as the module docstring defines it."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Name, ast.Attribute)):
        return _dotted(node) is not None
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(is_constant(element) for element in node.elts)
    if isinstance(node, ast.Dict):
        return all(key is not None and is_constant(key) for key in node.keys) and all(is_constant(v) for v in node.values)
    if isinstance(node, ast.Subscript):
        return is_constant(node.value) and is_constant(node.slice)
    if isinstance(node, ast.UnaryOp):
        return is_constant(node.operand)
    if isinstance(node, ast.BinOp):
        return is_constant(node.left) and is_constant(node.right)
    if isinstance(node, ast.BoolOp):
        return all(is_constant(value) for value in node.values)
    if isinstance(node, ast.Compare):
        return is_constant(node.left) and all(is_constant(c) for c in node.comparators)
    if isinstance(node, ast.IfExp):
        return is_constant(node.test) and is_constant(node.body) and is_constant(node.orelse)
    if isinstance(node, ast.Call):
        return (_simple_callee(node.func) and all(is_constant(a) for a in node.args)
                and all(k.arg is not None and is_constant(k.value) for k in node.keywords))
    return False


def _names_only(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    return isinstance(target, (ast.Tuple, ast.List)) and all(_names_only(t) for t in target.elts)


def is_kept(statement: ast.stmt) -> bool:
    """Imports, definitions and constant assignments to plain names."""
    if isinstance(statement, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(statement, ast.Assign):
        return all(_names_only(t) for t in statement.targets) and is_constant(statement.value)
    if isinstance(statement, ast.AnnAssign):
        return isinstance(statement.target, ast.Name) and statement.value is not None and is_constant(statement.value)
    return False


def _is_ipython_line(line: str) -> bool:
    """A magic (`%time`), a shell line (`!pip install x`) or a shell assignment (`files = !ls`), at the
    start of the line: an indented `% x` is more likely the continuation of a Python expression."""
    if line.startswith(("%", "!")):
        return True
    name, equals, rest = line.partition("=")
    return bool(equals) and name.strip().isidentifier() and not name[:1].isspace() and rest.strip().startswith(("!", "%"))


def _convert_cell(number: int, text: str) -> tuple[list[str], list[Dropped]]:
    """One code cell: the kept source lines, and what was dropped."""
    if text.lstrip().startswith("%%"):
        return [], [Dropped(number, text.strip().splitlines()[0])]
    lines = text.splitlines()
    dropped = [Dropped(number, line.strip()) for line in lines if _is_ipython_line(line)]
    lines = ["" if _is_ipython_line(line) else line for line in lines]  # blank, so that line numbers stay
    text = "\n".join(lines)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return lines, dropped  # kept whole: the worker reports the error at its line
    kept: list[str] = []
    for statement in tree.body:
        start = min([statement.lineno, *(d.lineno for d in getattr(statement, "decorator_list", []))])
        if not is_kept(statement):
            dropped.append(Dropped(number, (ast.get_source_segment(text, statement) or "").splitlines()[0].strip()))
            continue
        segment = ast.get_source_segment(text, statement) if _shares_a_line(tree.body, statement) else None  # (a; b): only a
        kept += [segment] if segment is not None else lines[start - 1 : statement.end_lineno]
    return kept, dropped


def _shares_a_line(body: list[ast.stmt], statement: ast.stmt) -> bool:
    return any(other is not statement and (other.lineno == statement.end_lineno or other.end_lineno == statement.lineno) for other in body)


def _cells(text: str, name: str) -> list[tuple[int, str]]:
    """(number, source) of each code cell; SubmissionRefused if this is not a notebook."""
    try:
        notebook = loads_bounded(text, name)
        cells = notebook["cells"]
        found = [(i, cell) for i, cell in enumerate(cells, start=1) if cell.get("cell_type") == "code"]
        return [(i, "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]) for i, cell in found]
    except (SubmissionRefused, ValueError, KeyError, TypeError, AttributeError) as error:
        raise SubmissionRefused(f"{name} is not a Jupyter notebook (nbformat 4 JSON with a list of cells): {error}") from None


def _readable_cell(name: str, number: int, text: str) -> tuple[list[str], list[Dropped]]:
    """`_convert_cell`, or SubmissionRefused naming the cell: a cell the parser or the walk over its
    tree cannot get through (an expression nested thousands deep, null bytes) must not crash the harness."""
    try:
        return _convert_cell(number, text)
    except (RecursionError, MemoryError, ValueError) as error:
        raise SubmissionRefused(f"{name}: cell {number} could not be read ({type(error).__name__}: {error}); "
                                "split its deeply nested expressions into smaller statements, or remove what the parser rejects") from None


def convert_notebook(text: str, name: str) -> Conversion:
    """The notebook `text` (JSON) as module source; `name` is used in messages."""
    parts = [f"# {name}, converted by the harness: imports, definitions and constants kept (see docs/kaggle-code.md)"]
    dropped: list[Dropped] = []
    for number, cell in _cells(text, name):
        kept, left_out = _readable_cell(name, number, cell)
        dropped += left_out
        if any(line.strip() for line in kept):
            parts += ["", f"{CELL_MARK}{number}", *kept]
    return Conversion("\n".join(parts) + "\n", tuple(dropped))


def check_suffix(path: Path) -> None:
    """Refuse any file but a .py or a .ipynb, naming it and what is accepted."""
    if path.suffix not in ACCEPTED_SUFFIXES:
        raise SubmissionRefused(f"{path} is not a submission the harness runs: accepted are a Python file (.py) or a Jupyter notebook (.ipynb)")


def submission_program(path: Path, raw: bytes) -> tuple[str, str]:
    """The source the worker runs, and what to say in submission.log about it (empty for a .py)."""
    check_suffix(path)
    text = raw.decode("utf-8", errors="replace")
    if path.suffix == ".py":
        return text, ""
    conversion = convert_notebook(text, path.name)
    return conversion.source, conversion.log_text(path.name)
