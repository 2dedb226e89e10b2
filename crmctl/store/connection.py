"""Open a crmctl database: locate it, check it, set pragmas, apply migrations."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, cast

from crmctl import folding
from crmctl.errors import CaseCollisions, CrmError, DatabaseError, LockTimeout
from crmctl.store import erasure, holder
from crmctl.store.files import create_private_file
from crmctl.store.pg import is_postgres
from crmctl.store.pg.url import PgLocation, is_postgres_url
from crmctl.store.properties import register_functions
from crmctl.testhook import pause_point

if TYPE_CHECKING:
    from sqlite_utils import Database

    from crmctl.store.sqlite_database import CrmDatabase

DEFAULT_LOCK_TIMEOUT = 30.0
# The oldest SQLite crmctl's SQL runs on: imports use UPDATE … FROM (3.33.0); upserts (3.24)
# and window functions (3.25) are older. The JSON functions that build contact records are
# built in from 3.38.0 and a compile-time option before that, so older libraries are probed.
SQLITE_MINIMUM = (3, 33, 0)
SQLITE_JSON_BUILT_IN = (3, 38, 0)


def default_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "crmctl" / "crmctl.db"


def resolve_path(explicit: str | None) -> Path:
    """--db, then CRMCTL_DB, then the per-user default. A `postgresql://` URL gives a
    PgLocation, which stands in for the Path (str() is the URL without its password)."""
    chosen = explicit or os.environ.get("CRMCTL_DB")
    if is_postgres_url(chosen):
        return cast(Path, PgLocation(cast(str, chosen)))
    return Path(chosen).expanduser() if chosen else default_path()


def crm_database(conn: sqlite3.Connection) -> CrmDatabase:
    """A sqlite-utils Database for the connection. sqlite-utils is imported here, when a SQLite
    file is opened: a PostgreSQL command never loads it."""
    from crmctl.store.sqlite_database import CrmDatabase

    return CrmDatabase(conn, execute_plugins=False)


def open_db(
    path: Path, *, create: bool = False, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, resolving: bool = False
) -> Database:
    """`resolving=True` is for the commands that resolve case collisions (see
    m008_folded_keys): they may run while that upgrade waits for them.

    A PgLocation (see resolve_path) opens a PostgreSQL database instead: a PgDatabase, which
    has the part of Database's API the store uses."""
    if isinstance(path, PgLocation):
        from crmctl.store.pg import connection as pg

        return cast("Database", pg.open_db(path, create=create, lock_timeout=lock_timeout, resolving=resolving))
    return _open_or_create(path, create=create, lock_timeout=lock_timeout, resolving=resolving)[0]


@contextmanager
def initialised(path: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[Database]:
    """For `crmctl init`: the database at `path`, created if missing. When this call created
    it and the block fails, the file, its companions and the directories made for it are
    removed again: a failed init leaves nothing behind."""
    if isinstance(path, PgLocation):
        from crmctl.store.pg import connection as pg

        with pg.initialised(path, lock_timeout=lock_timeout) as pg_db:
            yield cast("Database", pg_db)
        return
    db, created = _open_or_create(path, create=True, lock_timeout=lock_timeout)
    try:
        yield db
    except BaseException:
        if created is not None:
            db.close()
            _remove_created(path, created)
        raise


def check_sqlite_version() -> None:
    """Refuse an SQLite library older than the features crmctl's SQL uses."""
    found = sqlite3.sqlite_version_info
    needed = ".".join(map(str, SQLITE_MINIMUM))
    if found < SQLITE_MINIMUM:
        raise DatabaseError(f"SQLite {sqlite3.sqlite_version} is too old: crmctl needs SQLite {needed} or later")
    if found < SQLITE_JSON_BUILT_IN and not _has_json_functions():
        raise DatabaseError(
            f"SQLite {sqlite3.sqlite_version} was built without the JSON functions: crmctl needs SQLite "
            f"{'.'.join(map(str, SQLITE_JSON_BUILT_IN))} or later, or {needed} or later built with JSON1"
        )


def _has_json_functions() -> bool:
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("SELECT json_object('a', 1)")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def _open_or_create(
    path: Path, *, create: bool, lock_timeout: float, resolving: bool = False
) -> tuple[Database, list[Path] | None]:
    """The database, and what this call created for it (directories, outermost first), or
    None when the file was already there."""
    check_sqlite_version()
    try:
        path.is_symlink() and path.exists()  # an unusable name (too long, …) fails here, as an OSError
    except OSError as exc:
        raise DatabaseError(f"cannot open {path}: {exc.strerror}") from None
    if path.is_symlink():
        raise DatabaseError(
            f"{path} is a symbolic link (to {os.readlink(path)}); crmctl does not open a database "
            "through a link: give the real path"
        )
    created = None
    if not path.exists():
        if not create:
            raise DatabaseError(f"no database at {path} (run `crmctl init` first)")
        created = _create_private_file(path)
    try:
        return _open(path, allow_empty=create, lock_timeout=lock_timeout, resolving=resolving), created
    except BaseException:
        if created is not None:
            _remove_created(path, created)
        raise


def _open(path: Path, *, allow_empty: bool, lock_timeout: float, resolving: bool) -> Database:
    conn = None
    try:
        conn = sqlite3.connect(str(path), timeout=lock_timeout)
        db = crm_database(conn)
        db.lock_timeout = lock_timeout
        db.migration_notes = []
        _configure(db)
        _check_identity(db, path, allow_empty=allow_empty)
        _use_wal(db)  # only once the file is known to be ours: a foreign file is left as it was
        _migrate(db, path, resolving=resolving)
        if erasure.pending(db):
            erasure.finish(db)
        return db
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, sqlite3.DatabaseError):
            raise _translate(exc, path) from None
        raise


