"""The audit log: one row per change, plus the ids it touched. Never personal data.

The ids are kept as 64-bit sets (`audit_sets`: contact ids chunk*64 … chunk*64+63, bit n for
chunk*64+n), so a bulk change of 100k contacts writes ~16k small rows rather than 100k rows
into two indexes; `audit_contacts` is a view that lists them one id per row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from crmctl.store.pg import is_postgres
from crmctl.store.scopes import _checked
from crmctl.store.script import insert_returning_id

if TYPE_CHECKING:
    from sqlite_utils import Database


def record(
    db: Database,
    *,
    at: str,
    actor: str,
    action: str,
    detail: str,
    scope: str | None = None,
    contacts: int = 0,
    run_id: int | None = None,
) -> int:
    """Write one audit entry; when `scope` names a temp table its ids are linked to it."""
    audit_id = insert_returning_id(
        db,
        "INSERT INTO audit(at, actor, action, contacts, detail, run_id) VALUES (?, ?, ?, ?, ?, ?)",
        [at, actor, action, contacts, detail, run_id],
    )
    if scope is not None:
        link(db, audit_id, scope)
    return audit_id


def link(db: Database, audit_id: int, scope: str) -> None:
    """The scope's ids as 64-bit sets. The scope is in id order, so each chunk is one short
    range of it: hop from chunk to chunk with one index seek each, instead of sorting every id.

    On PostgreSQL the ids are 64-bit too (bigint): one GROUP BY, with bit_or() building each
    set (its planner does not run the hops above fast: 0.46 s against 0.31 s for 100k ids)."""
    scope = _checked(scope)
    if is_postgres(db):
        db.execute(
            "INSERT INTO audit_sets(audit_id, chunk, bits) "
            f"SELECT ?, id >> 6, bit_or(CAST(1 AS bigint) << CAST(id & 63 AS integer)) FROM temp.{scope} "
            "GROUP BY id >> 6 ORDER BY 2",
            [audit_id],
        )
        return
    db.execute(
        f"""
        WITH RECURSIVE chunks(chunk) AS (
            SELECT (SELECT min(id) FROM temp.{scope}) >> 6
            UNION ALL
            SELECT (SELECT min(id) FROM temp.{scope} WHERE id >= (chunk + 1) << 6) >> 6
            FROM chunks WHERE chunk IS NOT NULL
        )
        INSERT INTO audit_sets(audit_id, chunk, bits)
        SELECT ?, chunk,
               (SELECT sum(1 << (id & 63)) FROM temp.{scope} WHERE id BETWEEN chunk << 6 AND (chunk << 6) + 63)
        FROM chunks WHERE chunk IS NOT NULL
        """,
        [audit_id],
    )


_ENTRY_COLUMNS = ("id", "at", "actor", "action", "contacts", "detail", "run_id")


def entries(
    db: Database,
    *,
    contacts: Sequence[int] = (),
    since: str | None = None,
    until: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    run_id: int | None = None,
    limit: int | None = None,
) -> Iterator[dict]:
    """Newest first; every filter given must hold. `contacts`: entries touching any of them.
    `since` is inclusive, `until` exclusive (stored-format times)."""
    where: list[str] = []
    params: list[object] = []
    if contacts:
        # One parameter whatever the number of contacts: each becomes (chunk, bit) in SQL.
        if not is_postgres(db):
            wanted = "json_each(?) AS w"
            params.append(json.dumps(list(contacts)))
        else:
            wanted = "unnest(CAST(? AS bigint[])) AS w(value)"
            params.append(list(contacts))
        where.append(
            f"a.id IN (SELECT s.audit_id FROM {wanted} "
            "JOIN audit_sets AS s ON s.chunk = w.value >> 6 AND ((s.bits >> CAST(w.value & 63 AS integer)) & 1) = 1)"
        )
    for clause, value in (("a.at >= ?", since), ("a.at < ?", until), ("a.actor = ?", actor), ("a.action = ?", action)):
        if value is not None:
            where.append(clause)
            params.append(value)
    if run_id is not None:
        where.append("a.run_id = ?")
        params.append(run_id)
    sql = f"SELECT {', '.join('a.' + c for c in _ENTRY_COLUMNS)} FROM audit AS a"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY a.id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    for row in db.execute(sql, params):
        yield dict(zip(_ENTRY_COLUMNS, row, strict=True))


def entry(db: Database, audit_id: int) -> dict | None:
    row = db.execute(f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM audit WHERE id = ?", [audit_id]).fetchone()
    return None if row is None else dict(zip(_ENTRY_COLUMNS, row, strict=True))


def all_contact_ids(db: Database, audit_id: int) -> Iterator[int]:
    """Every id an entry touched, in id order, a chunk of 64 at a time."""
    rows = db.execute("SELECT chunk, bits FROM audit_sets WHERE audit_id = ? ORDER BY chunk", [audit_id])
    for chunk, bits in rows:
        bits &= (1 << 64) - 1  # bit 63 makes the stored integer negative
        while bits:
            lowest = bits & -bits
            yield (chunk << 6) + lowest.bit_length() - 1
            bits ^= lowest
