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
from crmctl.text import visible_lines


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
    pager: bool = False,
) -> None:
    """Write records in `fmt`. A table on a terminal goes through the pager when `pager`."""
    out = sys.stdout
    if fmt is ListFormat.ndjson:
        for record in records:
            out.write(to_json(record) + "\n")
    elif fmt is ListFormat.json:
        _emit_json_array(records, out)
    elif fmt is ListFormat.csv:
        _emit_csv(records, columns, out, flatten)
    else:
        from crmctl.cli.table import write_table

        rows = ([_cell(flat.get(c)) for c in columns] for flat in (flatten(r) if flatten else r for r in records))
        if _isatty(out):
            from crmctl.cli.pager import paged

            with paged(enabled=pager) as target:
                write_table(rows, columns, target.stream, title=title, width=target.width, bold=target.colour)
        else:
            write_table(rows, columns, out, title=title)
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
    # The csv module quotes a field holding \n but not one holding a lone \r, which readers
    # then take for a line end: such rows are written with every field quoted.
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in _csv_rows(records, columns, flatten):
        (quoted if any("\r" in cell for cell in row) else writer).writerow(row)


def _csv_rows(records: Iterable[dict], columns: Sequence[str], flatten) -> Iterable[list[str]]:
    yield list(columns)
    for record in records:
        flat = flatten(record) if flatten else record
        yield [_cell(flat.get(c)) for c in columns]


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
        sys.stderr.write(visible_lines(human) + "\n")


def note_on_stderr(message: str) -> None:
    """A line for a person: control characters in it (from data or arguments) are escaped."""
    sys.stderr.write(visible_lines(message) + "\n")


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
