"""`contact import`: read CSV, a JSON array or NDJSON, validate each record, and hand the
valid ones in chunks to the store, which upserts them set-based.

Every field is a built-in field or a declared property (crmctl.properties); a value must fit
its property's type. Other columns or keys refuse the import, unless `create_properties`:
then they are declared, each with the type inferred from all of its values in the file.

Reading is streamed: CSV and NDJSON line by line, a JSON array element by element, so
memory stays flat whatever the file size. All SQL lives in crmctl.store.imports.
"""

from __future__ import annotations

import codecs
import csv
import functools
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, BinaryIO, NamedTuple

from sqlite_utils import Database

from crmctl import clock, value_types
from crmctl.actions import Context, clean_tag_names
from crmctl.emails import clean_email
from crmctl.errors import InvalidInput
from crmctl.properties import Catalog, Property, clean_name, create_many
from crmctl.query.folding import fold
from crmctl.store import audit
from crmctl.store import imports as store
from crmctl.store import suppressions as suppression_sql

CHUNK = 5000  # records per executemany round, and per progress call
SHOWN = 20  # problems listed in a refusal
KEPT = 1000  # problems kept in a report
FORMATS = {"csv": "csv", "json": "json", "ndjson": "ndjson", "jsonl": "ndjson"}
EXTENSIONS = {".csv": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson"}
KNOWN = (
    "email",
    "name",
    "phone",
    "user_id",
    "created_at",
    "last_seen_at",
    "blocked",
    "blocked_at",
    "tags",
    "conversations",
    "attributes",
    "properties",
    "id",
)
_KNOWN = frozenset(KNOWN)
_CONVERSATION_KEYS = frozenset({"subject", "created_at", "messages"})
_MESSAGE_KEYS = frozenset({"body", "sender", "sent_at"})
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})
UNKNOWN_SHOWN = 20  # unknown columns or keys named in a refusal
_STORED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_TAG_SPLIT = re.compile(r"[;,]")


@dataclass
class ImportReport:
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)
    tags_created: list[str] = field(default_factory=list)
    properties_created: list[dict] = field(default_factory=list)
    readmitted: int = 0  # suppressed addresses imported with allow_suppressed (and no longer suppressed)

    def to_dict(self) -> dict:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "problems": list(self.problems),
            "tags_created": list(self.tags_created),
            "properties_created": list(self.properties_created),
            **({"readmitted": self.readmitted} if self.readmitted else {}),
        }


class Contact(NamedTuple):
    row: tuple  # (email, name, phone, user_id, created_at, last_seen_at, block, blocked_at)
    tags: list[str]
    values: list[tuple[int, Any]]  # (property id, stored value)
    new_values: list[tuple[str, str]]  # (undeclared name, the value as JSON), with create_properties
    conversations: list[tuple]


class _Bad(Exception):
    """One record's problem; reported as `LABEL: message`."""


def import_contacts(
    db: Database,
    stream: BinaryIO,
    *,
    fmt: str | None = None,
    filename: str = "-",
    skip_invalid: bool = False,
    actor: str = "unknown",
    progress: Callable[[int], None] | None = None,
    allow_suppressed: bool = False,
    create_properties: bool = False,
) -> ImportReport:
    """Upsert contacts from `stream` by email. Raises InvalidInput, changing nothing, when the
    input cannot be read, names undeclared properties (unless `create_properties`), or when
    any record is bad and `skip_invalid` is false.

    An address erased with `delete --suppress` makes its record bad, unless `allow_suppressed`:
    then it is imported and no longer suppressed (the operator has decided it may come back)."""
    chosen = choose_format(fmt, filename)
    fields = _Fields(Catalog.load(db), create=create_properties, columns=chosen == "csv")
    records = _read_csv(stream, fields.header) if chosen == "csv" else _READERS[chosen](stream)
    now = clock.now_text()
    store.create_staging(db)
    readmitted = 0
    try:
        problems = _stage_all(db, records, fields, progress)
        fields.refuse_unknown()
        created = _declare_new(db, fields, Context(actor=actor, now=now))
        store.index_staging(db)
        _reject_repeats(db, problems)
        if not allow_suppressed:
            _reject_suppressed(db, problems)
        if problems.total and not skip_invalid:
            raise InvalidInput(problems.refusal())
        outcome = store.apply(db, now=now, actor=actor, rejected=problems.total)
        if allow_suppressed:
            readmitted = _readmit(db, now, actor)
    finally:
        store.drop_staging(db)
    return ImportReport(
        inserted=outcome.inserted,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
        rejected=problems.total,
        problems=problems.listing(),
        tags_created=outcome.tags_created,
        properties_created=[{"name": p.name, "type": p.type} for p in created],
        readmitted=readmitted,
    )


