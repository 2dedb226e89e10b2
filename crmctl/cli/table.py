"""Plain aligned tables, written row by row as the rows arrive.

Column widths come from the header and the first rows, so the first screen shows at once and
memory stays flat whatever the listing's length. In a pipe or file a row never folds: a wider
cell later widens its column from there on. On a terminal the table fits the screen's width,
and a cell too long for its column is cut with `…`. Every cell is shown through visible(), so
no control character from the data reaches the terminal.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

from crmctl.text import visible

FIRST_ROWS = 200  # rows read before the first line is written, to size the columns
GAP = "  "
MIN_COLUMN = 6


def write_table(
    rows: Iterable[list[str]],
    columns: Sequence[str],
    out: IO[str],
    *,
    title: str | None = None,
    width: int | None = None,
    bold: bool = False,
) -> int:
    """Write the table; returns the number of rows."""
    rows = iter(rows)
    first = [[visible(cell) for cell in row] for row in itertools.islice(rows, FIRST_ROWS)]
    widths = [max([cell_width(column), *(cell_width(row[i]) for row in first)]) for i, column in enumerate(columns)]
    numeric = [bool(first) and all(_is_number(row[i]) for row in first) for i in range(len(columns))]
    fixed = width is not None
    if width is not None:
        widths = _fit(widths, [cell_width(c) for c in columns], width)
    if title:
        out.write(title + "\n")
    header = _line(list(columns), widths, [False] * len(columns), fixed)
    out.write(f"\x1b[1m{header}\x1b[0m\n" if bold else header + "\n")
    out.write(GAP.join("-" * w for w in widths).rstrip() + "\n")
    count = 0
    for row in itertools.chain(first, _escaped(rows)):
        if not fixed:
            widths = [max(w, cell_width(cell)) for w, cell in zip(widths, row, strict=True)]
        out.write(_line(row, widths, numeric, fixed) + "\n")
        count += 1
    return count


def _escaped(rows: Iterator[list[str]]) -> Iterator[list[str]]:
    for row in rows:
        yield [visible(cell) for cell in row]


def _line(cells: list[str], widths: list[int], numeric: list[bool], cut: bool) -> str:
    parts = []
    for cell, width, right in zip(cells, widths, numeric, strict=True):
        if cut and cell_width(cell) > width:
            cell = _cut(cell, width)
        pad = " " * (width - cell_width(cell))
        parts.append(pad + cell if right else cell + pad)
    return GAP.join(parts).rstrip()


def _fit(widths: list[int], headers: list[int], total: int) -> list[int]:
    """Narrow the widest columns until the row fits `total` terminal columns."""
    widths = list(widths)
    floor = [min(w, max(h, MIN_COLUMN)) for w, h in zip(widths, headers, strict=True)]
    budget = total - len(GAP) * (len(widths) - 1)
    while sum(widths) > budget:
        widest = max(range(len(widths)), key=lambda i: widths[i] - floor[i])
        if widths[widest] <= floor[widest]:
            break  # cannot fit: the terminal wraps, nothing is lost
        widths[widest] -= 1
    return widths


def _cut(text: str, width: int) -> str:
    """`text` cut to `width` cells with `…`, never inside a character or an emoji sequence."""
    from rich.cells import chop_cells

    return chop_cells(text, width - 1)[0] + "…"


def _is_number(cell: str) -> bool:
    return not cell or cell.isascii() and cell.lstrip("-").replace(".", "", 1).isdigit()


def cell_width(text: str) -> int:
    """Terminal cells, as rich measures them for the terminal tables: wide characters take
    two, combining marks none, and an emoji sequence joined by zero-width joiners is one
    glyph (two cells). rich.cells is imported only for text that is not ASCII."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)
