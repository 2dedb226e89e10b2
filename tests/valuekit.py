"""Property values in tests on either backend: a value as the parameter property_values
takes (jsonb text on PostgreSQL), and SQLite's typeof() of a value read back."""

from __future__ import annotations

import os
from typing import Any

ON_POSTGRES = bool(os.environ.get("CRMCTL_TEST_PG"))

VALUE = "CAST(? AS jsonb)" if ON_POSTGRES else "?"  # the placeholder of a value in SQL


def many(db):
    """executemany on either backend."""
    return db.executemany if ON_POSTGRES else db.conn.executemany


def param(value: Any) -> Any:
    """A stored value (int, float or str) as an INSERT into property_values takes it."""
    if ON_POSTGRES and value is not None:
        from crmctl.store.pg.values import to_jsonb_text

        return to_jsonb_text(value)
    return value


def typeof(value: Any) -> str:
    """SQLite's typeof() of a value as read back (the same on PostgreSQL's jsonb)."""
    if value is None:
        return "null"
    if isinstance(value, bool | int):
        return "integer"
    if isinstance(value, float):
        return "real"
    if isinstance(value, bytes):
        return "blob"
    return "text"


def typed(rows) -> list[tuple]:
    """Rows whose last column is a value, with its typeof() appended."""
    return [(*row, typeof(row[-1])) for row in rows]