def _create_private_file(path: Path) -> list[Path]:
    """Create the database file, and its missing directories (owner-only, like the file).
    Returns the directories made, outermost first."""
    made: list[Path] = []
    if not path.parent.is_dir():
        if path.parent.exists():
            raise DatabaseError(f"cannot create {path}: {path.parent} is not a directory")
        try:
            for directory in reversed([path.parent, *path.parent.parents]):
                if not directory.is_dir():
                    directory.mkdir(mode=0o700)
                    made.append(directory)
        except OSError as exc:
            _remove_directories(made)
            raise DatabaseError(f"cannot create directory {path.parent}: {exc.strerror}") from None
    try:
        # SQLite gives the -wal and -shm files the same mode as the database file.
        create_private_file(path, exclusive=True)
    except DatabaseError:
        _remove_directories(made)  # the file is not ours: it may be another process's
        raise
    return made


def _remove_created(path: Path, directories: list[Path]) -> None:
    """Undo a creation: the file and its companions, then the directories made for it."""
    for suffix in ("-wal", "-shm", "-journal", "-holder", ""):
        try:
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        except OSError:
            pass
    _remove_directories(directories)


def _remove_directories(directories: list[Path]) -> None:
    """Innermost first, and only while they are empty."""
    for directory in reversed(directories):
        try:
            directory.rmdir()
        except OSError:
            break


def _configure(db: Database) -> None:
    folding.register(db.conn)  # the folded key columns' triggers call it
    register_functions(db)  # records render decimals exactly through one of them
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA secure_delete = ON")
    db.execute("PRAGMA synchronous = FULL")


def _use_wal(db: Database) -> None:
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    if mode != "wal":
        db.execute("PRAGMA journal_mode = WAL")


def _check_identity(db: Database, path: Path, *, allow_empty: bool) -> None:
    tables = set(db.table_names())
    if not tables:
        if allow_empty:
            return
        raise DatabaseError(f"{path} is an empty database, not a crmctl one (run `crmctl init`)")
    if "meta" not in tables:
        raise DatabaseError(f"{path} is not a crmctl database")
    row = db.execute("SELECT value FROM meta WHERE key = 'application'").fetchone()
    if not row or row[0] != "crmctl":
        raise DatabaseError(f"{path} is not a crmctl database")


