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
    text = raw.strip()
    if text.isdigit():
        return int(text), None, text
    if "@" in text:
        return None, text, text
    raise InvalidInput(f"{where}: {raw!r} is neither a contact id nor an email")


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
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"stdin line {number}: invalid JSON: {exc.msg}") from None
    if not isinstance(record, dict):
        raise InvalidInput(f"stdin line {number}: expected an object with 'id' or 'email'")
    if isinstance(record.get("id"), int) and not isinstance(record.get("id"), bool):
        return record["id"], None, str(record["id"])
    if isinstance(record.get("email"), str):
        return None, record["email"], record["email"]
    raise InvalidInput(f"stdin line {number}: expected an object with 'id' or 'email'")
