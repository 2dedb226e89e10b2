"""Open a crmctl database on PostgreSQL: connect, check it is crmctl's, migrate; the write
transaction and its lock.

One writer at a time per CRM, as SQLite's BEGIN IMMEDIATE gives: every write transaction takes a
transaction-level advisory lock keyed by the schema, waiting at most --lock-timeout (PostgreSQL's
lock_timeout), and a process that gives up names the holder from pg_stat_activity.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from crmctl.errors import DatabaseError, LockTimeout, NoDatabase
from crmctl.store.pg.database import DEFAULT_LOCK_TIMEOUT, PgDatabase
from crmctl.store.pg.url import PgLocation
from crmctl.testhook import pause_point

if TYPE_CHECKING:
    import psycopg

MISSING_DRIVER = "PostgreSQL support needs psycopg: pip install 'crmctl[postgres]'"
LOCK_NAME = "crmctl-write"
# PostgreSQL's lock_timeout = 0 waits forever; SQLite's busy timeout 0 does not wait at all.
_SHORTEST_WAIT_MS = 1
_BUSY_SERVER = ("53300", "57P03")  # too_many_connections, cannot_connect_now
_APPLICATION_NAME_BYTES = 63  # NAMEDATALEN - 1: the server cuts longer names


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise DatabaseError(MISSING_DRIVER) from None
    return psycopg


_CRMCTL_APPLICATION = re.compile(r"crmctl(?: [a-z ]*)? (?P<pid>[0-9]+)@(?P<host>\S+)")


def application_name(argv: list[str] | None = None) -> str:
    """`crmctl <command words> pid@host`: what pg_stat_activity shows for this process."""
    from crmctl.store.holder import command_words

    words = " ".join(["crmctl", *command_words(sys.argv[1:] if argv is None else argv)])
    suffix = f" {os.getpid()}@{socket.gethostname()}"
    room = _APPLICATION_NAME_BYTES - len(suffix.encode())
    return words.encode()[: max(room, 6)].decode(errors="ignore") + suffix


def connect(location: PgLocation, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> PgDatabase:
    """A connection to the server, in autocommit mode, searching only the CRM's schema."""
    psycopg = _psycopg()
    try:
        conn = psycopg.connect(
            location.url, autocommit=True, prepare_threshold=None, application_name=application_name()
        )
    except psycopg.Error as exc:
        if exc.sqlstate in _BUSY_SERVER:  # retrying later may succeed: exit 75
            raise LockTimeout(f"cannot connect to {location}: {first_line(exc)}") from None
        raise DatabaseError(f"cannot connect to {location}: {first_line(exc)}") from None
    adapt(conn)
    db = PgDatabase(conn, location, lock_timeout=lock_timeout)
    try:
        configure(db)
    except BaseException:
        conn.close()
        raise
    return db


def configure(db: PgDatabase) -> None:
    """The session's settings, in one round trip: only the CRM's schema on the search path, and
    no JIT compilation. A filter compiles to one expression with a branch per test; JIT spent
    32 s compiling a 300-test `or` that runs in 8 ms without it (README: PostgreSQL)."""
    db.conn.execute(
        "SELECT pg_catalog.set_config('search_path', %s, false), pg_catalog.set_config('jit', 'off', false)",
        [quote_ident(db.schema)],
    )


def adapt(conn: psycopg.Connection) -> None:
    """Values cross as they do with SQLite, which has no booleans and no decimals: Python
    booleans are sent as 1/0; a boolean result (`SELECT a = b`) reads as 1/0; a numeric result
    (sum() of bigints, a ::numeric) reads as an int when it has no fractional part, else a float."""
    from psycopg.adapt import Loader
    from psycopg.types.numeric import IntDumper

    class BoolAsInt(IntDumper):
        def dump(self, obj):  # type: ignore[no-untyped-def]
            return b"1" if obj else b"0"

    class BoolAsIntLoader(Loader):
        def load(self, data):  # type: ignore[no-untyped-def]
            return 1 if bytes(data) == b"t" else 0

    class NumericAsNumber(Loader):
        def load(self, data):  # type: ignore[no-untyped-def]
            text = bytes(data).decode()
            if text.lstrip("-").isdigit():
                return int(text)
            return float(text)  # NaN and ±Infinity included

    conn.adapters.register_dumper(bool, BoolAsInt)
    conn.adapters.register_loader("bool", BoolAsIntLoader)
    conn.adapters.register_loader("numeric", NumericAsNumber)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def open_db(
    location: PgLocation, *, create: bool = False, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, resolving: bool = False
) -> PgDatabase:
    return _open(location, create=create, lock_timeout=lock_timeout, resolving=resolving)[0]


