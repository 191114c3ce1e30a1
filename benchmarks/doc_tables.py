"""Benchmarks that publish a table write it between two markers of a docs page."""

import argparse
from pathlib import Path
import re


def replace_between(page: Path, start: str, end: str, text: str) -> None:
    """Put `text` between the `start` and `end` markers of `page`, in place of what was there."""
    content = page.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(content):
        raise SystemExit(f"{page} has no {start} ... {end} markers")
    page.write_text(pattern.sub(lambda _: f"{start}\n{text}{end}", content))


def demoted(markdown: str, levels: int) -> str:
    """A generated page's headings `levels` deeper, to sit inside a section of another page."""
    return "".join(("#" * levels + line) if line.startswith("#") else line for line in markdown.splitlines(keepends=True))


def main() -> None:
    """`python -m benchmarks.doc_tables PAGE NAME FILE`: FILE's Markdown, its headings two levels deeper, between the
    `<!-- NAME -->` and `<!-- end NAME -->` markers of PAGE (how `make stability` and `make originals` write
    docs/stability.md, one section each)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("page", type=Path)
    parser.add_argument("name")
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    replace_between(args.page, f"<!-- {args.name} -->", f"<!-- end {args.name} -->", demoted(args.file.read_text(), 2))


if __name__ == "__main__":
    main()