def choose_format(fmt: str | None, filename: str) -> str:
    if fmt is not None:
        if fmt.lower() not in FORMATS:
            raise InvalidInput(f"unknown format {fmt!r}: use csv, json or ndjson")
        return FORMATS[fmt.lower()]
    if filename in ("", "-"):
        raise InvalidInput("cannot tell the format of stdin: pass --format")
    suffix = PurePath(filename).suffix.lower()
    if suffix not in EXTENSIONS:
        raise InvalidInput(f"cannot tell the format of {filename}: pass --format csv, json or ndjson")
    return EXTENSIONS[suffix]


# Loading ----------------------------------------------------------------------------------


class _Problems:
    """Bad records by position. Counts them all, keeps the first KEPT messages."""

    def __init__(self) -> None:
        self.total = 0
        self.kept: list[tuple[int, str]] = []

    def add(self, pos: int, message: str) -> None:
        self.total += 1
        self.kept.append((pos, message))
        if len(self.kept) > 2 * KEPT:
            self.kept = sorted(self.kept)[:KEPT]

    def listing(self) -> list[str]:
        shown = [message for _, message in sorted(self.kept)[:KEPT]]
        if self.total > len(shown):
            shown.append(f"and {self.total - len(shown)} more")
        return shown

    def refusal(self) -> str:
        shown = [message for _, message in sorted(self.kept)[:SHOWN]]
        lines = [
            f"{self.total} invalid record{'s' if self.total != 1 else ''}; nothing was imported "
            "(pass --skip-invalid to import the valid ones):"
        ]
        lines += [f"  {message}" for message in shown]
        if self.total > len(shown):
            lines.append(f"  and {self.total - len(shown)} more")
        return "\n".join(lines)


def _stage_all(
    db: Database, records: Iterator[tuple[str, Any]], fields: _Fields, progress: Callable[[int], None] | None
) -> _Problems:
    problems, batch, pos = _Problems(), store.Batch(), 0
    for pos, (label, item) in enumerate(records, start=1):
        try:
            contact = _contact(item, fields)
        except _Bad as bad:
            problems.add(pos, f"{label}: {bad}")
        else:
            batch.add(pos, label, *contact)
        if pos % CHUNK == 0:
            store.stage(db, batch)
            batch = store.Batch()
            if progress is not None:
                progress(pos)
    store.stage(db, batch)
    if progress is not None:
        progress(pos)
    return problems


def _reject_repeats(db: Database, problems: _Problems) -> None:
    """A second record with the same email (ignoring case) is a bad record, not a merge."""
    shown, total = store.repeated_emails(db, KEPT)
    for pos, label, first in shown:
        problems.add(pos, f"{label}: same email as {first}")
    problems.total += total - len(shown)
    if total:
        store.drop_repeats(db)


def _reject_suppressed(db: Database, problems: _Problems) -> None:
    """An address erased with `delete --suppress` is a bad record: it must not come back unnoticed."""
    shown, total = suppression_sql.staged_matches(db, KEPT)
    for pos, label in shown:
        problems.add(pos, f"{label}: address was erased and suppressed (pass --allow-suppressed to import it again)")
    problems.total += total - len(shown)
    if total:
        suppression_sql.drop_staged_matches(db)
        store.drop_orphans(db)


def _readmit(db: Database, now: str, actor: str) -> int:
    readmitted = suppression_sql.forget_staged(db)
    if readmitted:
        audit.record(db, at=now, actor=actor, action="unsuppress", detail=f"readmitted {readmitted}")
    return readmitted


