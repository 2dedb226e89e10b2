"""Scopes: temporary tables of contact ids (INTEGER PRIMARY KEY, so always in id order).

Scope names are internal identifiers, never user text, which is why they may be formatted
into SQL. Every bulk action is one statement per table over such a scope.

A join puts the scope first with CROSS JOIN: SQLite keeps no statistics for temp tables,
and without that it may scan every contact and probe the scope for each one, visiting the
contacts in index order instead of id order. PostgreSQL (`temp.` is its pg_temp schema) has no
CROSS JOIN … ON: there it is a plain JOIN (`scope_join`), and order comes from ORDER BY.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from crmctl.folding import FOLD

if TYPE_CHECKING:
    from sqlite_utils import Database

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
CHUNK = 5000


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"bad scope name {name!r}")
    return name


def is_pg(db: Database) -> bool:
    return getattr(db, "dialect", "sqlite") == "postgresql"


def scope_join(db: Database) -> str:
    """The join that puts a scope first: CROSS JOIN on SQLite (which fixes the order), JOIN on
    PostgreSQL."""
    return "JOIN" if is_pg(db) else "CROSS JOIN"


def _executemany(db: Database, sql: str, rows: list[tuple]) -> None:
    if is_pg(db):
        db.executemany(sql, rows)  # type: ignore[attr-defined]  # PgDatabase, translated
    else:
        db.conn.executemany(sql, rows)


def create(db: Database, name: str) -> str:
    name = _checked(name)
    db.execute(f"DROP TABLE IF EXISTS temp.{name}")
    db.execute(f"CREATE TEMP TABLE {name} (id INTEGER PRIMARY KEY)")
    return name


def drop(db: Database, name: str) -> None:
    db.execute(f"DROP TABLE IF EXISTS temp.{_checked(name)}")


def count(db: Database, name: str) -> int:
    return db.execute(f"SELECT count(*) FROM temp.{_checked(name)}").fetchone()[0]


def filled(db: Database, name: str) -> int:
    """The size of a scope that is now complete. On PostgreSQL its statistics are gathered
    first: autovacuum never sees temporary tables, and without statistics the planner takes a
    100k-id scope for a small one (a tag remove's DELETE scanned all 2M tag links: 0.94 s
    against 0.13 s once analysed, for 20-35 ms of ANALYZE)."""
    if is_pg(db):
        db.execute(f"ANALYZE temp.{_checked(name)}")
    return count(db, name)


def ids(db: Database, name: str, limit: int | None = None) -> list[int]:
    sql = f"SELECT id FROM temp.{_checked(name)} ORDER BY id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [row[0] for row in db.execute(sql)]


def _fill(db: Database, name: str) -> str:
    """`INSERT … SELECT` into an empty scope, dropping repeated ids: SQLite ignores them (cheap
    there); PostgreSQL's ON CONFLICT is a speculative insertion per row, so it selects DISTINCT."""
    if is_pg(db):
        return f"INSERT INTO temp.{_checked(name)}(id) SELECT DISTINCT"
    return f"INSERT OR IGNORE INTO temp.{_checked(name)}(id) SELECT"


def add_all(db: Database, name: str) -> None:
    """Fill the empty scope `name` with every contact."""
    db.execute(f"{_fill(db, name)} id FROM contacts ORDER BY id")


def add_where(db: Database, name: str, condition_sql: str, params: Sequence, ids: tuple | None = None) -> None:
    """Fill the empty scope `name` with the contacts a filter selects. condition_sql is
    compiled by the filter language: parameterised, over alias `c`.

    `ids` is the same filter as a SELECT of contact ids from the tag, property and
    conversation indexes, when it has one: used instead, it never reads the contacts' rows
    (their ids there always name a contact: foreign keys are enforced on every write)."""
    if ids is not None:
        sql, ids_params = ids
        db.execute(f"{_fill(db, name)} * FROM ({sql}) AS g ORDER BY 1", list(ids_params))
        return
    db.execute(f"{_fill(db, name)} c.id FROM contacts AS c WHERE {condition_sql} ORDER BY c.id", list(params))


def copy(db: Database, source: str, target: str) -> None:
    create(db, target)
    db.execute(f"INSERT INTO temp.{_checked(target)}(id) SELECT id FROM temp.{_checked(source)}")


def copy_except(db: Database, source: str, other: str, target: str) -> None:
    """target := the ids of source that are not in other."""
    create(db, target)
    kept = "s.id NOT IN (SELECT o.id FROM temp.{other} AS o)"
    if is_pg(db):  # an anti-join, as in narrow
        kept = "NOT EXISTS (SELECT 1 FROM temp.{other} AS o WHERE o.id = s.id)"
    db.execute(
        f"INSERT INTO temp.{_checked(target)}(id) SELECT s.id FROM temp.{_checked(source)} AS s "
        f"WHERE {kept.format(other=_checked(other))}"
    )


def add_scope(db: Database, name: str, other: str) -> None:
    """Add other's ids to name (which holds none of them)."""
    db.execute(f"INSERT INTO temp.{_checked(name)}(id) SELECT id FROM temp.{_checked(other)}")


