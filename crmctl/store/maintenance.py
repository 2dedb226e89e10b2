"""Operator tools over the database file: consistent online backup, integrity checks."""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from crmctl.errors import DatabaseError, Refused
from crmctl.store import erasure
from crmctl.store.pg import is_postgres
from crmctl.store.schema import case_collisions

if TYPE_CHECKING:
    from sqlite_utils import Database


def backup(db: Database, target: Path, *, overwrite: bool = False) -> int:
    """Copy the database with SQLite's backup API (consistent while others write) to `target`,
    a path that is not there yet or, with `overwrite`, an existing regular file.

    Returns the copy's size in bytes. The copy is owner-only (0600) from its first byte: it is
    written to a new file beside the target and renamed over it once complete.
    """
    _refuse_special(target, overwrite)
    if not target.parent.is_dir():
        raise DatabaseError(f"cannot write {target}: no directory {target.parent}")
    fd, partial_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)  # created 0600 and exclusively: nothing planted under this name is written through
    partial = Path(partial_name)
    try:
        destination = sqlite3.connect(str(partial))
        try:
            # In one step, from one read snapshot: WAL lets writers go on meanwhile. In pieces,
            # every commit by another process restarts the copy, so it may never finish.
            db.conn.backup(destination, pages=-1)
            destination.execute("PRAGMA journal_mode = DELETE")
        finally:
            destination.close()
        _refuse_special(target, overwrite)  # again: something may have appeared meanwhile
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target.stat().st_size


_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _refuse_special(target: Path, overwrite: bool) -> None:
    """Only a regular file is ever replaced, and only with --force; never through a link."""
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DatabaseError(f"cannot write {target}: {exc.strerror}") from None
    if stat.S_ISLNK(mode):
        raise Refused(f"{target} is a symbolic link; refusing to write through it")
    if stat.S_ISDIR(mode):
        raise Refused(
            f"{target} is a directory: --force only ever replaces a regular file "
            f"(give {target}/ to write a new backup inside it)"
        )
    for test, what in _SPECIAL:
        if test(mode):
            raise Refused(f"{target} is {what}, not a regular file: crmctl never replaces it, whatever the flags")
    if not stat.S_ISREG(mode):
        raise Refused(f"{target} is not a regular file: crmctl never replaces it, whatever the flags")
    if not overwrite:
        raise Refused(f"{target} already exists (pass --force to replace it)")


def backup_name(directory: Path, now: datetime) -> Path:
    """`db backup DIR/`: a new file in DIR named after the time, e.g. crmctl-20261101T120000Z.db."""
    return directory / f"crmctl-{now.strftime('%Y%m%dT%H%M%SZ')}.db"


def check(db: Database) -> list[str]:
    """Problems found by integrity_check and foreign_key_check, a pending erasure, and
    catalog entries that collide under the case rule; [] when healthy.

    PostgreSQL checks its own pages and always enforces foreign keys: there, the case rule
    and a pending erasure are what is left to check."""
    if is_postgres(db):
        problems = _pg_case_collisions(db)
        if erasure.pending(db):
            problems.append(
                "an erasure is pending: deleted contacts' rows may still be in the tables' files "
                "until VACUUM removes them; the next crmctl command finishes it"
            )
        return problems
    problems = [row[0] for row in db.execute("PRAGMA integrity_check") if row[0] != "ok"]
    for table, rowid, parent, _ in db.execute("PRAGMA foreign_key_check"):
        problems.append(f"{table} row {rowid} refers to a missing {parent} row")
    problems.extend(case_collisions(db))
    if erasure.pending(db):
        problems.append(
            "an erasure is pending: deleted contacts' data may still be in the database file or its WAL "
            "while another process reads an older snapshot; the next crmctl command after it ends finishes it"
        )
    return problems


# SQLite's quote() of a text value
_QUOTED_NAME = "'''' || replace(name, '''', '''''') || ''''"


def _pg_case_collisions(db: Database, limit: int = 20) -> list[str]:
    """crmctl.store.schema.case_collisions in PostgreSQL's words (the same messages)."""
    found = [
        f"contacts {ids} have the same email under the case rule"
        for (ids,) in db.execute(
            "SELECT string_agg(CAST(id AS text), ', ' ORDER BY id) FROM contacts GROUP BY email_key "
            'HAVING count(*) > 1 ORDER BY email_key COLLATE "C" LIMIT ?',
            [limit],
        )
    ]
    found.extend(
        f"tags {names} are one name under the case rule"
        for (names,) in db.execute(
            f"SELECT string_agg({_QUOTED_NAME}, ' and ' ORDER BY id) FROM tags "
            'GROUP BY name_key HAVING count(*) > 1 ORDER BY name_key COLLATE "C" LIMIT ?',
            [limit],
        )
    )
    stale = db.execute(
        "SELECT (SELECT count(*) FROM contacts WHERE email_key IS DISTINCT FROM crmctl_fold(email)) "
        "+ (SELECT count(*) FROM tags WHERE name_key IS DISTINCT FROM crmctl_fold(name))"
    ).fetchone()[0]
    if stale:
        found.append(f"{stale} folded key{'s' if stale != 1 else ''} out of date (written without crmctl_fold)")
    return found