@contextmanager
def initialised(location: PgLocation, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[PgDatabase]:
    """For `crmctl init`: the CRM in `location`'s schema, created (schema included) if missing.
    When this call created it and the block fails, what it created is dropped again."""
    db, created = _open(location, create=True, lock_timeout=lock_timeout)
    try:
        yield db
    except BaseException:
        if created is not None:
            _drop_created(db, schema_created=created)
        db.close()
        raise


def _open(
    location: PgLocation, *, create: bool, lock_timeout: float, resolving: bool = False
) -> tuple[PgDatabase, bool | None]:
    """The database, and what this call created: None when the CRM was already there, else
    whether the schema itself was created (rather than found empty)."""
    psycopg = _psycopg()
    db = connect(location, lock_timeout=lock_timeout)
    created: bool | None = None
    try:
        schema_exists = _schema_exists(db)
        if not schema_exists:
            if not create:
                raise NoDatabase(f"no schema {db.schema!r} in {location} (run `crmctl init` first)")
            db.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(db.schema)}")
        empty = _check_identity(db, allow_empty=create)
        if empty:
            created = not schema_exists
        try:
            _migrate(db, resolving=resolving)
        except BaseException:
            if created is not None:
                _drop_created(db, schema_created=created)
            raise
        _finish_erasure(db)
        return db, created
    except psycopg.Error as exc:
        db.close()
        raise DatabaseError(f"{location}: {first_line(exc)}") from None
    except BaseException:
        db.close()
        raise


def _finish_erasure(db: PgDatabase) -> None:
    """As on SQLite: a delete whose VACUUM did not run (a crash right after its commit) is
    finished by the next command that opens the CRM."""
    from crmctl.store import erasure

    if erasure.pending(db):  # type: ignore[arg-type]  # the store's functions take either handle
        erasure.finish(db)  # type: ignore[arg-type]


def _schema_exists(db: PgDatabase) -> bool:
    row = db.conn.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", [db.schema]).fetchone()
    return row is not None


def _check_identity(db: PgDatabase, *, allow_empty: bool) -> bool:
    """Whether the schema is empty (allowed for init only); refuse a schema that is not crmctl's."""
    tables = set(db.table_names())
    if not tables:
        if allow_empty:
            return True
        raise NoDatabase(f"schema {db.schema!r} in {db.location} is empty, not a crmctl database (run `crmctl init`)")
    if "meta" not in tables:
        raise DatabaseError(f"schema {db.schema!r} in {db.location} is not a crmctl database")
    row = db.execute("SELECT value FROM meta WHERE key = 'application'").fetchone()
    if not row or row[0] != "crmctl":
        raise DatabaseError(f"schema {db.schema!r} in {db.location} is not a crmctl database")
    return False


def _migrate(db: PgDatabase, *, resolving: bool = False) -> None:
    from crmctl.store.pg import schema

    schema.check_not_newer(db, str(db.location))
    if not schema.pending(db):
        return
    with _locked(db):
        schema.migrate(db, str(db.location))


def _drop_created(db: PgDatabase, *, schema_created: bool) -> None:
    """Undo a failed init: the schema it created, or everything it put into an empty one."""
    if db.in_transaction:
        db.rollback()
    name = quote_ident(db.schema)
    if schema_created:
        db.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        return
    for (table,) in db.conn.execute(
        "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = %s", [db.schema]
    ).fetchall():
        db.execute(f"DROP TABLE IF EXISTS {name}.{quote_ident(table)} CASCADE")
    for (function,) in db.conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n "
        "ON n.oid = p.pronamespace WHERE n.nspname = %s",
        [db.schema],
    ).fetchall():
        db.execute(f"DROP FUNCTION IF EXISTS {function} CASCADE")


# The write lock


