"""Erasure: a deleted contact leaves no copy in the database file or its WAL.

`secure_delete` (set on every connection) zeroes the freed cells and pages, but until a
checkpoint the main file still holds the old pages, and the WAL may hold older versions of
them. A delete therefore marks the database `erase_pending` in its own transaction; after
the commit, `finish` checkpoints into the main file, truncates the WAL and clears the mark.

Finishing never stalls other writers. A truncating checkpoint holds the write lock while it
waits for readers to leave their old snapshots, so it is only tried briefly (PATIENCE);
when a reader keeps an old snapshot longer, or a crash came first, the mark stays and the
next crmctl command to open the database tries again. `db check` reports a pending erasure.

On PostgreSQL a deleted row stays in its table's files, as a dead tuple, until VACUUM removes
it: `finish` vacuums every table a contact delete reaches (contacts and the tables whose
foreign keys cascade from it), outside any transaction, then clears the mark. What crmctl
cannot reach there is the server's WAL, its archives, replicas and base backups.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from crmctl.store import holder
from crmctl.store.pg import is_postgres

if TYPE_CHECKING:
    from sqlite_utils import Database

PENDING = "erase_pending"
# Seconds a checkpoint may hold the write lock waiting for readers: writers queue behind it
# for at most this long.
PATIENCE = 0.2


def mark_pending(db: Database) -> None:
    """Inside the deleting transaction."""
    db.execute("INSERT INTO meta(key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET value = '1'", [PENDING])


def pending(db: Database) -> bool:
    return db.execute("SELECT 1 FROM meta WHERE key = ?", [PENDING]).fetchone() is not None


def finish(db: Database, *, patience: float = PATIENCE) -> bool:
    """Checkpoint everything into the main file, truncate the WAL, clear the mark.

    Outside any transaction. Waits at most `patience` seconds for other processes at each
    step; returns True when the erasure is complete, False when it is left for later.
    """
    if is_postgres(db):
        return _vacuum(db)
    restore_ms = int(getattr(db, "lock_timeout", 30.0) * 1000)
    db_file = db.execute("PRAGMA database_list").fetchone()[2]
    db.execute(f"PRAGMA busy_timeout = {int(patience * 1000)}")
    try:
        # The bulk of the copying, without the write lock: PASSIVE never waits for anyone.
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        holder.announce(db_file)
        if not _truncate_wal(db):
            return False
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM meta WHERE key = ?", [PENDING])
        db.execute("COMMIT")
        _truncate_wal(db)  # what is left in the WAL is that one meta page; best effort
        return True
    except sqlite3.OperationalError:  # busy, locked or read-only: a later process finishes
        if db.conn.in_transaction:
            db.conn.rollback()
        return False
    finally:
        holder.withdraw(db_file)
        db.execute(f"PRAGMA busy_timeout = {restore_ms}")


def _truncate_wal(db: Database) -> bool:
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return busy == 0


# PostgreSQL ----------------------------------------------------------------------------------

# contacts and every table whose foreign keys cascade (or set null) from it, however indirectly
_ERASED_TABLES = """
    WITH RECURSIVE erased(rel) AS (
        SELECT CAST(CAST('contacts' AS regclass) AS oid)
        UNION
        SELECT k.conrelid FROM pg_constraint AS k JOIN erased AS e ON k.confrelid = e.rel
        WHERE k.contype = 'f' AND k.confdeltype IN ('c', 'n')
    )
    SELECT c.relname FROM erased AS e JOIN pg_class AS c ON c.oid = e.rel ORDER BY c.relname COLLATE "C"
"""


def erased_tables(db: Database) -> list[str]:
    return [row[0] for row in db.execute(_ERASED_TABLES)]


def _vacuum(db: Database) -> bool:
    """VACUUM the tables a delete reached (outside any transaction), then clear the mark."""
    from crmctl.store.pg.connection import vacuum_after_commit

    vacuum_after_commit(db, erased_tables(db))  # type: ignore[arg-type]
    db.execute("DELETE FROM meta WHERE key = ?", [PENDING])
    return True
