"""`crmctl db copy`: a whole CRM from one database into an empty one, SQLite or PostgreSQL on
either side, ids included.

Rows stream through in batches (memory stays flat whatever the size): SQLite is read with
fetchmany and written with executemany; PostgreSQL is read with COPY … TO STDOUT and written
with COPY … FROM STDIN. The source is read in one snapshot (a read transaction; REPEATABLE
READ on PostgreSQL), the target is written in one transaction: a copy that fails leaves the
target as empty as it was. Afterwards each table's id generator is set past the highest id
the source ever gave out, so ids are never reused on the target either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from crmctl.errors import DatabaseError, Refused

# Every table of the schema, parents before children, with the key that orders its rows (the
# order SQLite's WITHOUT ROWID tables are stored in, so inserts append).
TABLES: tuple[tuple[str, str], ...] = (
    ("meta", "key"),
    ("contacts", "id"),
    ("tags", "id"),
    ("contact_tags", "tag_id, contact_id"),
    ("properties", "id"),
    ("property_values", "contact_id, property_id"),
    ("notes", "id"),
    ("conversations", "id"),
    ("messages", "id"),
    ("audit", "id"),
    ("audit_sets", "audit_id, chunk"),
    ("flow_runs", "id"),
    ("flow_definitions", "digest"),
    ("flow_enrolments", "flow, contact_id"),
    ("flow_checked", "text_sha256, checker"),
    ("flow_branches", "flow, step, contact_id"),
    ("suppressions", "digest"),
    ("outboxes", "name"),
    ("outbox_records", "id"),
)
# The tables whose ids are generated (INTEGER PRIMARY KEY on SQLite, an identity on PostgreSQL).
IDENTITIES = (
    "contacts",
    "tags",
    "properties",
    "notes",
    "conversations",
    "messages",
    "audit",
    "flow_runs",
    "outbox_records",
)
# Bookkeeping that each backend keeps for itself: migrations, sequences, statistics, the
# tables of crmctl's PostgreSQL functions.
_OWN_PREFIXES = ("sqlite_", "_sqlite_", "crmctl_")
BATCH = 2000
_JSONB_OID = 3802


def dialect(db: Any) -> str:
    return getattr(db, "dialect", "sqlite")


def copy_crm(source: Any, target: Any, *, target_name: str, batch: int = BATCH) -> dict[str, int]:
    """Copy every row of `source` into `target` (both opened, migrated crmctl databases).
    Returns the number of rows copied per table. Refuses a target that holds any row."""
    from crmctl.store import transaction

    _check_tables(source, target)
    counts: dict[str, int] = {}
    with _snapshot(source), transaction(target, deletes_contacts=False):
        _refuse_non_empty(target, target_name)  # under the target's write lock
        for table, key in TABLES:
            counts[table] = _copy_table(source, target, table, key, batch)
        _advance_identities(target, _highest_ids(source))
        if dialect(target) == "sqlite":
            broken = target.execute("PRAGMA foreign_key_check").fetchone()
            if broken is not None:
                raise DatabaseError(f"the copy would leave rows of {broken[0]} without their parent")
    return counts


# Checks -------------------------------------------------------------------------------------


def _check_tables(source: Any, target: Any) -> None:
    known = {table for table, _ in TABLES}
    for db, side in ((source, "source"), (target, "target")):
        tables = {t for t in db.table_names() if not t.startswith(_OWN_PREFIXES)}
        if missing := sorted(known - tables):
            raise DatabaseError(f"the {side} database has no table {missing[0]}: not a crmctl database of this version")
        if unknown := sorted(tables - known):
            raise DatabaseError(f"the {side} database has a table db copy does not know: {unknown[0]}")
    for table, _ in TABLES:
        theirs, ours = _columns(source, table), _columns(target, table)
        if sorted(theirs) != sorted(ours):
            raise DatabaseError(
                f"table {table} has columns ({', '.join(theirs)}) in the source and ({', '.join(ours)}) in the target"
            )


def _columns(db: Any, table: str) -> list[str]:
    return [d[0] for d in db.execute(f"SELECT * FROM {table} LIMIT 0").description]


def _refuse_non_empty(target: Any, name: str) -> None:
    holding = [t for t, _ in TABLES if t != "meta" and target.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()]
    if holding:
        raise Refused(
            f"{name} is not empty (it has rows in {', '.join(holding[:3])}{', …' if len(holding) > 3 else ''}): "
            "db copy only fills a new or empty database"
        )


# Reading ------------------------------------------------------------------------------------


@contextmanager
def _snapshot(source: Any) -> Iterator[None]:
    """Every table read as of one moment, while other processes may keep writing."""
    if dialect(source) == "sqlite":
        source.execute("BEGIN")
        try:
            yield
        finally:
            source.execute("ROLLBACK")
    else:
        source.conn.execute(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        finally:
            source.conn.execute(b"ROLLBACK")


def _rows(source: Any, table: str, columns: list[str], key: str, batch: int) -> Iterator[list[tuple]]:
    select = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {key}"
    if dialect(source) == "sqlite":
        cursor = source.conn.execute(select)
        while rows := cursor.fetchmany(batch):
            yield rows
        return
    types = [d.type_code for d in source.conn.execute(f"{select} LIMIT 0".encode()).description]
    with source.conn.cursor().copy(f"COPY ({select}) TO STDOUT".encode()) as copy:
        copy.set_types(types)
        rows = []
        for row in copy.rows():
            rows.append(row)
            if len(rows) == batch:
                yield rows
                rows = []
        if rows:
            yield rows


# Writing ------------------------------------------------------------------------------------


def _copy_table(source: Any, target: Any, table: str, key: str, batch: int) -> int:
    columns = _columns(source, table)
    count = 0
    if table == "meta":  # the target's migrations wrote theirs; the source's win (its suppression key)
        for rows in _rows(source, table, columns, key, batch):
            _executemany(target, "DELETE FROM meta WHERE key = ?", [(row[columns.index("key")],) for row in rows])
            count += _insert(target, table, columns, rows)
        return count
    if dialect(target) == "sqlite":
        for rows in _rows(source, table, columns, key, batch):
            count += _insert(target, table, columns, rows)
        return count
    convert = _converters(target, table, columns)
    with target.conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN".encode()) as copy:
        for rows in _rows(source, table, columns, key, batch):
            for row in rows:
                copy.write_row([c(v) for c, v in zip(convert, row, strict=True)] if convert else row)
            count += len(rows)
    return count


def _insert(target: Any, table: str, columns: list[str], rows: list[tuple]) -> int:
    marks = ", ".join("?" for _ in columns)
    _executemany(target, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    return len(rows)


def _executemany(db: Any, sql: str, rows: list[tuple]) -> None:
    if dialect(db) == "sqlite":
        db.conn.executemany(sql, rows)
    else:
        db.executemany(sql, rows)


def _converters(target: Any, table: str, columns: list[str]) -> list[Callable[[Any], Any]] | None:
    """Per column, how a value read from the source is written to a PostgreSQL target: jsonb
    columns (property values) take the JSON text of the number or string."""
    description = target.conn.execute(f"SELECT {', '.join(columns)} FROM {table} LIMIT 0".encode()).description
    if not any(d.type_code == _JSONB_OID for d in description):
        return None
    from crmctl.store.pg.values import to_jsonb_text

    def same(value: Any) -> Any:
        return value

    return [to_jsonb_text if d.type_code == _JSONB_OID else same for d in description]


# Ids never reused ---------------------------------------------------------------------------


def _highest_ids(source: Any) -> dict[str, int]:
    """Per table, the highest id the source ever gave out: its AUTOINCREMENT counter or
    identity sequence, and at least its highest id."""
    highest = {t: source.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0] for t in IDENTITIES}
    if dialect(source) == "sqlite":
        for name, seq in source.execute("SELECT name, seq FROM sqlite_sequence"):
            if name in highest:
                highest[name] = max(highest[name], seq)
    else:
        for table in IDENTITIES:
            sequence = source.execute("SELECT pg_get_serial_sequence(?, 'id')", [table]).fetchone()[0]
            if sequence is not None:
                last, called = source.execute(f"SELECT last_value, is_called FROM {sequence}").fetchone()
                highest[table] = max(highest[table], last if called else last - 1)
    return highest


def _advance_identities(target: Any, highest: dict[str, int]) -> None:
    if dialect(target) == "sqlite":
        tables = target.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'")
        autoincrement = {row[0] for row in tables}
        for table in IDENTITIES:
            if table in autoincrement and highest[table] > 0:
                target.execute("DELETE FROM sqlite_sequence WHERE name = ?", [table])
                target.execute("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)", [table, highest[table]])
        return
    for table in IDENTITIES:
        if highest[table] > 0:
            # ALTER … RESTART is transactional (setval is not): a copy that fails moves nothing.
            target.execute(f"ALTER TABLE {table} ALTER COLUMN id RESTART WITH {int(highest[table]) + 1}")