# Validation -------------------------------------------------------------------------------


def _contact(item: Any, properties: _Fields) -> Contact:
    """A record's fields (CSV: non-blank cells; JSON: any value) → a Contact."""
    if isinstance(item, _Bad):
        raise item
    typed = not properties.columns
    fields = _json_fields(item) if typed else item
    email = _email(fields.pop("email", None))
    row = (
        email,
        _text(fields.pop("name", None), "name"),
        _text(fields.pop("phone", None), "phone"),
        _user_id(fields.pop("user_id", None)),
        _time(fields.pop("created_at", None), "created_at"),
        _time(fields.pop("last_seen_at", None), "last_seen_at"),
        *_block(fields.pop("blocked", None), fields.pop("blocked_at", None)),
    )
    tags = _tags(fields.pop("tags", None))
    conversations = _conversations(fields.pop("conversations", None))
    fields.pop("id", None)  # as written by `contact list`: contacts are matched by email, never by id
    if typed:
        _merge_nested(fields, "attributes")  # as `contact list` wrote property values before 0.2
        _merge_nested(fields, "properties")
    values, new_values = properties.values(fields)
    return Contact(row, tags, values, new_values, conversations)


def _merge_nested(fields: dict[str, Any], key: str) -> None:
    """JSON records may carry property values as an object (as `contact list` writes them)."""
    nested = fields.pop(key, None)
    if nested is None:
        return
    if not isinstance(nested, dict):
        raise _Bad(f"{key} must be an object, not {_kind(nested)}")
    for raw_key, value in nested.items():
        name = raw_key.strip()
        if name in fields:
            raise _Bad(f"{name!r} is given twice")
        fields[name] = value


class _Fields:
    """Turns a record's other fields into property values: declared properties by their type,
    undeclared names refused or (with create) staged as written, their types inferred later."""

    def __init__(self, catalog: Catalog, *, create: bool, columns: bool):
        self.catalog = catalog
        self.create = create
        self.columns = columns  # CSV: the fields are columns named by the header
        self.unknown: dict[str, str] = {}  # folded -> the first spelling met
        self.inferred: dict[str, value_types.Inference] = {}

    def header(self, names: list[str], line: int) -> None:
        """A CSV header: undeclared columns are known before any row is read."""
        for name in names:
            if name and name not in _KNOWN and self.catalog.get(name) is None:
                try:
                    self._unknown(name)
                except _Bad as bad:
                    raise InvalidInput(f"line {line}: column {name!r}: {bad}") from None
        if not self.create:
            self.refuse_unknown()

    def values(self, fields: dict[str, Any]) -> tuple[list[tuple[int, Any]], list[tuple[str, str]]]:
        known: list[tuple[int, Any]] = []
        undeclared: list[tuple[str, Any]] = []
        seen: dict[str, str] = {}
        for key, raw in fields.items():
            folded = fold(key)
            if folded in seen:
                raise _Bad(f"{seen[folded]!r} and {key!r} name the same property")
            seen[folded] = key
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue  # no value
            if isinstance(raw, (list, dict)):
                raise _Bad(f"{key} must be text, a number or a boolean, not {_kind(raw)}")
            prop = self.catalog.get(key)
            if prop is None:
                try:
                    value_types.parse("text", raw)  # text takes every value some type takes
                except value_types.Unfit as exc:
                    raise _Bad(f"{key}: {exc}") from None
                undeclared.append((self._unknown(key), raw))
                continue
            try:
                known.append((prop.id, value_types.parse(prop.type, raw)))
            except value_types.Unfit as exc:
                raise _Bad(f"{prop.name} is a {prop.type} property: {exc}") from None
        if not self.create:
            return known, []
        for name, raw in undeclared:
            source = "text" if self.columns else "json"
            self.inferred.setdefault(fold(name), value_types.Inference(source)).add(raw)
        return known, [(name, json.dumps(raw, ensure_ascii=False)) for name, raw in undeclared]

    def _unknown(self, key: str) -> str:
        folded = fold(key)
        if folded not in self.unknown:
            if self.create:
                try:
                    clean_name(key)
                except InvalidInput as exc:
                    raise _Bad(str(exc)) from None
            self.unknown[folded] = key
        return self.unknown[folded]

    def refuse_unknown(self) -> None:
        if not self.unknown or self.create:
            return
        names = list(self.unknown.values())
        shown = ", ".join(repr(n) for n in names[:UNKNOWN_SHOWN])
        if len(names) > UNKNOWN_SHOWN:
            shown += f" and {len(names) - UNKNOWN_SHOWN} more"
        what = ("column" if self.columns else "key") + ("s are" if len(names) > 1 else " is")
        raise InvalidInput(
            f"{len(names)} {what} neither a built-in field nor a declared property: {shown} "
            "(declare them with `crmctl property create NAME --type TYPE`, or pass --create-properties)"
        )

    def new_properties(self) -> list[tuple[str, str]]:
        """(name, inferred type) of each undeclared name met (text when it never had a value)."""
        return [
            (name, self.inferred[folded].kind if folded in self.inferred else "text")
            for folded, name in self.unknown.items()
        ]