def keep_where(db: Database, source: str, target: str, condition_sql: str, params: Sequence) -> None:
    """target := the contacts of source that satisfy a compiled condition."""
    create(db, target)
    db.execute(
        f"INSERT INTO temp.{_checked(target)}(id) SELECT c.id FROM temp.{_checked(source)} AS s "
        f"{scope_join(db)} contacts AS c ON c.id = s.id WHERE {condition_sql} ORDER BY c.id",
        list(params),
    )


def move_where(
    db: Database, source: str, target: str, condition_sql: str, params: Sequence, ids: tuple | None = None
) -> None:
    """Move the contacts of source that satisfy a compiled condition into target (empty).

    With `ids` (the condition as a SELECT of ids from the indexes) the contacts' rows are not read."""
    source, target = _checked(source), _checked(target)
    if ids is not None:
        ids_sql, ids_params = ids
        db.execute(
            f"INSERT INTO temp.{target}(id) SELECT s.id FROM temp.{source} AS s WHERE s.id IN ({ids_sql})",
            list(ids_params),
        )
    else:
        db.execute(
            f"INSERT INTO temp.{target}(id) SELECT c.id FROM temp.{source} AS s "
            f"{scope_join(db)} contacts AS c ON c.id = s.id WHERE {condition_sql} ORDER BY c.id",
            list(params),
        )
    db.execute(f"DELETE FROM temp.{source} WHERE id IN (SELECT id FROM temp.{target})")


# Identifiers (ids and emails given on the command line or stdin) --------------------------


def load_identifiers(db: Database, identifiers: Iterable[tuple[int | None, str | None, str]]) -> None:
    """Stream (id, email, raw) triples into temp.wanted without holding them all in memory."""
    db.execute("DROP TABLE IF EXISTS temp.wanted")
    if is_pg(db):
        db.execute(
            "CREATE TEMP TABLE wanted (pos BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id BIGINT, "
            'email_key TEXT COLLATE "C", raw TEXT COLLATE "C")'
        )
    else:
        db.execute("CREATE TEMP TABLE wanted (pos INTEGER PRIMARY KEY, id INTEGER, email_key TEXT, raw TEXT)")
    batch: list[tuple] = []
    for triple in identifiers:
        batch.append(triple)
        if len(batch) >= CHUNK:
            _insert_wanted(db, batch)
            batch = []
    if batch:
        _insert_wanted(db, batch)


def _insert_wanted(db: Database, batch: list[tuple]) -> None:
    # Emails are matched by their folded key (crmctl.folding), through the unique index.
    _executemany(db, f"INSERT INTO temp.wanted(id, email_key, raw) VALUES (?1, {FOLD}(?2), ?3)", batch)


def missing_identifiers(db: Database, limit: int) -> tuple[list[str], int]:
    unmatched = """
        FROM temp.wanted AS w
        WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = w.id)
          AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.email_key = w.email_key)
    """
    total = db.execute(f"SELECT count(DISTINCT raw) {unmatched}").fetchone()[0]
    if is_pg(db):  # DISTINCT … ORDER BY needs the order in the list: each raw at its first place
        listed = f"SELECT raw {unmatched} GROUP BY raw ORDER BY min(pos) LIMIT {int(limit)}"
    else:
        listed = f"SELECT DISTINCT raw {unmatched} ORDER BY pos LIMIT {int(limit)}"
    shown = [r[0] for r in db.execute(listed)]
    return shown, total


def add_identified(db: Database, name: str) -> None:
    name, join = _checked(name), scope_join(db)
    db.execute(
        f"INSERT OR IGNORE INTO temp.{name}(id) SELECT c.id FROM temp.wanted AS w {join} contacts AS c ON c.id = w.id"
    )
    db.execute(
        f"INSERT OR IGNORE INTO temp.{name}(id) "
        f"SELECT c.id FROM temp.wanted AS w {join} contacts AS c ON c.email_key = w.email_key"
    )
    db.execute("DROP TABLE IF EXISTS temp.wanted")


def narrow(db: Database, name: str, condition_sql: str, params: Sequence) -> None:
    """Keep only the contacts of scope `name` that satisfy a compiled condition. The IN list
    is computed once, before the delete starts."""
    name = _checked(name)
    if is_pg(db):  # an anti-join: PostgreSQL runs NOT IN (subquery) row by row once it outgrows work_mem
        db.execute(
            f"DELETE FROM temp.{name} AS s WHERE NOT EXISTS "
            f"(SELECT 1 FROM contacts AS c WHERE c.id = s.id AND {condition_sql})",
            list(params),
        )
        return
    db.execute(
        f"DELETE FROM temp.{name} WHERE id NOT IN (SELECT c.id FROM temp.{name} AS s "
        f"CROSS JOIN contacts AS c ON c.id = s.id WHERE {condition_sql})",
        list(params),
    )


def add_ids(db: Database, name: str, contact_ids: Iterable[int]) -> None:
    _executemany(db, f"INSERT OR IGNORE INTO temp.{_checked(name)}(id) VALUES (?)", [(i,) for i in contact_ids])
