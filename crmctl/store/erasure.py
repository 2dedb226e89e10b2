"""Erasure: a deleted contact leaves no copy in the database file or its WAL.

`secure_delete` (set on every connection) zeroes the freed cells and pages, but until a
checkpoint the main file still holds the old pages, and the WAL may hold older versions of
them. A delete therefore marks the database `erase_pending` in its own transaction; after
the commit, `finish` checkpoints into the main file, truncates the WAL and clears the mark.
When that cannot happen now (a crash, or readers keeping an old snapshot), the mark stays and
the next crmctl process to open the database finishes the job.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database

PENDING = "erase_pending"


def mark_pending(db: Database) -> None:
    """Inside the deleting transaction."""
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, '1')", [PENDING])


def pending(db: Database) -> bool:
    return db.execute("SELECT 1 FROM meta WHERE key = ?", [PENDING]).fetchone() is not None


def finish(db: Database, *, wait: bool = True) -> bool:
    """Checkpoint everything into the main file, truncate the WAL, clear the mark.

    Outside any transaction. With wait=False, gives up at once when another process is
    busy (the mark stays for a later process). Returns True when the erasure is complete.
    """
    timeout_ms = int(getattr(db, "lock_timeout", 30.0) * 1000)
    if not wait:
        db.execute("PRAGMA busy_timeout = 0")
    try:
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
        db.execute(f"PRAGMA busy_timeout = {timeout_ms}")


def _truncate_wal(db: Database) -> bool:
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return busy == 0
