"""SQL for reading contacts out: list records and full records, built as JSON by SQLite.

SQLite writes a REAL with 15 significant digits, which loses precision (0.1 + 0.2 comes out
as 0.3). Property values that are REALs are therefore written by a registered function,
`crmctl_real`, as Python's shortest round-trip form (`repr`), so exports are exact.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

from sqlite_utils import Database

from crmctl.store.scopes import _checked

REAL = "crmctl_real"
# A property value as JSON: REALs exactly (see the module's docstring), the rest as stored.
# (Applied in the aggregate itself: a JSON value passed up through a subquery becomes text.)
VALUE_JSON = f"CASE typeof(value) WHEN 'real' THEN json({REAL}(value)) ELSE value END"

# One JSON object per contact, assembled by SQLite so Python only writes lines out.
RECORD_JSON = f"""
json_object(
    'id', c.id, 'email', c.email, 'name', c.name, 'phone', c.phone, 'user_id', c.user_id,
    'created_at', c.created_at, 'last_seen_at', c.last_seen_at,
    'blocked', json(CASE WHEN c.blocked_at IS NULL THEN 'false' ELSE 'true' END),
    'tags', json(coalesce((SELECT json_group_array(name) FROM (
        SELECT t.name FROM contact_tags AS ct JOIN tags AS t ON t.id = ct.tag_id
        WHERE ct.contact_id = c.id ORDER BY t.name COLLATE NOCASE)), '[]')),
    'attributes', json(coalesce((SELECT json_group_object(key, {VALUE_JSON}) FROM (
        SELECT a.key, a.value FROM attributes AS a WHERE a.contact_id = c.id ORDER BY a.key)), '{{}}'))
)
"""

# Everything about a contact: the list record plus blocked_at, notes and conversations with
# their messages, in the order `contact show` lists them.
FULL_RECORD_JSON = f"""
json_set({RECORD_JSON},
    '$.blocked_at', c.blocked_at,
    '$.notes', json(coalesce((SELECT json_group_array(json_object(
        'body', n.body, 'author', n.author, 'created_at', n.created_at)) FROM (
        SELECT body, author, created_at FROM notes WHERE contact_id = c.id ORDER BY created_at, id) AS n), '[]')),
    '$.conversations', json(coalesce((SELECT json_group_array(json_object(
        'subject', v.subject, 'created_at', v.created_at,
        'messages', json(coalesce((SELECT json_group_array(json_object(
            'body', m.body, 'sender', m.sender, 'sent_at', m.sent_at)) FROM (
            SELECT body, sender, sent_at FROM messages WHERE conversation_id = v.id ORDER BY sent_at, id) AS m), '[]'))
        )) FROM (SELECT id, subject, created_at FROM conversations WHERE contact_id = c.id ORDER BY id) AS v), '[]'))
)
"""


def _real_json(value: object) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return "null"  # SQLite can hold an infinity; JSON cannot


def register(db: Database) -> None:
    db.conn.create_function(REAL, 1, _real_json, deterministic=True)


BUILTIN_COLUMNS = ["id", "email", "name", "phone", "user_id", "created_at", "last_seen_at", "blocked", "tags"]


def record_lines(db: Database, scope: str | None = None, limit: int | None = None) -> Iterator[str]:
    """JSON text of each contact in id order; all contacts, or those of a scope."""
    for batch in record_batches(db, scope, limit):
        yield from batch


def record_batches(
    db: Database,
    scope: str | None = None,
    limit: int | None = None,
    size: int = 1000,
    *,
    full: bool = False,
    blocked_at: bool = False,
) -> Iterator[list[str]]:
    """record_lines, a list of up to `size` lines at a time (no Python work per contact).
    `full` gives full records (FULL_RECORD_JSON); `blocked_at` adds that key to list records."""
    register(db)
    source = "contacts AS c"
    if scope is not None:
        source = f"temp.{_checked(scope)} AS s CROSS JOIN contacts AS c ON c.id = s.id"
    record = FULL_RECORD_JSON if full else RECORD_JSON
    if blocked_at and not full:
        record = f"json_set({RECORD_JSON}, '$.blocked_at', c.blocked_at)"
    sql = f"SELECT {record} FROM {source} ORDER BY c.id"
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


def find_contact_id(db: Database, identifier: str) -> int | None:
    text = identifier.strip()
    if text.isdigit():
        row = db.execute("SELECT id FROM contacts WHERE id = ?", [int(text)]).fetchone()
    else:
        row = db.execute("SELECT id FROM contacts WHERE email = ?", [text]).fetchone()
    return row[0] if row else None


def full_contact(db: Database, contact_id: int) -> dict:
    register(db)
    line = db.execute(f"SELECT {FULL_RECORD_JSON} FROM contacts AS c WHERE c.id = ?", [contact_id]).fetchone()[0]
    return json.loads(line)


def tag_names(db: Database) -> list[str]:
    return [name for (name,) in db.execute("SELECT name FROM tags ORDER BY name COLLATE NOCASE, name")]
