"""Erasure: a deleted contact leaves no copy in the database file or its WAL.

`secure_delete` (set on every connection) zeroes the freed cells and pages, but until a
checkpoint the main file still holds the old pages, and the WAL may hold older versions of
them. A delete therefore marks the database `erase_pending` in its own transaction; after
the commit, `finish` checkpoints into the main file, truncates the WAL and clears the mark.

Finishing never stalls other writers. A truncating checkpoint holds the write lock while it
waits for readers to leave their old snapshots, so it is only tried briefly (PATIENCE);
when a reader keeps an old snapshot longer, or a crash came first, the mark stays and the
next crmctl command to open the database tries again. `db check` reports a pending erasure.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from crmctl.store import holder

PENDING = "erase_pending"
# Seconds a checkpoint may hold the write lock waiting for readers: writers queue behind it
# for at most this long.
PATIENCE = 0.2


def mark_pending(db: Database) -> None:
    """Inside the deleting transaction."""
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, '1')", [PENDING])


def pending(db: Database) -> bool:
    return db.execute("SELECT 1 FROM meta WHERE key = ?", [PENDING]).fetchone() is not None


def finish(db: Database, *, patience: float = PATIENCE) -> bool:
    """Checkpoint everything into the main file, truncate the WAL, clear the mark.

    Outside any transaction. Waits at most `patience` seconds for other processes at each
    step; returns True when the erasure is complete, False when it is left for later.
    """
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
