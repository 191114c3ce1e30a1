"""The docs point at what exists: relative links, make targets, CLI commands and options.

Fast checks on the text alone; `make docs-check` (tools/docs_check.py) runs
the commands themselves.
"""

import argparse
import re

import pytest

from conftest import ROOT
from harness.commands.arguments import build_parser as harness_parser
from scoring.cli import _parser as scoring_parser
from tools.docs_check import SKIP_MARK, commands, documents, small

DOCS = documents(ROOT)
# Written on other branches, linked here ahead of the merge; drop each once it exists.
# Options of other programs that the docs show (dask, helm, pip).
FOREIGN_OPTIONS = {  # Dask, Helm, Slurm and bubblewrap
    "--nworkers", "--nthreads", "--resources", "--name", "--repo", "--create-namespace", "--generate-name", "--gres", "--disable-userns", "--die-with-parent",
}


def _code(text: str) -> list[str]:
    """Inline code spans and the lines of fenced blocks: where commands and options are named."""
    fenced = re.findall(r"^\s*```[a-z]*\n(.*?)^\s*```", text, flags=re.MULTILINE | re.DOTALL)
    unfenced = re.sub(r"^\s*```[a-z]*\n.*?^\s*```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.findall(r"`([^`\n]+)`", unfenced) + [line for block in fenced for line in block.splitlines()]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


HARNESS = _subcommands(harness_parser())
SCORING = _subcommands(scoring_parser())
ALL_OPTIONS = set().union(*map(_options, HARNESS.values()), *map(_options, SCORING.values()))


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    text = doc.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        name, _, anchor = target.partition("#")
        path = (doc.parent / name).resolve() if name else doc
        assert path.exists(), f"{doc.name}: the link {target} leads nowhere"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text(), flags=re.MULTILINE)
            assert anchor in {_slug(h) for h in headings}, f"{doc.name}: no heading #{anchor} in {name or doc.name}"


def test_make_targets_named_in_the_docs_exist():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))
    for doc in DOCS:
        for code in _code(doc.read_text()):
            for target in re.findall(r"(?:^|&& |^\S+=\S+ )make ([a-z][a-z-]*)", code.strip()):
                assert target in targets, f"{doc.name}: `make {target}` is not a Makefile target"


def test_cli_commands_and_options_named_in_the_docs_exist():
    for doc in DOCS:
        for code in _code(doc.read_text()):
            code = code.split(SKIP_MARK)[0]
            for program, subcommands in (("harness", HARNESS), ("scoring", SCORING)):
                for name, rest in re.findall(rf"-m {program} ([a-z][a-z-]*)((?: +\S+)*)", code):
                    assert name in subcommands, f"{doc.name}: `python -m {program} {name}` does not exist"
                    for option in re.findall(r"(--[a-z][a-z-]*)", rest):
                        assert option in _options(subcommands[name]), f"{doc.name}: `{program} {name}` has no {option}"
            for option in re.findall(r"(?:^|\s)(--[a-z][a-z-]*)", code):
                assert option in ALL_OPTIONS | FOREIGN_OPTIONS, f"{doc.name}: the option {option} exists nowhere"


def test_make_leaderboard_and_the_cli_share_one_split_default():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^SPLIT \?=\s*$", makefile, flags=re.MULTILINE), "make must leave --split to the CLI's default"
    split = next(a for a in HARNESS["leaderboard"]._actions if "--split" in a.option_strings)
    assert f"`{split.default}`" in (ROOT / "docs" / "organisers.md").read_text()


def test_docs_check_reads_commands_and_their_skip_marks(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n```sh\nmake score N=512   # a comment\n# not run by docs-check: needs a GPU\nmake references \\\n"
        "    N=64\nmake stability\nrun --n-models 32,64 # not run by docs-check: no cluster\n```\n```python\nprint()\n```\n"
    )
    found = commands(doc)
    assert [(c.line, c.text, c.skip_reason) for c in found] == [
        (3, "make score N=512", None),
        (5, "make references  N=64", "needs a GPU"),
        (7, "make stability", None),
        (8, "run --n-models 32,64", "no cluster"),
    ]
    assert [small(c.text) for c in found] == ["make score N=4", "make references  N=4", "make stability N=3,4", "run --n-models 3,4"]


def test_every_shown_command_runs_or_says_why_not():
    for doc in DOCS:
        for command in commands(doc):
            assert command.text, f"{command.where}: an empty command"
            assert command.skip_reason is None or command.skip_reason, f"{command.where}: a skip mark without a reason"


def test_every_command_lists_every_exit_code_and_the_readme_and_make_name_each():
    """One table (harness.commands.exit_codes) behind --help; the README's and make's lists must not fall behind it."""
    from harness.commands.exit_codes import EXIT_CODES

    parser = harness_parser()
    helps = [parser.format_help(), *(command.format_help() for command in _subcommands(parser).values())]
    readme = (ROOT / "README.md").read_text()
    readme_codes = re.search(r"Exit codes \(.*?\):(.*?)`make` itself", readme, flags=re.DOTALL).group(1)
    make_codes = re.search(r"# first \((.*?)\)\.", (ROOT / "Makefile").read_text()).group(1)
    for exit_code in EXIT_CODES:
        assert all(f"  {exit_code.code:<4} {exit_code.meaning}" in text for text in helps), exit_code
        assert re.search(rf"\b{exit_code.code}\b", readme_codes) and re.search(rf"\b{exit_code.code}\b", make_codes), exit_code
