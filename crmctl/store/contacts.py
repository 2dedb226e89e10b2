"""SQL for changing contacts: block state, notes, data points, deletion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database

from crmctl.store.scopes import _checked


def with_block_state(db: Database, scope: str, target: str, *, blocked: bool) -> None:
    """target := contacts of scope whose block state is `blocked`.

    CROSS JOIN keeps the scope as the outer loop: SQLite has no statistics for temp tables
    and would otherwise scan every contact, probing the scope for each."""
    test = "IS NOT NULL" if blocked else "IS NULL"
    db.execute(
        f"INSERT INTO temp.{_checked(target)}(id) SELECT s.id FROM temp.{_checked(scope)} AS s "
        f"CROSS JOIN contacts AS c ON c.id = s.id WHERE c.blocked_at {test}"
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
        source = f"temp.{_checked(scope)} AS s CROSS JOIN contacts AS c ON c.id = s.id"
    db.execute(
        f"INSERT INTO notes(contact_id, body, author, created_at) SELECT c.id, {body_sql}, ?, ? FROM {source}",
        [*body_params, author, now],
    )


def differing_attributes(db: Database, scope: str, target: str, values: dict[str, Any]) -> None:
    """target := contacts of scope for which setting `values` would change something."""
    tests, params = [], []
    for key, value in values.items():
        if value is None:
            tests.append("EXISTS (SELECT 1 FROM attributes AS a WHERE a.contact_id = s.id AND a.key = ?)")
            params.append(key)
        else:
            tests.append(
                "NOT EXISTS (SELECT 1 FROM attributes AS a WHERE a.contact_id = s.id AND a.key = ? "
                "AND a.value = ? AND typeof(a.value) = typeof(?))"
            )
            params.extend([key, value, value])
    db.execute(
        f"INSERT INTO temp.{_checked(target)}(id) SELECT s.id FROM temp.{_checked(scope)} AS s "
        f"WHERE {' OR '.join(tests)}",
        params,
    )


def write_attributes(db: Database, scope: str, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if value is None:
            db.execute(
                f"DELETE FROM attributes WHERE key = ? AND contact_id IN (SELECT id FROM temp.{_checked(scope)})",
                [key],
            )
        else:
            db.execute(
                "INSERT INTO attributes(contact_id, key, value) "
                f"SELECT id, ?, ? FROM temp.{_checked(scope)} WHERE true "
                "ON CONFLICT(contact_id, key) DO UPDATE SET value = excluded.value",
                [key, value],
            )


DELETE_SLICE = 50_000


def delete(db: Database, scope: str, slice_size: int = DELETE_SLICE) -> None:
    """Foreign keys cascade to attributes, tag links, notes, conversations and messages.

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
