"""The audit log: one row per change, plus the ids it touched. Never personal data.

The ids are kept as 64-bit sets (`audit_sets`: contact ids chunk*64 … chunk*64+63, bit n for
chunk*64+n), so a bulk change of 100k contacts writes ~16k small rows rather than 100k rows
into two indexes; `audit_contacts` is a view that lists them one id per row.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlite_utils import Database

from crmctl.store.scopes import _checked
from crmctl.store.script import inserted_id


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
    cursor = db.execute(
        "INSERT INTO audit(at, actor, action, contacts, detail, run_id) VALUES (?, ?, ?, ?, ?, ?)",
        [at, actor, action, contacts, detail, run_id],
    )
    audit_id = inserted_id(cursor)
    if scope is not None:
        link(db, audit_id, scope)
    return audit_id


def link(db: Database, audit_id: int, scope: str) -> None:
    """The scope's ids as 64-bit sets. The scope is in id order, so each chunk is one short
    range of it: hop from chunk to chunk with one index seek each, instead of sorting every id."""
    scope = _checked(scope)
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


def entries(db: Database, *, contact: int | None = None, limit: int | None = None) -> Iterator[dict]:
    """Newest first."""
    where, params = "", []
    if contact is not None:
        where = "WHERE a.id IN (SELECT audit_id FROM audit_sets WHERE chunk = ? >> 6 AND (bits >> (? & 63)) & 1)"
        params.extend([contact, contact])
    sql = (
        "SELECT a.id, a.at, a.actor, a.action, a.contacts, a.detail, a.run_id "
        f"FROM audit AS a {where} ORDER BY a.id DESC"
    )
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    for row in db.execute(sql, params):
        yield {
            "id": row[0],
            "at": row[1],
            "actor": row[2],
            "action": row[3],
            "contacts": row[4],
            "detail": row[5],
            "run_id": row[6],
        }
