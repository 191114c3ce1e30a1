"""Hostile submission names and messages, judged from what a reader gets: console, Markdown, HTML, a figure.

A participant chooses the file's name and the exception's message. A backtick must not end the
name's code span early (the rest of the name would be Markdown, raw HTML included), `<img ...>`
must not reach a page as a tag, and a right-to-left override must not reorder what a reader sees.
"""

import html
import re

import numpy as np
import pytest

from harness.outputs.console import summary
from harness.running.failures import inert
from rendering.figures import stability_curves
from rendering.pages import html_page, markdown_page, visible
from rendering.tables import leaderboard_cells
from score_documents import budget, scored
from scoring.document import Failure
from scoring.leaderboard import Row

NAME = "a`b<img src=x onerror=alert(1)>\u202egnp.py"  # shows as "a`b<img ...>yp.png" where the override works
FORMAT = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
SUBMISSION = leaderboard_cells([])[0].index("submission")  # the column of the names
HIDDEN = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f" + FORMAT + "]")  # all but the newlines between lines


def _row(name: str, score: float) -> Row:
    return Row(name, "scored", score, None, None, score, 1.0, 1.0, 0.1, 0.1, "pass")


def _cells(markdown: str, rank: int) -> list[str]:
    """The cells of the table row ranked `rank`, split where GFM splits: at unescaped pipes."""
    [line] = [line for line in markdown.splitlines() if line.startswith(f"| {rank} |")]
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]


def _code_span(cell: str) -> str:
    """The text a CommonMark reader sees in a cell that must be one code span, asserting that it is one."""
    fence = re.match("`+", cell).group()
    assert cell.endswith(fence) and len(cell) > 2 * len(fence)
    inside = cell[len(fence):-len(fence)]
    assert inside[0] != "`" and inside[-1] != "`", "a backtick beside the fence would lengthen it"
    assert all(len(run) < len(fence) for run in re.findall("`+", inside)), "a run as long as the fence would close the span"
    if inside.startswith(" ") and inside.endswith(" ") and inside.strip(" "):
        inside = inside[1:-1]
    return inside.replace("\\|", "|")  # GFM unescapes a table's pipes before it reads the span


def _board(*names: str) -> tuple[str, str]:
    sections = [("", leaderboard_cells([_row(name, 0.9 - 0.1 * index) for index, name in enumerate(names)]))]  # ranked in order
    title, notes = f"{names[0]} on digits-mlp", [f"Made by: python -m harness leaderboard {names[0]}"]  # a folder's name, say
    return markdown_page(title, notes, sections), html_page(title, notes, sections)


def test_a_hostile_name_is_one_code_span_with_no_tag_and_no_override():
    markdown, page = _board(NAME, "finetune")
    for text in (markdown, page):
        assert "<img" not in text and not HIDDEN.search(text)
    cells = _cells(markdown, 1)
    assert len(cells) == len(leaderboard_cells([])[0])  # no cell forged
    assert _code_span(cells[SUBMISSION]) == "a`b&lt;img src=x onerror=alert(1)&gt;\\u202egnp.py"
    assert "<td>a`b&lt;img src=x onerror=alert(1)&gt;\\u202egnp.py</td>" in page
    assert markdown.startswith("# a`b&lt;img src=x onerror=alert(1)&gt;\\u202egnp.py on digits-mlp\n")


def test_an_ordinary_name_keeps_its_plain_code_span():
    markdown, page = _board("finetune")
    cells = _cells(markdown, 1)
    assert [cells[0], cells[SUBMISSION]] == ["1", "`finetune`"]
    assert "<td>finetune</td>" in page


@pytest.mark.parametrize("name", ["`x`", "x``", "a```b`", "``", "a|`b\\|c", " `lead", "& <b>bold</b>"])
def test_backticks_pipes_and_html_never_leave_the_code_span(name):
    markdown, _ = _board(name)
    cells = _cells(markdown, 1)
    assert len(cells) == len(leaderboard_cells([])[0])
    assert html.unescape(_code_span(cells[SUBMISSION])) == name
    assert "<b>" not in markdown


@pytest.mark.parametrize("character", FORMAT)
def test_format_characters_are_escaped_like_control_characters(character):
    escaped = f"\\u{ord(character):04x}"
    assert visible(f"a{character}b\x1b\n") == f"a{escaped}b\\x1b\\x0a"
    assert inert(f"a{character}b\x1b\n\tc") == f"a{escaped}b\\x1b\n\tc"  # a message keeps its lines and tabs


def test_other_letters_are_kept():
    assert visible("café-名前-שלום.py") == inert("café-名前-שלום.py") == "café-名前-שלום.py"


def test_the_console_escapes_a_name_and_a_message_kept_from_an_older_ledger():
    document = scored(submission=NAME, status="failed", runs={"error": 8}, failures={"exception": Failure(8, "run 0: boom\u202e\x1b[2J\nFix: it.")},
                      final_score=None, time_budget=budget(ratio=None, ratio_ci=None, verdict="unknown"))
    text = summary(document)
    assert not HIDDEN.search(text)
    assert "a`b<img src=x onerror=alert(1)>\\u202egnp.py" in text  # a terminal shows no HTML: only the hidden characters change
    assert "    run 0: boom\\u202e\\x1b[2J\n    Fix: it." in text


def test_dollars_in_a_name_are_not_mathtext_in_the_stability_figure():
    """Between two dollars matplotlib reads mathtext, and raises on bad mathtext: the figure would stop `stability`."""
    n_models, ones = np.array([4, 8]), np.ones(2)
    png = stability_curves(n_models, {"a$\\frac{$b.py": np.array([0.1, 0.2]), "c\u202ed.py": np.array([0.2, 0.1])}, ones, ones)
    assert png.startswith(b"\x89PNG")
