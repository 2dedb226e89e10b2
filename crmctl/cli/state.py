"""What the root command's options decide for every subcommand."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from crmctl.store import open_db, resolve_path
from crmctl.store.connection import initialised


@dataclass
class GlobalOptions:
    db_path: str | None = None


options = GlobalOptions()


def database_path() -> Path:
    """--db, then $CRMCTL_DB, then the per-user default. An empty value is a mistake (an unset
    variable in a script), never a reason to fall back to the default database."""
    import os

    from crmctl.errors import UsageError

    if options.db_path == "":
        raise UsageError("the database path is empty (--db '')")
    if options.db_path is None and os.environ.get("CRMCTL_DB") == "":
        raise UsageError("the database path is empty (CRMCTL_DB is set but empty)")
    return resolve_path(options.db_path)


def open_database(*, create: bool = False, lock_timeout: float | None = None, resolving: bool = False):
    """`resolving`: a command that can resolve case collisions, so it runs while they block the
    schema upgrade (tag rename/delete, delete, contact show/list, log, db check/backup)."""
    kwargs = {} if lock_timeout is None else {"lock_timeout": lock_timeout}
    db = open_db(database_path(), create=create, resolving=resolving, **kwargs)
    for note in getattr(db, "migration_notes", ()):  # e.g. the properties a migration declared
        sys.stderr.write(note + "\n")
    return db


def initialised_database():
    """`crmctl init`'s database: created if missing, and removed again if init then fails."""
    return initialised(database_path())


def stdin_lines():
    return sys.stdin


def stdin_text() -> str:
    """All of stdin as UTF-8 text; bytes that are not UTF-8 are refused with their line."""
    from crmctl.errors import InvalidInput

    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(f"standard input, line {line}: not valid UTF-8 text") from None


def is_terminal(stream=None) -> bool:
    stream = stream or sys.stdin
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
