"""The audit log: one row per change, plus the ids it touched. Never personal data."""

from __future__ import annotations

from typing import Iterator

from sqlite_utils import Database

from crmctl.store.scopes import _checked


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
    audit_id = cursor.lastrowid
    if scope is not None:
        db.execute(
            f"INSERT INTO audit_contacts(audit_id, contact_id) SELECT ?, id FROM temp.{_checked(scope)}",
            [audit_id],
        )
    return audit_id


def entries(db: Database, *, contact: int | None = None, limit: int | None = None) -> Iterator[dict]:
    """Newest first."""
    where, params = "", []
    if contact is not None:
        where = "WHERE a.id IN (SELECT audit_id FROM audit_contacts WHERE contact_id = ?)"
        params.append(contact)
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


def contact_ids(db: Database, audit_id: int, limit: int = 10) -> list[int]:
    rows = db.execute(
        "SELECT contact_id FROM audit_contacts WHERE audit_id = ? ORDER BY contact_id LIMIT ?",
        [audit_id, limit],
    )
    return [r[0] for r in rows]
