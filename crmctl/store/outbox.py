"""SQL for outboxes: records written by a flow's `emit` steps, read and acknowledged by the
program that delivers them.

Record ids come from AUTOINCREMENT, so they are never reused, and writers hold the write lock
from their first statement to their commit, so records become visible in id order: a reader
that has seen every pending record up to id N can acknowledge "through N" without ever
acknowledging one it has not seen.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from crmctl.store.pg import is_postgres
from crmctl.store.scopes import _checked

if TYPE_CHECKING:
    from sqlite_utils import Database


def ensure(db: Database, names: Sequence[str], now: str) -> None:
    """Make the outboxes known (so `outbox read` of an outbox nothing was emitted to yet is empty, not unknown)."""
    rows = [(name, now) for name in names]
    sql = "INSERT OR IGNORE INTO outboxes(name, created_at) VALUES (?, ?)"
    if is_postgres(db):
        for row in rows:  # a flow names a few outboxes
            db.execute(sql, row)
    else:
        db.conn.executemany(sql, rows)


def emit(
    db: Database,
    scope: str,
    outbox: str,
    fields_sql: str,
    fields_params: Sequence,
    *,
    flow: str,
    step: str,
    run_id: int | None,
    now: str,
) -> None:
    """One record per contact of scope, in id order. fields_sql is a JSON object (as text) over alias `c`."""
    join = "JOIN" if is_postgres(db) else "CROSS JOIN"  # PostgreSQL plans the order itself
    db.execute(
        "INSERT INTO outbox_records(outbox, contact_id, email, name, fields, flow, step, run_id, emitted_at) "
        f"SELECT ?, c.id, c.email, c.name, {fields_sql}, ?, ?, ?, ? FROM temp.{_checked(scope)} AS s "
        f"{join} contacts AS c ON c.id = s.id ORDER BY c.id",
        [outbox, *fields_params, flow, step, run_id, now],
    )


def known(db: Database, outbox: str) -> bool:
    return db.execute("SELECT 1 FROM outboxes WHERE name = ?", [outbox]).fetchone() is not None


def names(db: Database) -> list[str]:
    return [row[0] for row in db.execute("SELECT name FROM outboxes ORDER BY name")]


def listing(db: Database) -> Iterator[dict]:
    rows = db.execute(
        """
        SELECT o.name,
            (SELECT count(*) FROM outbox_records AS r WHERE r.outbox = o.name AND r.delivered_at IS NULL),
            (SELECT count(*) FROM outbox_records AS r WHERE r.outbox = o.name AND r.delivered_at IS NOT NULL),
            (SELECT min(r.emitted_at) FROM outbox_records AS r WHERE r.outbox = o.name AND r.delivered_at IS NULL),
            (SELECT max(r.delivered_at) FROM outbox_records AS r
                WHERE r.outbox = o.name AND r.delivered_at IS NOT NULL)
        FROM outboxes AS o ORDER BY o.name
        """
    )
    for name, pending, delivered, oldest, last_ack in rows:
        yield {
            "outbox": name,
            "pending": pending,
            "delivered": delivered,
            "oldest_pending_at": oldest,
            "last_delivered_at": last_ack,
        }


def pending(db: Database, outbox: str, limit: int | None) -> Iterator[dict]:
    """Pending records in order, each a dict; the listed fields as an object."""
    sql = (
        "SELECT id, contact_id, email, name, fields, flow, step, run_id, emitted_at FROM outbox_records "
        "WHERE outbox = ? AND delivered_at IS NULL ORDER BY id"
    )
    params: list = [outbox]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    for row in db.execute(sql, params):
        yield {
            "outbox_id": row[0],
            "outbox": outbox,
            "contact_id": row[1],
            "email": row[2],
            "name": row[3],
            "fields": json.loads(row[4]) if isinstance(row[4], str) else row[4],
            "flow": row[5],
            "step": row[6],
            "run_id": row[7],
            "emitted_at": row[8],
        }


def pending_field_names(db: Database, outbox: str, limit: int | None) -> list[str]:
    """Every field name the first `limit` pending records carry, in order of first appearance."""
    records = (
        "(SELECT id, fields FROM outbox_records WHERE outbox = ? AND delivered_at IS NULL "
        "ORDER BY id" + (" LIMIT ?" if limit is not None else "") + ") AS r"
    )
    if is_postgres(db):  # json (not jsonb) keeps the keys in their written order
        sql = (
            "SELECT key FROM (SELECT j.key, r.id, j.n, row_number() OVER (PARTITION BY j.key ORDER BY r.id) AS first "
            f"FROM {records}, json_each(r.fields::json) WITH ORDINALITY AS j(key, value, n)) AS k "
            "WHERE first = 1 ORDER BY id, n"
        )
    else:
        sql = f"SELECT DISTINCT j.key FROM {records}, json_each(r.fields) AS j ORDER BY r.id"
    params: list = [outbox] + ([limit] if limit is not None else [])
    seen: list[str] = []
    for (key,) in db.execute(sql, params):
        if key not in seen:
            seen.append(key)
    return seen


def record_outbox(db: Database, record_id: int) -> str | None:
    row = db.execute("SELECT outbox FROM outbox_records WHERE id = ?", [record_id]).fetchone()
    return row[0] if row else None


def acknowledge(db: Database, outbox: str, through: int, now: str) -> int:
    """Mark the pending records of `outbox` up to id `through` delivered; returns how many."""
    return db.execute(
        "UPDATE outbox_records SET delivered_at = ? WHERE outbox = ? AND delivered_at IS NULL AND id <= ?",
        [now, outbox, through],
    ).rowcount


def count_pending(db: Database, outbox: str) -> int:
    return db.execute(
        "SELECT count(*) FROM outbox_records WHERE outbox = ? AND delivered_at IS NULL", [outbox]
    ).fetchone()[0]


def prune_delivered(db: Database, before: str, *, dry_run: bool = False) -> int:
    """Delete (or count) records delivered before `before`, in every outbox."""
    verb = "SELECT count(*)" if dry_run else "DELETE"
    cursor = db.execute(f"{verb} FROM outbox_records WHERE delivered_at IS NOT NULL AND delivered_at < ?", [before])
    return cursor.fetchone()[0] if dry_run else cursor.rowcount
