"""The characters that no text shown to people holds raw, shown as escapes instead.

A participant chooses a file's name and an exception's message. A control
character in one can drive a terminal (`\\x1b]0;...\\x07`) or forge a table
row (a newline); a bidirectional format character reorders what a reader
sees (Trojan Source, CVE-2021-42574). The console, the ledger, Markdown and
HTML all escape this one class. It lives in `scoring` because that is the
package that `rendering`, `harness` and the sandbox worker may all import.
"""

import re

# C0 and C1 controls; the Arabic letter mark, the left-to-right and right-to-left marks,
# the line and paragraph separators (U+2028, U+2029: a line break to some terminals and editors),
# the embeddings and overrides (U+202A-U+202E) and the isolates (U+2066-U+2069).
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _escape(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, keep: str = "") -> str:
    """`text` with those characters shown as `\\x1b`- or `\\u202e`-style escapes, except the ones in
    `keep` (a message keeps its newlines; a table cell, title or note is one line and keeps none)."""
    return _HIDDEN.sub(lambda match: match.group() if match.group() in keep else _escape(match.group()), text)
