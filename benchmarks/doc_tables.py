"""Benchmarks that publish a table write it between two markers of a docs page."""

from pathlib import Path
import re


def replace_between(page: Path, start: str, end: str, text: str) -> None:
    """Put `text` between the `start` and `end` markers of `page`, in place of what was there."""
    content = page.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(content):
        raise SystemExit(f"{page} has no {start} ... {end} markers")
    page.write_text(pattern.sub(lambda _: f"{start}\n{text}{end}", content))