def _declare_new(db: Database, fields: _Fields, ctx: Context) -> list[Property]:
    """Declare the undeclared names (--create-properties) and convert their staged values."""
    wanted = fields.new_properties()
    if not wanted:
        return []
    created = create_many(db, wanted, ctx)
    store.convert_new_values(db, [(p.name, p.id, p.type) for p in created], _IMPORT_VALUE, _import_value)
    return created


_IMPORT_VALUE = "crmctl_import_value"


def _import_value(kind: str, raw: str) -> Any:
    """A staged value (JSON text of what the file held) in its new property's stored form."""
    return value_types.parse(kind, json.loads(raw))


@functools.lru_cache(maxsize=4096)
def _canonical(key: str) -> str:
    """Known columns match without regard to case or surrounding spaces; property names keep their case."""
    name = key.strip()
    lowered = name.lower()
    return lowered if lowered in _KNOWN else name


def _json_fields(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _Bad(f"expected an object, not {_kind(item)}")
    fields: dict[str, Any] = {}
    for key, value in item.items():
        name = _canonical(key)
        if name in fields:
            raise _Bad(f"{name!r} is given twice")
        fields[name] = value
    return fields


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _email(value: Any) -> str:
    if value is None:
        raise _Bad("no email")
    if not isinstance(value, str):
        raise _Bad(f"email must be text, not {_kind(value)}")
    try:
        return clean_email(value)
    except ValueError as exc:
        raise _Bad(str(exc)) from None


def _text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{what} must be text, not {_kind(value)}")
    return value.strip() or None


def _user_id(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value, "user_id")


def _time(value: Any, what: str) -> str | None:
    text = _text(value, what)
    if text is None:
        return None
    if clock.is_stored_time(text):  # already in the stored form, a real time, a year allowed
        return text
    try:
        stored = clock.normalise_time(text)
    except ValueError as exc:
        raise _Bad(f"{what}: {exc}") from None
    return stored


def _block(blocked: Any, blocked_at: Any) -> tuple[int | None, str | None]:
    """(block, blocked_at): true blocks now (keeping an earlier block time), a time blocks
    since then, false unblocks, nothing leaves the contact as it is."""
    if blocked_at is not None and blocked is not None:
        raise _Bad("give blocked or blocked_at, not both")
    if blocked_at is not None:
        at = _time(blocked_at, "blocked_at")
        return (None, None) if at is None else (1, at)
    if blocked is None or isinstance(blocked, bool):
        return (None if blocked is None else int(blocked)), None
    if not isinstance(blocked, str):
        raise _Bad(f"blocked must be true, false or an ISO-8601 time, not {_kind(blocked)}")
    word = blocked.strip().lower()
    if not word:
        return None, None
    if word in _TRUE or word in _FALSE:
        return int(word in _TRUE), None
    try:
        return 1, _time(blocked, "blocked")
    except _Bad:
        raise _Bad(f"blocked must be true, false or an ISO-8601 time, not {_shown(blocked.strip())}") from None


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        names = _TAG_SPLIT.split(value)
    elif isinstance(value, list):
        names = value
        odd = [name for name in names if not isinstance(name, str)]
        if odd:
            raise _Bad(f"tags must be a list of text, not of {_kind(odd[0])}")
    else:
        raise _Bad(f"tags must be text or a list of text, not {_kind(value)}")
    try:
        return clean_tag_names([name for name in names if name.strip()])
    except InvalidInput as exc:
        raise _Bad(f"tags: {exc}") from None


def _conversations(value: Any) -> list[tuple]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"conversations must be a list, not {_kind(value)}")
    return [_conversation(item, f"conversations[{i}]") for i, item in enumerate(value)]


