"""Operator tools over the database file: consistent online backup, integrity checks."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from crmctl.errors import DatabaseError, Refused
from crmctl.store import erasure
from crmctl.store.files import create_private_file


def backup(db: Database, target: Path, *, overwrite: bool = False) -> int:
    """Copy the database with SQLite's backup API (consistent while others write).

    Returns the copy's size in bytes. The copy is owner-only (0600) from its first byte.
    """
    if target.is_symlink():
        raise Refused(f"{target} is a symbolic link; refusing to write through it")
    if target.exists() and not overwrite:
        raise Refused(f"{target} already exists (pass --force to replace it)")
    if not target.parent.is_dir():
        raise DatabaseError(f"cannot write {target}: no directory {target.parent}")
    partial = target.with_name(target.name + ".partial")
    create_private_file(partial, exclusive=False)
    try:
        destination = sqlite3.connect(str(partial))
        try:
            # In one step, from one read snapshot: WAL lets writers go on meanwhile. In pieces,
            # every commit by another process restarts the copy, so it may never finish.
            db.conn.backup(destination, pages=-1)
            destination.execute("PRAGMA journal_mode = DELETE")
        finally:
            destination.close()
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target.stat().st_size


def check(db: Database) -> list[str]:
    """Problems found by integrity_check and foreign_key_check, a pending erasure, and
    catalog entries that collide under the case rule; [] when healthy."""
    problems = [row[0] for row in db.execute("PRAGMA integrity_check") if row[0] != "ok"]
    for table, rowid, parent, _ in db.execute("PRAGMA foreign_key_check"):
        problems.append(f"{table} row {rowid} refers to a missing {parent} row")
    if erasure.pending(db):
        problems.append(
            "an erasure is pending: deleted contacts' data may still be in the database file or its WAL "
            "while another process reads an older snapshot; the next crmctl command after it ends finishes it"
        )
    return problems
