"""How crmctl writes a CSV cell, and how its import reads one back, so the round trip is exact.

Formula guard: a spreadsheet runs a cell starting with `=`, `+`, `-`, `@`, tab or CR as a
formula. crmctl writes such a *text* value with a leading apostrophe (`'=SUM(A1)`), as
spreadsheet users do by hand, and so it can tell the guard from data, also a value that
starts with an apostrophe or has spaces at either end (CSV imports trim cells). The import
removes exactly one apostrophe from a cell whose rest would need the guard, and keeps that
rest exactly as written. Numbers are never guarded: `-5` stays a number. `--raw` writes
values as they are.

Quoting: a cell is quoted when it contains the delimiter, a double quote, CR or LF. (Python's
csv module leaves a lone CR unquoted when lines end in LF, which breaks reading it back.)
"""

from __future__ import annotations

import re

TRIGGERS = frozenset("=+-@\t\r'")
_QUOTE = {delimiter: re.compile(f'[{re.escape(delimiter)}"\r\n]') for delimiter in ",;\t|"}


def needs_guard(value: str) -> bool:
    return bool(value) and (value[0] in TRIGGERS or value != value.strip())


def guard(value: str) -> str:
    return "'" + value if needs_guard(value) else value


def unguard(cell: str) -> str | None:
    """The value of a guarded cell, or None when the cell is not guarded."""
    if cell[:1] == "'" and needs_guard(cell[1:]):
        return cell[1:]
    return None


def line(cells: list[str], delimiter: str = ",") -> str:
    """One CSV record, LF-terminated."""
    pattern = _QUOTE[delimiter]
    return delimiter.join('"' + c.replace('"', '""') + '"' if pattern.search(c) else c for c in cells) + "\n"