def _conversation(item: Any, where: str) -> tuple:
    """(subject, created_at, first_sent_at, messages); created_at defaults to the first message's time."""
    _check_object(item, where, _CONVERSATION_KEYS)
    messages = item.get("messages")
    if messages is None:
        messages = []
    if not isinstance(messages, list):
        raise _Bad(f"{where}.messages must be a list, not {_kind(messages)}")
    parsed = [_message(message, f"{where}.messages[{j}]") for j, message in enumerate(messages)]
    sent = [message[2] for message in parsed if message[2] is not None]
    first = min(sent) if sent else None
    created_at = _time(item.get("created_at"), f"{where}.created_at") or first
    return _text(item.get("subject"), f"{where}.subject"), created_at, first, parsed


def _message(item: Any, where: str) -> tuple:
    """(body, sender, sent_at)"""
    _check_object(item, where, _MESSAGE_KEYS)
    return (
        _text(item.get("body"), f"{where}.body"),
        _text(item.get("sender"), f"{where}.sender"),
        _time(item.get("sent_at"), f"{where}.sent_at"),
    )


def _check_object(item: Any, where: str, keys: frozenset[str]) -> None:
    if not isinstance(item, dict):
        raise _Bad(f"{where} must be an object, not {_kind(item)}")
    if not item.keys() <= keys:
        unknown = min(set(item) - keys)
        raise _Bad(f"{where}: unknown key {_shown(unknown)} (expected {', '.join(sorted(keys))})")


# Reading: bytes → text ---------------------------------------------------------------------

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _refuse_utf16(first: bytes) -> None:
    if first.startswith(_UTF16_BOMS):
        raise InvalidInput("line 1: the file is UTF-16; save it as UTF-8")


def _not_utf8(line: int) -> InvalidInput:
    return InvalidInput(f"line {line}: not valid UTF-8 text; save the file as UTF-8")


def _lines(stream: BinaryIO) -> Iterator[str]:
    """Decoded lines (with their line endings), BOM removed. A line that is not UTF-8 raises
    UnicodeDecodeError: the caller knows which line it asked for."""
    first = next(iter(stream), b"")
    _refuse_utf16(first)
    if first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8) :]
    return itertools.chain((first.decode("utf-8"),), map(_utf8, stream))


def _utf8(line: bytes) -> str:
    return line.decode("utf-8")


