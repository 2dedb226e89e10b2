"""SQL for changing contacts: block state, notes, editable columns, new contacts, deletion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from crmctl.folding import fold
from crmctl.store.pg import is_postgres
from crmctl.store.scopes import _checked
from crmctl.store.script import insert_returning_id

if TYPE_CHECKING:
    from sqlite_utils import Database


def scope_join(db: Database) -> str:
    """The join from a scope to its contacts: SQLite's CROSS JOIN keeps the scope as the outer
    loop (it has no statistics for temp tables); PostgreSQL plans it itself, and takes no ON
    after CROSS JOIN."""
    return "JOIN" if is_postgres(db) else "CROSS JOIN"


def with_block_state(db: Database, scope: str, target: str, *, blocked: bool) -> None:
    """target := contacts of scope whose block state is `blocked`."""
    test = "IS NOT NULL" if blocked else "IS NULL"
    db.execute(
        f"INSERT INTO temp.{_checked(target)}(id) SELECT s.id FROM temp.{_checked(scope)} AS s "
        f"{scope_join(db)} contacts AS c ON c.id = s.id WHERE c.blocked_at {test}"
    )


def set_blocked_at(db: Database, scope: str, value: str | None) -> None:
    db.execute(
        f"UPDATE contacts SET blocked_at = ? WHERE id IN (SELECT id FROM temp.{_checked(scope)})",
        [value],
    )


def add_notes(db: Database, scope: str, body_sql: str, body_params: Sequence, author: str | None, now: str) -> None:
    """One note per contact of scope, in id order; body_sql is `?` or a template compiled over
    alias `c` (only then are the contacts' rows read)."""
    if body_sql == "?":
        source = f"temp.{_checked(scope)} AS c"
    else:
        source = f"temp.{_checked(scope)} AS s {scope_join(db)} contacts AS c ON c.id = s.id"
    db.execute(
        f"INSERT INTO notes(contact_id, body, author, created_at) SELECT c.id, {body_sql}, ?, ? FROM {source}",
        [*body_params, author, now],
    )


EDITABLE_COLUMNS = ("name", "phone", "user_id", "last_seen_at")


def differing_columns(db: Database, scope: str, target: str, values: dict[str, Any]) -> None:
    """target += contacts of scope whose columns differ from `values` (column -> value or None)."""
    columns = [_editable(column) for column in values]
    differs = "IS DISTINCT FROM" if is_postgres(db) else "IS NOT"
    tests = " OR ".join(f"c.{column} {differs} ?" for column in columns)
    db.execute(
        f"INSERT OR IGNORE INTO temp.{_checked(target)}(id) SELECT s.id FROM temp.{_checked(scope)} AS s "
        f"{scope_join(db)} contacts AS c ON c.id = s.id WHERE {tests}",
        list(values.values()),
    )


def write_columns(db: Database, scope: str, values: dict[str, Any]) -> None:
    assignments = ", ".join(f"{_editable(column)} = ?" for column in values)
    db.execute(
        f"UPDATE contacts SET {assignments} WHERE id IN (SELECT id FROM temp.{_checked(scope)})",
        list(values.values()),
    )


def _editable(column: str) -> str:
    if column not in EDITABLE_COLUMNS:
        raise ValueError(f"not an editable column: {column!r}")
    return column


def insert(db: Database, row: dict[str, Any]) -> int:
    """One new contact; row holds email, created_at and any editable columns."""
    columns = ["email", "created_at", *(_editable(c) for c in row if c not in ("email", "created_at"))]
    return insert_returning_id(
        db,
        f"INSERT INTO contacts({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [row[c] for c in columns],
    )


def exists_email(db: Database, email: str) -> int | None:
    """The contact whose email is `email` under the case rule (crmctl.folding), by its key."""
    row = db.execute("SELECT id FROM contacts WHERE email_key = ? ORDER BY id LIMIT 1", [fold(email)]).fetchone()
    return row[0] if row else None


DELETE_SLICE = 50_000


def delete(db: Database, scope: str, slice_size: int = DELETE_SLICE) -> None:
    """Foreign keys cascade to property values, tag links, notes, conversations and messages.

    One statement per slice of the scope (a range of ids): SQLite first lists every row a
    cascading DELETE will remove, so one statement for a million contacts holds a million
    row ids in memory; slices keep that bounded, whatever the scope's size."""
    scope = _checked(scope)
    after: int | None = None  # the slices so far took every id up to this one
    while True:
        lower, lower_params = ("id > ?", [after]) if after is not None else ("true", [])
        last = db.execute(
            f"SELECT id FROM temp.{scope} WHERE {lower} ORDER BY id LIMIT 1 OFFSET ?", [*lower_params, slice_size - 1]
        ).fetchone()
        upper, upper_params = ("id <= ?", [last[0]]) if last is not None else ("true", [])
        db.execute(
            f"DELETE FROM contacts WHERE id IN (SELECT id FROM temp.{scope} WHERE {lower} AND {upper})",
            [*lower_params, *upper_params],
        )
        if last is None:
            return
        after = last[0]
