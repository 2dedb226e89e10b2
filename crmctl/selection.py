"""A selection (ids, emails, stdin, --where, --all) resolves once into a scope of contact ids."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crmctl.errors import InvalidInput, MissingContacts, UsageError, quote
from crmctl.store import scopes

if TYPE_CHECKING:
    from sqlite_utils import Database

SELECTED = "selected"
MAX_ID = 2**63 - 1  # SQLite's largest integer: no contact id is beyond it
JSON_ARRAY_HINT = "stdin holds a JSON array: pipe one object per line (jq -c '.[]')"
PRETTY_JSON_HINT = "stdin holds pretty-printed JSON: pipe one object per line (jq -c . or jq -c '.[]')"


@dataclass
class SelectionSpec:
    """What the command line asked for. Identifiers (`contacts`, with `-` for stdin) name
    contacts; every filter in `where` must match (and); filters narrow identifiers."""

    contacts: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    everyone: bool = False
    ignore_missing: bool = False
    stdin: Iterable[str] | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.contacts or self.where or self.everyone)


@dataclass
class Selection:
    """A resolved selection: the scope holding its ids, and how they were chosen."""

    scope: str
    selected: int
    identified: int | None = None  # contacts named by identifiers, when any were given
    skipped: int = 0  # identifiers that named no contact (--ignore-missing)
    filtered: bool = False
    everyone: bool = False

    def describe(self) -> str:
        """How the selection was made, for a human summary: `2 identified, 1 after filter`."""
        if self.identified is None:
            how = " (all contacts)" if self.everyone else " by filter" if self.filtered else ""
            return f"{self.selected} selected{how}"
        text = f"{self.identified} identified"
        if self.skipped:
            text += f" ({self.skipped} skipped: no such contact)"
        if self.filtered:
            text += f", {self.selected} after filter"
        return text

    def to_dict(self) -> dict:
        """The keys a JSON summary adds: `identified` and `skipped` only when identifiers were given."""
        if self.identified is None:
            return {}
        extra = {"identified": self.identified}
        if self.skipped:
            extra["skipped"] = self.skipped
        return extra


def resolve(db: Database, spec: SelectionSpec, name: str = SELECTED) -> Selection:
    """Fill scope `name` with the selected contact ids.

    Identifiers first (all must exist unless ignore_missing), then every filter narrows what
    is there; without identifiers the first filter fills the scope. An empty selection is a
    usage error: it never means "everyone", and neither does --all next to anything else.
    """
    if spec.is_empty:
        raise UsageError("no contacts selected: give -c/--contact, -w/--where or --all")
    if spec.everyone and (spec.contacts or spec.where):
        raise UsageError("--all selects every contact: it cannot be combined with -c/--contact or -w/--where")
    conditions = _compile(db, spec.where)
    scopes.create(db, name)
    result = Selection(name, 0, filtered=bool(conditions), everyone=spec.everyone)
    if spec.everyone:
        scopes.add_all(db, name)
    elif spec.contacts:
        scopes.load_identifiers(db, _identifiers(spec))
        shown, total = scopes.missing_identifiers(db, MissingContacts.SHOWN)
        if total and not spec.ignore_missing:
            raise MissingContacts(shown, total)
        scopes.add_identified(db, name)
        result.identified, result.skipped = scopes.count(db, name), total
    else:
        first = conditions.pop(0)
        scopes.add_where(db, name, first.sql, first.params, first.ids)
    for condition in conditions:
        scopes.narrow(db, name, condition.sql, condition.params)
    result.selected = scopes.filled(db, name)
    return result


def _compile(db: Database, filters: list[str]) -> list:
    """Every filter compiled before anything runs, so a bad one is reported whatever its place."""
    if not filters:
        return []
    from crmctl.query import compile_filter

    conditions = [compile_filter(db, text) for text in filters]
    # The one that can come straight from the indexes first: it fills the scope.
    return sorted(conditions, key=lambda c: c.ids is None)


def _identifiers(spec: SelectionSpec) -> Iterator[tuple[int | None, str | None, str]]:
    for raw in spec.contacts:
        if raw == "-":
            if spec.stdin is None:
                raise InvalidInput("-c - needs identifiers on standard input")
            yield from parse_identifier_lines(spec.stdin)
        else:
            yield parse_identifier(raw, where="--contact")


def parse_identifier(raw: str, where: str) -> tuple[int | None, str | None, str]:
    """(id, None, raw) for a decimal id, (None, email, raw) for an address."""
    text = raw.strip()
    if text.isascii() and text.isdigit():
        return checked_id(text, where), None, text
    if "@" in text:
        return None, text, text
    if text.startswith("[") and where.startswith("stdin"):
        raise InvalidInput(JSON_ARRAY_HINT)
    raise InvalidInput(f"{where}: {quote(raw)} is neither a contact id nor an email")


def lookup_key(raw: str, where: str) -> tuple[int | None, str]:
    """One contact named on the command line: (id, raw) for a decimal id, else (None, the text
    as an email)."""
    text = raw.strip()
    if text.isascii() and text.isdigit():
        return checked_id(text, where), text
    return None, text


def checked_id(digits: str, where: str) -> int:
    """The id that decimal `digits` write; out of SQLite's 64-bit range is a usage error (and
    never reaches int(), which refuses more than 4300 digits)."""
    significant = digits.lstrip("0")
    if len(significant) > len(str(MAX_ID)) or int(significant or "0") > MAX_ID:
        shown = digits if len(digits) <= 40 else digits[:39] + "…"
        raise InvalidInput(f"{where}: contact id {shown} is out of range (ids go up to {MAX_ID})")
    return int(significant or "0")


def parse_identifier_lines(lines: Iterable[str]) -> Iterator[tuple[int | None, str | None, str]]:
    """One identifier per line, or NDJSON objects with `id` or `email`. Blank lines are skipped."""
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("{"):
            yield _from_json_line(text, number)
        else:
            yield parse_identifier(text, where=f"stdin line {number}")


def _from_json_line(text: str, number: int) -> tuple[int | None, str | None, str]:
    where = f"stdin line {number}"
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.endswith("}"):  # an object spread over several lines: `jq .` output
            raise InvalidInput(PRETTY_JSON_HINT) from None
        raise InvalidInput(f"{where}: invalid JSON: {exc.msg}") from None
    except ValueError:  # an integer of more than 4300 digits
        raise InvalidInput(f"{where}: a number out of range") from None
    if not isinstance(record, dict):
        raise InvalidInput(f"{where}: expected an object with 'id' or 'email'")
    found = record.get("id")
    if isinstance(found, int) and not isinstance(found, bool) and found >= 0:
        return checked_id(str(found), where), None, str(found)
    if isinstance(found, str) and found.strip().isascii() and found.strip().isdigit():
        return checked_id(found.strip(), where), None, found.strip()
    if isinstance(found, float):  # JSON has one number type: 1e30 or 2.5 is no id, whatever its size
        raise InvalidInput(f"{where}: 'id' must be a whole number, not {text_of(found)}")
    if isinstance(record.get("email"), str):
        return None, record["email"], record["email"]
    raise InvalidInput(f"{where}: expected an object with 'id' or 'email'")


def text_of(number: float) -> str:
    return json.dumps(number)
