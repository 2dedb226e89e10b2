"""The three input formats, each read as a stream of (label, record): CSV by lines (with the
header's layout), NDJSON by lines, a JSON array element by element from a sliding window.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, BinaryIO

from crmctl.csvcells import unguard
from crmctl.errors import InvalidInput
from crmctl.importer.decoding import TextLines, _not_utf8, _Utf8Chunks
from crmctl.importer.dialect import Dialect, detect, looks_delimited
from crmctl.importer.mapping import Mapping, Marked, Matcher, plan_csv
from crmctl.importer.values import Bad as _Bad
from crmctl.importer.values import PropertyValues, Verbatim

FORMATS = {"csv": "csv", "json": "json", "ndjson": "ndjson", "jsonl": "ndjson"}
EXTENSIONS = {".csv": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson"}


def choose_format(fmt: str | None, filename: str) -> str:
    if fmt is not None:
        if fmt.lower() not in FORMATS:
            raise InvalidInput(f"unknown format {fmt!r}: use csv, json or ndjson")
        return FORMATS[fmt.lower()]
    if filename in ("", "-"):
        raise InvalidInput("cannot tell the format of stdin: pass --input-format")
    suffix = PurePath(filename).suffix.lower()
    if suffix not in EXTENSIONS:
        raise InvalidInput(f"cannot tell the format of {filename}: pass --input-format csv, json or ndjson")
    return EXTENSIONS[suffix]


@dataclass
class Reading:
    """What a reader needs (encoding, delimiter, mapping) and what it found out (the dialect,
    where each column went, mapped columns missing from the file), for the report."""

    codec: str = "utf-8"
    delimiter: str | None = None
    mapping: Mapping = field(default_factory=Mapping)
    properties: PropertyValues | None = None  # CSV: property columns are checked against the catalog
    dialect: Dialect | None = None
    columns: list[dict[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _read_csv(stream: BinaryIO, reading: Reading) -> Iterator[tuple[str, Any]]:
    """(label, fields) per record; label is the physical line where the record starts."""
    text = TextLines(stream, reading.codec)
    lines = iter(text)
    peeked: list[str] = []
    try:
        for first in lines:  # the header line (after blank ones) decides the delimiter
            peeked.append(first)
            if first.strip():
                break
    except UnicodeDecodeError:
        raise _not_utf8(len(peeked) + 1, reading.codec) from None
    head = peeked[-1] if peeked else ""
    delimiter = reading.delimiter or detect(head)
    reading.dialect = Dialect(delimiter, reading.delimiter is None, reading.codec, text.bom, head.endswith("\r\n"))
    reader = csv.reader(itertools.chain(peeked, lines), delimiter=delimiter, strict=True)
    done = 0  # lines read before the current record
    try:
        layout = _CsvLayout(_header(reader), reading)
        done = reader.line_num
        for cells in reader:
            start, done = done + 1, reader.line_num
            if any(cells):
                yield f"line {start}", layout.fields(cells, multiline=done > start)
    except UnicodeDecodeError:
        raise _not_utf8(reader.line_num + 1, reading.codec) from None
    except csv.Error as exc:
        hint = " (a quoted field is never closed)" if str(exc) == "unexpected end of data" else ""
        raise InvalidInput(f"line {done + 1}: {exc}{hint}") from None


def _header(reader) -> list[str]:
    for cells in reader:
        if any(cell.strip() for cell in cells):
            return [unguard(cell) or cell for cell in cells]
    raise InvalidInput("the CSV file is empty: expected a header row naming the columns")


class _CsvLayout:
    """Where each field is in a row, worked out once from the header and the mapping."""

    def __init__(self, header: list[str], reading: Reading):
        properties = reading.properties
        plan = plan_csv(header, reading.mapping, Matcher(properties.catalog if properties else None))
        reading.columns, reading.missing = plan.columns, plan.missing
        self.names = plan.keys
        self.steps = plan.steps
        self.width = len(header)
        self.crlf = reading.dialect is not None and reading.dialect.crlf
        if "email" not in self.names:
            raise InvalidInput(f"line 1: no 'email' column{_no_email_hint(header, reading)}")
        if any(
            h.strip().lower() == "conversations" and k == Marked(("conversations",))
            for h, k in zip(header, self.names, strict=True)
        ):
            raise InvalidInput("line 1: conversations cannot be imported from CSV (use JSON or NDJSON)")
        if properties is not None:
            properties.declare_columns(plan.properties)
        self.nameless = [i for i, name in enumerate(header) if not name.strip() and not self.names[i]]

    def fields(self, cells: list[str], *, multiline: bool) -> dict[str, str] | _Bad:
        """Non-blank values by field name, as written (built-in fields are trimmed when
        validated; text property values keep their spaces; a guarded cell is Verbatim). Line
        breaks inside a value become "\n" in a file whose lines end in CRLF."""
        if len(cells) != self.width or self.nameless:
            problem = self._misfit(cells)
            if problem:
                return problem
        joined = "\x00".join(cells)
        if joined.startswith("'") or "\x00'" in joined:
            fields = self._guarded(cells)
        else:
            fields = {name: cell for name, cell in zip(self.names, cells, strict=False) if cell and not cell.isspace()}
        fields.pop("", None)
        if multiline and self.crlf:
            fields = {name: type(value)(value.replace("\r\n", "\n")) for name, value in fields.items()}
        for step in self.steps:
            try:
                step(fields)
            except ValueError as exc:
                return _Bad(str(exc))
        return fields

    def _guarded(self, cells: list[str]) -> dict[str, str]:
        fields: dict[str, str] = {}
        for name, cell in zip(self.names, cells, strict=False):
            value = unguard(cell)
            if value is not None:
                fields[name] = Verbatim(value)
            elif cell and not cell.isspace():
                fields[name] = cell
        return fields

    def _misfit(self, cells: list[str]) -> _Bad | None:
        """Too many cells, or a value in a nameless column. (Too few is fine: empty.)"""
        if len(cells) > self.width and any(cell.strip() for cell in cells[self.width :]):
            return _Bad(f"{len(cells)} fields, but the header names {self.width}")
        for i in self.nameless:
            if i < len(cells) and cells[i].strip():
                return _Bad(f"a value in column {i + 1}, which has no name in the header")
        return None


def _no_email_hint(header: list[str], reading: Reading) -> str:
    used = reading.dialect.delimiter if reading.dialect else ","
    other = looks_delimited(header, used)
    if other is not None:
        return f" (the header is one column containing {other!r}: pass --delimiter {other!r})"
    shown = ", ".join(repr(h) for h in header[:8]) + (", …" if len(header) > 8 else "")
    return f" (columns: {shown}; map one with --map 'COLUMN=email')"


def _read_ndjson(stream: BinaryIO, reading: Reading) -> Iterator[tuple[str, Any]]:
    """(label, value) per non-blank line. A line that is not JSON is a bad record, not the end."""
    number = 0
    try:
        for number, line in enumerate(TextLines(stream, reading.codec), start=1):
            if line.strip():
                yield f"line {number}", _json_line(line)
    except UnicodeDecodeError:
        raise _not_utf8(number + 1, reading.codec) from None


def _json_line(line: str) -> Any:
    try:
        return _no_lone_surrogates(json.loads(line), line, 0, len(line))
    except json.JSONDecodeError as exc:
        return _Bad(f"invalid JSON at column {exc.colno}: {exc.msg}")
    except RecursionError:
        return _Bad("invalid JSON: nested too deeply")
    except ValueError as exc:  # e.g. an integer with more digits than int() accepts
        return _Bad(f"invalid JSON: {exc}")


def _read_json_array(stream: BinaryIO, reading: Reading) -> Iterator[tuple[str, Any]]:
    for number, value in enumerate(_JsonArray(_Utf8Chunks(stream, reading.codec)), start=1):
        yield f"record {number}", value


class _JsonArray:
    """The elements of a top-level JSON array, parsed one at a time from a sliding text window,
    so memory holds about one chunk (or one record, if larger) rather than the whole file."""

    READ = 1 << 20
    _NOT_SPACE = re.compile(r"[^ \t\n\r]")

    def __init__(self, text: _Utf8Chunks):
        self.text = text
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.lines = 0  # newlines before buf[0]
        self.column = 0  # characters between the last of them and buf[0]
        self.decoder = json.JSONDecoder()

    def __iter__(self) -> Iterator[Any]:
        self._open()
        more = not self._next_is("]")
        while more:
            yield self._value()
            more = not self._next_is("]")
            if more and not self._next_is(","):
                raise self._invalid(self.pos, "expected ',' or ']' after a record")
        self._close()

    def _open(self) -> None:
        first = self._peek()
        if first == "":
            raise InvalidInput("the input is empty: expected a JSON array of contacts")
        if first != "[":
            hint = " (for one object per line, use --input-format ndjson)" if first == "{" else ""
            raise self._invalid(self.pos, f"expected a JSON array of contacts{hint}")
        self.pos += 1

    def _close(self) -> None:
        if self._peek() != "":
            raise self._invalid(self.pos, "extra data after the array")

    def _next_is(self, char: str) -> bool:
        if self._peek() == char:
            self.pos += 1
            return True
        return False

    def _peek(self) -> str:
        """The next non-space character ("" at the end), without consuming it."""
        while True:
            found = self._NOT_SPACE.search(self.buf, self.pos)
            self.pos = found.start() if found else len(self.buf)
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def _value(self) -> Any:
        self._peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self._maybe_cut(exc) and self._fill():
                    continue
                raise self._invalid(exc.pos, exc.msg) from None
            except RecursionError:
                raise self._invalid(self.pos, "nested too deeply") from None
            except ValueError as exc:
                raise self._invalid(self.pos, str(exc)) from None
            if end == len(self.buf) and self._fill():  # a number may go on in the next chunk
                continue
            start, self.pos = self.pos, end
            return _no_lone_surrogates(value, self.buf, start, end)

    def _maybe_cut(self, exc: json.JSONDecodeError) -> bool:
        return exc.pos >= len(self.buf) - 64 or exc.msg.startswith("Unterminated string")

    def _fill(self) -> bool:
        if self.eof:
            return False
        more = self.text.read(max(self.READ, len(self.buf)))
        if not more:
            self.eof = True
            return False
        self._discard_consumed()
        self.buf += more
        return True

    def _discard_consumed(self) -> None:
        newlines = self.buf.count("\n", 0, self.pos)
        if newlines:
            self.column = self.pos - self.buf.rfind("\n", 0, self.pos) - 1
        else:
            self.column += self.pos
        self.lines += newlines
        self.buf = self.buf[self.pos :]
        self.pos = 0

    def _invalid(self, pos: int, message: str) -> InvalidInput:
        newlines = self.buf.count("\n", 0, pos)
        line = self.lines + newlines + 1
        column = pos - self.buf.rfind("\n", 0, pos) if newlines else self.column + pos + 1
        return InvalidInput(f"line {line}, column {column}: invalid JSON: {message}")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_lone_surrogates(value: Any, text: str, start: int, end: int) -> Any:
    """JSON can escape half a UTF-16 pair ("\\ud800"), which is no character at all and
    cannot be stored. Only records whose text has such an escape are searched."""
    if not _SURROGATE_ESCAPE.search(text, start, end):
        return value
    try:
        found = _has_surrogate(value)
    except RecursionError:
        return _Bad("invalid JSON: nested too deeply")
    return _Bad("text with an unpaired surrogate escape (\\ud800-\\udfff) is not valid Unicode") if found else value


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(key) or _has_surrogate(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(item) for item in value)
    return False


_READERS: dict[str, Callable[[BinaryIO, Reading], Iterator[tuple[str, Any]]]] = {
    "csv": _read_csv,
    "json": _read_json_array,
    "ndjson": _read_ndjson,
}
