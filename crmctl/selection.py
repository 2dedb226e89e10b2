"""A selection (ids, emails, stdin, --where, --all) resolves once into a scope of contact ids."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlite_utils import Database

from crmctl.errors import InvalidInput, MissingContacts
from crmctl.store import scopes

SELECTED = "selected"
MISSING_SHOWN = 20
MAX_ID = 2**63 - 1  # SQLite's largest integer: no contact id is beyond it


@dataclass
class SelectionSpec:
    contacts: list[str] = field(default_factory=list)
    where: str | None = None
    everyone: bool = False
    ignore_missing: bool = False
    stdin: Iterable[str] | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.contacts or self.where or self.everyone)


def resolve(db: Database, spec: SelectionSpec, name: str = SELECTED) -> str:
    """Fill scope `name` with the selected contact ids and return its name.

    An empty selection is a usage error: it never means "everyone".
    """
    if spec.is_empty:
        raise InvalidInput("no contacts selected: give -c/--contact, -w/--where or --all")
    scopes.create(db, name)
    if spec.everyone:
        scopes.add_all(db, name)
        return name
    if spec.contacts:
        scopes.load_identifiers(db, _identifiers(spec))
        shown, total = scopes.missing_identifiers(db, MISSING_SHOWN)
        if total and not spec.ignore_missing:
            raise MissingContacts(shown, total)
        scopes.add_identified(db, name)
    if spec.where:
        from crmctl.query import compile_filter

        condition = compile_filter(db, spec.where)
        scopes.add_where(db, name, condition.sql, condition.params, condition.ids)
    return name


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
    raise InvalidInput(f"{where}: {raw!r} is neither a contact id nor an email")


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
        raise InvalidInput(f"{where}: invalid JSON: {exc.msg}") from None
    except ValueError:  # an integer of more than 4300 digits
        raise InvalidInput(f"{where}: a number out of range") from None
    if not isinstance(record, dict):
        raise InvalidInput(f"stdin line {number}: expected an object with 'id' or 'email'")
    found = record.get("id")
    if isinstance(found, int) and not isinstance(found, bool) and found >= 0:
        return checked_id(str(found), where), None, str(found)
    if isinstance(found, float):  # JSON has one number type: 1e30 or 2.5 is no id, whatever its size
        raise InvalidInput(f"{where}: 'id' must be a whole number, not {text_of(found)}")
    if isinstance(record.get("email"), str):
        return None, record["email"], record["email"]
    raise InvalidInput(f"{where}: expected an object with 'id' or 'email'")


def text_of(number: float) -> str:
    return json.dumps(number)
