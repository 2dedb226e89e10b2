"""Small SQL helpers: a multi-statement script inside the caller's transaction, and the id
of the row an INSERT added."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from crmctl.store.pg import is_postgres

if TYPE_CHECKING:
    from sqlite_utils import Database


def run_script(db: Database, script: str) -> None:
    if is_postgres(db):
        # Without parameters psycopg sends the whole script as one simple query, inside the
        # caller's transaction (or as one implicit transaction of its own).
        db.execute(script)
        return
    # sqlite3's executescript() commits first, which would break Migrations' atomicity,
    # so statements are split and executed one by one.
    statement = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--") and not statement.strip():
            continue
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement: {statement.strip()[:60]}")


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row that the INSERT just run on `cursor` added."""
    if cursor.lastrowid is None:
        raise sqlite3.InterfaceError("the statement inserted no row")
    return cursor.lastrowid


def insert_returning_id(db: Database, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> int:
    """Run one INSERT of one row and return the new row's id: SQLite's lastrowid, or on
    PostgreSQL the statement with `RETURNING id` appended."""
    if is_postgres(db):
        row = db.execute(sql.rstrip().rstrip(";") + " RETURNING id", params).fetchone()
        if row is None:
            raise LookupError("the statement inserted no row")
        return int(row[0])
    return inserted_id(db.execute(sql, params or []))