class _Utf8Chunks:
    """Decode a byte stream chunk by chunk; a bad byte is refused with its line number."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.newlines = 0
        self.started = False

    def read(self, size: int) -> str:
        """Up to about `size` characters; "" only at the end."""
        while True:
            data = self.stream.read(size)
            if not self.started:
                _refuse_utf16(data)
            pending = self.decoder.getstate()[0]
            try:
                text = self.decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                raise _not_utf8(self.newlines + (pending + data).count(b"\n", 0, exc.start) + 1) from None
            if text and not self.started:
                self.started = True
                text = text[1:] if text.startswith("\ufeff") else text
            self.newlines += text.count("\n")
            if text or not data:
                return text


# Reading: the three formats ---------------------------------------------------------------


def _read_csv(stream: BinaryIO, on_header: Callable[[list[str], int], None] | None = None) -> Iterator[tuple[str, Any]]:
    """(label, fields) per record; label is the physical line where the record starts.
    `on_header` sees the field names once the header is read."""
    try:
        reader = csv.reader(_lines(stream), strict=True)
    except UnicodeDecodeError:
        raise _not_utf8(1) from None
    done = 0  # lines read before the current record
    try:
        layout = _CsvLayout(_header(reader), f"line {reader.line_num}")
        done = reader.line_num
        if on_header is not None:
            on_header(layout.names, reader.line_num)
        for cells in reader:
            start, done = done + 1, reader.line_num
            if any(cells):
                yield f"line {start}", layout.fields(cells, multiline=done > start)
    except UnicodeDecodeError:
        raise _not_utf8(reader.line_num + 1) from None
    except csv.Error as exc:
        hint = " (a quoted field is never closed)" if str(exc) == "unexpected end of data" else ""
        raise InvalidInput(f"line {done + 1}: {exc}{hint}") from None


def _header(reader) -> list[str]:
    for cells in reader:
        if any(cell.strip() for cell in cells):
            return cells
    raise InvalidInput("the CSV file is empty: expected a header row naming the columns")


class _CsvLayout:
    """Where each field is in a row, worked out once from the header."""

    def __init__(self, header: list[str], line: str):
        self.names = [_canonical(name) for name in header]
        self.width = len(header)
        seen: set[str] = set()
        for name in self.names:
            if name and name in seen:
                raise InvalidInput(f"{line}: column {name!r} appears twice")
            seen.add(name)
        if "email" not in seen:
            raise InvalidInput(f"{line}: no 'email' column")
        if "conversations" in seen:
            raise InvalidInput(f"{line}: conversations cannot be imported from CSV (use JSON or NDJSON)")
        self.nameless = [i for i, name in enumerate(self.names) if not name]

    def fields(self, cells: list[str], *, multiline: bool) -> dict[str, str] | _Bad:
        """Non-blank values by field name, as written (built-in fields are trimmed when
        validated; text property values keep their spaces). Line breaks inside a value become "\n"."""
        if len(cells) != self.width or self.nameless:
            problem = self._misfit(cells)
            if problem:
                return problem
        fields = {name: cell for name, cell in zip(self.names, cells, strict=False) if cell and not cell.isspace()}
        fields.pop("", None)
        if multiline:
            fields = {name: value.replace("\r\n", "\n") for name, value in fields.items()}
        return fields

    def _misfit(self, cells: list[str]) -> _Bad | None:
        """Too many cells, or a value in a nameless column. (Too few is fine: empty.)"""
        if len(cells) > self.width and any(cell.strip() for cell in cells[self.width :]):
            return _Bad(f"{len(cells)} fields, but the header names {self.width}")
        for i in self.nameless:
            if i < len(cells) and cells[i].strip():
                return _Bad(f"a value in column {i + 1}, which has no name in the header")
        return None


def _read_ndjson(stream: BinaryIO) -> Iterator[tuple[str, Any]]:
    """(label, value) per non-blank line. A line that is not JSON is a bad record, not the end."""
    number = 0
    try:
        for number, line in enumerate(_lines(stream), start=1):
            if line.strip():
                yield f"line {number}", _json_line(line)
    except UnicodeDecodeError:
        raise _not_utf8(number + 1) from None


def _json_line(line: str) -> Any:
    try:
        return _no_lone_surrogates(json.loads(line), line, 0, len(line))
    except json.JSONDecodeError as exc:
        return _Bad(f"invalid JSON at column {exc.colno}: {exc.msg}")
    except RecursionError:
        return _Bad("invalid JSON: nested too deeply")
    except ValueError as exc:  # e.g. an integer with more digits than int() accepts
        return _Bad(f"invalid JSON: {exc}")


def _read_json_array(stream: BinaryIO) -> Iterator[tuple[str, Any]]:
    for number, value in enumerate(_JsonArray(_Utf8Chunks(stream)), start=1):
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
            hint = " (for one object per line, use --format ndjson)" if first == "{" else ""
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


_READERS: dict[str, Callable[[BinaryIO], Iterator[tuple[str, Any]]]] = {
    "csv": _read_csv,
    "json": _read_json_array,
    "ndjson": _read_ndjson,
}
