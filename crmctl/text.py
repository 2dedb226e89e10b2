"""Text shown to a person: control characters made visible.

Contact data is written by strangers (imports, web forms). Shown raw on a terminal, an ESC
sequence can retitle the window, clear the screen or rewrite what the operator reads, and a
bidirectional override can make `delete 17` look like `delete 71`. Everything crmctl shows
to a person (tables, `contact show`, summaries, error messages) goes through `visible()`;
machine formats (JSON, NDJSON, CSV) and the stored data keep every character exactly.
"""

from __future__ import annotations

import re

# C0 (including ESC, CR and LF), DEL, C1 (including CSI and OSC when sent as one byte), the
# bidirectional embeddings, overrides, isolates and marks, the Unicode line and paragraph
# separators, which some terminals treat as line breaks, and the invisible zero-width space,
# word joiner and BOM, which make two different names look the same. Zero-width joiners
# (ZWJ, ZWNJ) are left alone: scripts and emoji need them, and they cannot move text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: str) -> str:
    """`text` with every unsafe character written as a Python-style escape (`\\x1b`, `\\u202e`)."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def visible_lines(text: str) -> str:
    """As visible(), but line feeds stay: for messages of several lines (a filter and its caret)."""
    return "\n".join(visible(line) for line in text.split("\n"))


def _escape(match: re.Match) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