def _migrate(db: Database, path: Path, *, resolving: bool = False) -> None:
    from crmctl.store.schema import FOLDED_KEYS, MIGRATION_SET, known_migrations, migrations

    applied = {m.name for m in migrations.applied(db)}
    newer = sorted(applied - set(known_migrations()))
    if newer:
        raise DatabaseError(
            f"{path} has a newer schema than this crmctl (migration {newer[-1]} of set "
            f"'{MIGRATION_SET}'); upgrade crmctl"
        )
    if not migrations.pending(db):
        return
    # Under the write lock, so processes that open an old file at the same moment queue here
    # and the later ones find the work done (apply() re-reads what is applied). Foreign keys
    # are off meanwhile, as SQLite's table-rebuild procedure requires (a DROP TABLE with them
    # on cascades into the child rows); they are checked as a whole before the commit.
    db.execute("PRAGMA foreign_keys = OFF")  # outside a transaction, or it does nothing
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        db.execute("PRAGMA foreign_keys = ON")
        raise _lock_error(exc, db) from None
    holder.announce(str(path))
    waiting: CaseCollisions | None = None
    try:
        try:
            migrations.apply(db)
        except CaseCollisions as exc:  # the earlier migrations stand; this one waits
            if not resolving or migrations.pending(db)[0].name != FOLDED_KEYS:
                waiting = exc
        broken = db.execute("PRAGMA foreign_key_check").fetchone()
        if broken is not None:
            raise DatabaseError(f"{path}: the schema upgrade would leave {broken[0]} rows without their parent")
        db.execute("COMMIT")
    except BaseException:
        db.rollback()
        raise
    finally:
        holder.withdraw(str(path))
        db.execute("PRAGMA foreign_keys = ON")
    if waiting is not None:
        raise waiting


def _translate(exc: sqlite3.DatabaseError, path: Path) -> CrmError:
    text = str(exc)
    if "file is not a database" in text or "file is encrypted" in text:
        return DatabaseError(f"{path} is not a SQLite database")
    if "readonly" in text or "read-only" in text:
        if os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK):
            return DatabaseError(
                f"the directory {path.parent} is read-only: crmctl needs to create {path.name}-wal beside the database"
            )
        return DatabaseError(f"{path} is read-only: crmctl needs to write to it")
    if "unable to open" in text:
        return DatabaseError(f"cannot open {path}: {text}")
    if "locked" in text or "busy" in text:
        return LockTimeout(f"{path} is locked (held by {holder.describe(str(path))})")
    return DatabaseError(f"{path}: {text}")


@contextmanager
def transaction(db: Database, *, dry_run: bool = False, deletes_contacts: bool = True) -> Iterator[Database]:
    """One write transaction for a whole command or flow run.

    BEGIN IMMEDIATE takes the write lock up front, so a second writer queues on the busy
    timeout instead of failing later on a lock upgrade. A dry run does all the work and
    rolls it back, so it reports exactly what a real run would have done.

    `deletes_contacts=False` promises a transaction that deletes no contact or tag and
    writes references only to rows read inside it (a scope's ids, resolved tag ids), under
    the write lock: no reference can dangle, so SQLite's per-row foreign key lookups are
    skipped (they are a third of a bulk tag add). Deletes need them for their cascades.

    On PostgreSQL: BEGIN, then the CRM's advisory write lock (crmctl.store.pg.connection).
    """
    if is_postgres(db):
        from crmctl.store.pg import connection as pg

        with pg.transaction(db, dry_run=dry_run) as pg_db:  # type: ignore[arg-type]
            yield cast("Database", pg_db)
        return
    checked = deletes_contacts
    if not checked:
        db.execute("PRAGMA foreign_keys = OFF")  # only outside a transaction; restored below
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if not checked:
            db.execute("PRAGMA foreign_keys = ON")
        raise _lock_error(exc, db) from None
    db_file = _file_of(db)
    holder.announce(db_file)
    try:
        pause_point("transaction:begin")
        with db.atomic():
            yield db
        if dry_run:
            db.rollback()
        else:
            pause_point("transaction:commit")
            db.commit()
            pause_point("transaction:committed")
    except sqlite3.OperationalError as exc:
        db.rollback()
        raise _lock_error(exc, db) from None
    except BaseException:
        db.rollback()
        raise
    finally:
        holder.withdraw(db_file)
        if not checked:
            db.execute("PRAGMA foreign_keys = ON")


def _file_of(db: Database) -> str:
    return db.execute("PRAGMA database_list").fetchone()[2]


def _lock_error(exc: sqlite3.OperationalError, db: Database) -> Exception:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return LockTimeout.held_by(holder.describe(_file_of(db)), getattr(db, "lock_timeout", None))
    if "readonly" in text:
        return DatabaseError(f"{_file_of(db)} is read-only: crmctl needs to write to it")
    return DatabaseError(text)


def open_read_only(path: Path) -> Database | None:
    """The database for a quick look (shell completion): read-only, no migrations, no lock
    waits. None when there is no file."""
    if isinstance(path, PgLocation):
        from crmctl.store.pg import connection as pg

        return cast("Database | None", pg.open_read_only(path))
    if not path.is_file():
        return None
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=0.2)
    return crm_database(conn)
