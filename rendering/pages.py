"""Markdown and HTML pages: the one look of every table and report the harness writes.

A table is built once as header and cells of text (`Cells`) and rendered
here, so the Markdown, the HTML and the console never disagree. Every
text is shown `visible` (scoring.text: control and bidirectional format
characters as escapes, newlines too, for a cell, title or note is one line)
and HTML-escaped, in the Markdown as in the HTML: submission names are
participants' file names, and the Markdown is read raw in terminals as well
as rendered.
"""

from dataclasses import dataclass
import html
import re
from urllib.parse import quote

import numpy as np

from scoring.text import visible


@dataclass(frozen=True)
class Link:
    """A cell that links a file beside the page (a leaderboard row's report.html): `href` is a relative path of
    folder names the harness made, percent-encoded when rendered, so that it cannot leave the page's folder."""

    text: str
    href: str

    def quoted(self) -> str:
        return quote(self.href, safe="/")


Cells = tuple[tuple[str, ...], list[list[str | Link]]]  # header, rows of cells

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:80em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}"
    "th{background:#f3f3f3}tbody tr:nth-child(even){background:#fafafa}"
    "figure{margin:2em 0}figcaption{color:#555;max-width:60em}img{max-width:100%}"
)


def number(value: float | None, digits: int = 4) -> str:
    """A value for a table cell: fixed digits, n/a when missing or not finite."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def ratio_interval_text(low: float, high: float | None) -> str:
    """A budget ratio's interval (harness.timing.budget); an upper end of None or inf is unbounded."""
    return f"{low:.3f} to {'unbounded' if high is None or not np.isfinite(high) else f'{high:.3f}'}"


def ratio_text(ratio: float, low: float | None, high: float | None) -> str:
    """A budget ratio with its interval where it has one."""
    return f"{ratio:.3f}" if low is None else f"{ratio:.3f} ({ratio_interval_text(low, high)})"


def verdict_text(verdict: str, eligible: bool) -> str:
    """A budget verdict as a reader needs it: pass, borderline or fail, and where it was ranked if that differs."""
    if verdict == "fail" and not eligible:
        return "fail: over budget"
    if verdict == "borderline" and not eligible:
        return "borderline: ranked as over budget"
    return verdict


def _markdown_text(text: str) -> str:
    """Text that Markdown shows as written: no hidden character, and no HTML (`<`, `>`, `&` as entities)."""
    return html.escape(visible(text), quote=False)


def _code_span(text: str) -> str:
    """`text` in code style whatever backticks it holds. CommonMark 0.31.2, 6.1 "Code spans": a span
    ends at the first backtick string as long as the one that opened it, so the fence is one longer
    than the longest run inside; and a content that begins and ends with a space loses one at each
    end, so one that begins or ends with a backtick (or a space) is padded with a space each side."""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.strip(" ") and (text[0] in "` " or text[-1] in "` ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _markdown_cell(cell: str, code: bool = False) -> str:
    """A cell that cannot break its table or hold HTML: hidden characters, HTML and pipes escaped
    (a GFM table splits at a pipe even inside a code span, and unescapes `\\|` before reading the
    span). In code style (submission names) an entity shows as written, `&lt;`: inert beats pretty."""
    cell = _markdown_text(cell).replace("|", "\\|")
    return _code_span(cell) if code else cell


def _markdown_link(link: Link) -> str:
    return f"[{_markdown_cell(link.text)}]({link.quoted()})"


def markdown(table: Cells) -> str:
    """A Markdown table."""
    header, cells = table
    lines = ["| " + " | ".join(map(_markdown_cell, header)) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_markdown_link(cell) if isinstance(cell, Link) else _markdown_cell(cell, name == "submission")
                                for name, cell in zip(header, row, strict=True)) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def _html_text(text: str) -> str:
    return html.escape(visible(text))


def _html_cell(cell: str | Link) -> str:
    if isinstance(cell, Link):
        return f'<a href="{html.escape(cell.quoted())}">{_html_text(cell.text)}</a>'
    return _html_text(cell)


def html_table(table: Cells) -> str:
    """An HTML table, every cell escaped (submission names are participants' file names)."""
    header, cells = table
    head = "".join(f"<th>{_html_text(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{_html_cell(cell)}</td>" for cell in row) + "</tr>" for row in cells)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def markdown_page(title: str, notes: list[str], sections: list[tuple[str, Cells]]) -> str:
    """A Markdown document: title, notes, then one titled table per section."""
    parts = [f"# {_markdown_text(title)}", *map(_markdown_text, notes)]
    parts += [(f"## {_markdown_text(heading)}\n\n" if heading else "") + markdown(table).rstrip("\n") for heading, table in sections]
    return "\n\n".join(parts).rstrip("\n") + "\n"


def html_page(title: str, notes: list[str], sections: list[tuple[str, Cells]]) -> str:
    """A static, self-contained HTML page with the same content as `markdown_page`."""
    body = "".join(f"<p>{_html_text(note)}</p>" for note in notes)
    body += "".join((f"<h2>{_html_text(heading)}</h2>" if heading else "") + html_table(table) for heading, table in sections)
    return html_document(title, body)


def html_document(title: str, body: str) -> str:
    """A self-contained HTML page: the title as heading, then `body` (already HTML)."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_html_text(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{_html_text(title)}</h1>{body}</body></html>\n"
    )
