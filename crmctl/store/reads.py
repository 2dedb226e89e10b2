"""SQL for reading contacts out: list records (built as JSON by SQLite), one full contact."""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlite_utils import Database

from crmctl.folding import fold
from crmctl.store.scopes import _checked

# One JSON object per contact, assembled by SQLite so Python only writes lines out.
RECORD_JSON = """
json_object(
    'id', c.id, 'email', c.email, 'name', c.name, 'phone', c.phone, 'user_id', c.user_id,
    'created_at', c.created_at, 'last_seen_at', c.last_seen_at,
    'blocked', json(CASE WHEN c.blocked_at IS NULL THEN 'false' ELSE 'true' END),
    'tags', json(coalesce((SELECT json_group_array(name) FROM (
        SELECT t.name FROM contact_tags AS ct JOIN tags AS t ON t.id = ct.tag_id
        WHERE ct.contact_id = c.id ORDER BY t.name COLLATE NOCASE)), '[]')),
    'attributes', json(coalesce((SELECT json_group_object(key, value) FROM (
        SELECT a.key, a.value FROM attributes AS a WHERE a.contact_id = c.id ORDER BY a.key)), '{}'))
)
"""

BUILTIN_COLUMNS = ["id", "email", "name", "phone", "user_id", "created_at", "last_seen_at", "blocked", "tags"]


def record_lines(db: Database, scope: str | None = None, limit: int | None = None) -> Iterator[str]:
    """JSON text of each contact in id order; all contacts, or those of a scope."""
    for batch in record_batches(db, scope, limit):
        yield from batch


def record_batches(
    db: Database, scope: str | None = None, limit: int | None = None, size: int = 1000
) -> Iterator[list[str]]:
    """record_lines, a list of up to `size` lines at a time (no Python work per contact)."""
    source = "contacts AS c"
    if scope is not None:
        source = f"temp.{_checked(scope)} AS s CROSS JOIN contacts AS c ON c.id = s.id"
    sql = f"SELECT {RECORD_JSON} FROM {source} ORDER BY c.id"
    params: list = []
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    cursor = db.execute(sql, params)
    while rows := cursor.fetchmany(size):
        yield [line for (line,) in rows]


def attribute_keys(db: Database, scope: str | None = None) -> list[str]:
    if scope is None:
        rows = db.execute("SELECT DISTINCT key FROM attributes ORDER BY key")
    else:
        rows = db.execute(
            f"SELECT DISTINCT a.key FROM temp.{_checked(scope)} AS s "
            "JOIN attributes AS a ON a.contact_id = s.id ORDER BY a.key"
        )
    return [r[0] for r in rows]


def count(db: Database, scope: str | None = None) -> int:
    if scope is None:
        return db.execute("SELECT count(*) FROM contacts").fetchone()[0]
    return db.execute(f"SELECT count(*) FROM temp.{_checked(scope)}").fetchone()[0]


def find_contact_id(db: Database, contact_id: int | None, email: str | None) -> int | None:
    """The contact with this id, or with this email (by its folded key, crmctl.folding)."""
    if contact_id is not None:
        row = db.execute("SELECT id FROM contacts WHERE id = ?", [contact_id]).fetchone()
    else:
        row = db.execute("SELECT id FROM contacts WHERE email_key = ? ORDER BY id", [fold(email or "")]).fetchone()
    return row[0] if row else None


def full_contact(db: Database, contact_id: int) -> dict:
    line = db.execute(f"SELECT {RECORD_JSON} FROM contacts AS c WHERE c.id = ?", [contact_id]).fetchone()[0]
    record = json.loads(line)
    record["blocked_at"] = db.execute("SELECT blocked_at FROM contacts WHERE id = ?", [contact_id]).fetchone()[0]
    record["notes"] = [
        {"body": b, "author": a, "created_at": at}
        for b, a, at in db.execute(
            "SELECT body, author, created_at FROM notes WHERE contact_id = ? ORDER BY created_at, id", [contact_id]
        )
    ]
    record["conversations"] = [
        {"subject": subject, "created_at": created, "messages": _messages(db, conv_id)}
        for conv_id, subject, created in db.execute(
            "SELECT id, subject, created_at FROM conversations WHERE contact_id = ? ORDER BY id", [contact_id]
        )
    ]
    return record


def _messages(db: Database, conversation_id: int) -> list[dict]:
    rows = db.execute(
        "SELECT body, sender, sent_at FROM messages WHERE conversation_id = ? ORDER BY sent_at, id",
        [conversation_id],
    )
    return [{"body": b, "sender": s, "sent_at": at} for b, s, at in rows]
