"""Output: records as table / json / ndjson / csv on stdout, summaries on stderr.

Records are streamed from generators, so json, ndjson and csv never hold a full listing.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from crmctl.cli.options import ListFormat


def to_json(value: Any) -> str:
    """Compact, like the JSON SQLite builds for contact records, so every output looks alike."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def emit_records(
    records: Iterable[dict],
    fmt: ListFormat,
    columns: Sequence[str],
    *,
    title: str | None = None,
    flatten=None,
) -> None:
    out = sys.stdout
    if fmt is ListFormat.ndjson:
        for record in records:
            out.write(to_json(record) + "\n")
    elif fmt is ListFormat.json:
        _emit_json_array(records, out)
    elif fmt is ListFormat.csv:
        _emit_csv(records, columns, out, flatten)
    else:
        _emit_table(records, columns, title, flatten)
    out.flush()


def emit_raw_json_lines(batches: Iterable[list[str]], fmt: ListFormat) -> None:
    """Lists of lines that are already JSON objects (built by SQLite) — the fast path for
    exports: one write per list, nothing per record."""
    out = sys.stdout
    if fmt is ListFormat.ndjson:
        for batch in batches:
            if batch:
                out.write("\n".join(batch) + "\n")
    else:
        out.write("[")
        first = True
        for batch in batches:
            if batch:
                out.write(("\n" if first else ",\n") + ",\n".join(batch))
                first = False
        out.write("\n]\n" if not first else "]\n")
    out.flush()


def _emit_json_array(records: Iterable[dict], out) -> None:
    out.write("[")
    first = True
    for record in records:
        out.write("\n" if first else ",\n")
        out.write(to_json(record))
        first = False
    out.write("\n]\n" if not first else "]\n")


def _emit_csv(records: Iterable[dict], columns: Sequence[str], out, flatten) -> None:
    import csv

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        flat = flatten(record) if flatten else record
        writer.writerow([_cell(flat.get(c)) for c in columns])


def _emit_table(records: Iterable[dict], columns: Sequence[str], title: str | None, flatten) -> None:
    if not _isatty(sys.stdout):
        _emit_plain_table(records, columns, title, flatten, sys.stdout)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for record in records:
        flat = flatten(record) if flatten else record
        # Text, not str: contact data must never be read as rich markup.
        table.add_row(*(Text(_cell(flat.get(c))) for c in columns))
    stdout_console().print(table)


def _emit_plain_table(records: Iterable[dict], columns: Sequence[str], title: str | None, flatten, out) -> None:
    """Aligned plain text for pipes and files: no rich to import, no colour, no box drawing,
    and never folded, so each record stays on one line."""
    rows = [list(columns)]
    for record in records:
        flat = flatten(record) if flatten else record
        rows.append([_plain(_cell(flat.get(c))) for c in columns])
    widths = [max(_width(row[i]) for row in rows) for i in range(len(columns))]
    numeric = [len(rows) > 1 and all(row[i].isdigit() or not row[i] for row in rows[1:]) for i in range(len(columns))]
    rows.insert(1, ["-" * width for width in widths])
    if title:
        out.write(title + "\n")
    for row in rows:
        cells = [
            " " * (width - _width(cell)) + cell if right else cell + " " * (width - _width(cell))
            for cell, width, right in zip(row, widths, numeric, strict=True)
        ]
        out.write("  ".join(cells).rstrip() + "\n")


# Not printable to Python, but no control either: the zero-width joiner makes one glyph of
# an emoji sequence (👩‍💻), and escaping it would split the glyph into its parts.
_JOINER = "\u200d"


def _plain(text: str) -> str:
    """One line per record: line breaks and other control characters are shown escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == _JOINER else repr(ch)[1:-1] for ch in text)


def _width(text: str) -> int:
    """Terminal cells: wide characters take two, combining marks none, and an emoji sequence
    joined by zero-width joiners one glyph (rich's measure, as the terminal tables use)."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    if isinstance(value, dict):
        return to_json(value)
    return str(value)


def stdout_console():
    from rich.console import Console

    # Not a terminal: no width to fit, so don't fold tables at rich's default 80 columns.
    width = None if _isatty(sys.stdout) else 200
    return Console(no_color=_no_colour(sys.stdout), highlight=False, soft_wrap=False, width=width)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, no_color=_no_colour(sys.stderr), highlight=False)


def _no_colour(stream) -> bool:
    return bool(os.environ.get("NO_COLOR")) or not _isatty(stream)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def emit_summary(summary: dict, *, as_json: bool, quiet: bool, human: str) -> None:
    if as_json:
        sys.stdout.write(to_json(summary) + "\n")
        sys.stdout.flush()
    if not quiet:
        sys.stderr.write(human + "\n")


def note_on_stderr(message: str) -> None:
    sys.stderr.write(message + "\n")


class working:
    """A spinner on stderr while a long statement runs, on a terminal only; silent in cron."""

    def __init__(self, label: str, enabled: bool = True):
        self.label = label
        self.status = None
        self.enabled = enabled and _isatty(sys.stderr)

    def __enter__(self):
        if self.enabled:
            self.status = stderr_console().status(self.label)
            self.status.start()
        return self

    def __exit__(self, *exc):
        if self.status is not None:
            self.status.stop()
        return False