def lock_key(schema: str) -> int:
    """The advisory lock key of a CRM: a signed 64-bit hash of its schema name."""
    digest = hashlib.sha256(f"{schema}\0{LOCK_NAME}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _locked(db: PgDatabase) -> Iterator[PgDatabase]:
    """BEGIN, the CRM's write lock (waiting at most db.lock_timeout), the block, COMMIT."""
    begin(db)
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise


def begin(db: PgDatabase) -> None:
    """BEGIN and take the write lock; LockTimeout (naming the holder) when it stays busy."""
    errors = _psycopg().errors
    milliseconds = max(_SHORTEST_WAIT_MS, int(db.lock_timeout * 1000))
    db.conn.execute(b"BEGIN")
    try:
        db.conn.execute(f"SET LOCAL lock_timeout = '{milliseconds}ms'".encode())
        db.conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(db.schema)])
    except errors.LockNotAvailable:
        db.rollback()
        raise lock_timeout_error(db) from None
    except BaseException:
        db.rollback()
        raise


def lock_timeout_error(db: PgDatabase) -> LockTimeout:
    return LockTimeout.held_by(describe_holder(db), db.lock_timeout)


def describe_holder(db: PgDatabase) -> str:
    """`application_name, pid N, host H` of the session holding the CRM's write lock."""
    key = lock_key(db.schema)
    try:
        row = db.conn.execute(
            "SELECT a.application_name, a.pid, coalesce(a.client_hostname, host(a.client_addr), 'local') "
            "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) "
            "AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid",
            [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
        ).fetchone()
    except Exception:  # a holder we cannot see is still a holder
        row = None
        if db.in_transaction:
            db.rollback()
    if row is None:
        return "an unidentified session (pg_locks does not show the holder)"
    name, pid, host = row
    client = _CRMCTL_APPLICATION.fullmatch(name or "")
    if client:  # a crmctl process: its own pid and host, as its application_name says
        return f"{name}, pid {client['pid']}, host {client['host']}"
    return f"{name or 'a session without application_name'}, server process pid {pid}, host {host}"


@contextmanager
def transaction(db: PgDatabase, *, dry_run: bool = False) -> Iterator[PgDatabase]:
    """One write transaction for a whole command or flow run (see crmctl.store.transaction)."""
    from crmctl.store.pg.schema import identity_state

    errors = _psycopg().errors
    identities: dict[str, int | None] = {}
    begin(db)
    try:
        identities = identity_state(db)
        pause_point("transaction:begin")
        with db.atomic():
            yield db
        if dry_run:
            _roll_back(db, identities)
        else:
            pause_point("transaction:commit")
            db.commit()
            pause_point("transaction:committed")
    except errors.LockNotAvailable:
        _roll_back(db, identities)
        raise lock_timeout_error(db) from None
    except BaseException:
        _roll_back(db, identities)
        raise


def _roll_back(db: PgDatabase, identities: dict[str, int | None]) -> None:
    """Roll back, ids included: sequences are not transactional, SQLite's id counters are. So a
    dry run leaves the next ids as they were. They are put back under the write lock, before the
    rollback releases it; in a failed transaction (no statement runs) or on a lost connection
    they stay moved on, which leaves a gap and never reuses an id."""
    from psycopg.pq import TransactionStatus

    from crmctl.store.pg.schema import restore_identities

    if not db.conn.closed and db.conn.info.transaction_status == TransactionStatus.INTRANS:
        with suppress(_psycopg().Error):
            restore_identities(db, identities)
    db.rollback()


def vacuum_after_commit(db: PgDatabase, tables: list[str] | tuple[str, ...]) -> None:
    """After a delete committed: VACUUM the tables it deleted from, so the dead rows' space is
    reclaimed. Outside any transaction (VACUUM cannot run in one); failures are left to autovacuum."""
    psycopg = _psycopg()
    if db.in_transaction:
        raise RuntimeError("vacuum_after_commit: a transaction is still open")
    for table in tables:
        try:
            db.conn.execute(f"VACUUM {quote_ident(db.schema)}.{quote_ident(table)}".encode())
        except psycopg.Error:
            pass


def open_read_only(location: PgLocation) -> PgDatabase | None:
    """For a quick look (shell completion): no migrations, a short connect timeout; None when
    the CRM cannot be reached."""
    try:
        psycopg = _psycopg()
        conn = psycopg.connect(location.url, autocommit=True, connect_timeout=2, application_name=application_name())
    except Exception:
        return None
    adapt(conn)
    db = PgDatabase(conn, location)
    configure(db)
    conn.execute(b"SET default_transaction_read_only = on")
    return db
