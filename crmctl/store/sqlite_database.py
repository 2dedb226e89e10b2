"""CrmDatabase: the sqlite-utils Database crmctl opens its SQLite files with."""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from crmctl.store.connection import DEFAULT_LOCK_TIMEOUT


class CrmDatabase(Database):
    """A sqlite-utils Database that remembers how long it waits for the write lock, for the
    messages of a process that gave up waiting and for the erasure's busy timeout."""

    dialect = "sqlite"  # crmctl.store.pg.database.PgDatabase says "postgresql"
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    # What migrations want the operator told, e.g. the properties m009 declared (crmctl.store.declare).
    migration_notes: list[str]

    def executemany(self, sql: str, rows) -> sqlite3.Cursor:
        """As PgDatabase.executemany, so a store function can call it on either backend."""
        return self.conn.executemany(sql, rows)
