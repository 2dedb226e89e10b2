"""SQL for reading contacts out: list records and full records, built as JSON by SQLite.

Decimals are written exactly by the one function the connection registers
(crmctl.store.properties NUMBER_TEXT: Python's shortest round-trip form), never by SQLite's
15 digits; everything that writes property values out goes through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from crmctl.folding import fold
from crmctl.store.properties import NUMBER_TEXT
from crmctl.store.scopes import _checked, is_pg, scope_join

if TYPE_CHECKING:
    from sqlite_utils import Database

# One JSON object per contact, assembled by SQLite so Python only writes lines out.
# Property values in their type: booleans as true/false, decimals in their shortest exact
# form (SQLite's own JSON has 15 digits), which the inner query marks as JSON text (`raw`):
# a JSON subtype does not survive a subquery.
RECORD_JSON = f"""
json_object(
    'id', c.id, 'email', c.email, 'name', c.name, 'phone', c.phone, 'user_id', c.user_id,
    'created_at', c.created_at, 'last_seen_at', c.last_seen_at,
    'blocked', json(CASE WHEN c.blocked_at IS NULL THEN 'false' ELSE 'true' END),
    'tags', json(coalesce((SELECT json_group_array(name) FROM (
        SELECT t.name FROM contact_tags AS ct JOIN tags AS t ON t.id = ct.tag_id
        WHERE ct.contact_id = c.id ORDER BY t.name COLLATE NOCASE)), '[]')),
    'properties', json(coalesce((SELECT json_group_object(name, CASE WHEN raw THEN json(value) ELSE value END) FROM (
        SELECT p.name AS name,
               CASE WHEN p.type = 'boolean' THEN CASE v.value WHEN 0 THEN 'false' ELSE 'true' END
                    WHEN typeof(v.value) = 'real' THEN {NUMBER_TEXT}(v.value) ELSE v.value END AS value,
               p.type = 'boolean' OR typeof(v.value) = 'real' AS raw
        FROM property_values AS v JOIN properties AS p ON p.id = v.property_id
        WHERE v.contact_id = c.id ORDER BY p.folded, p.name)), '{{}}'))
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

# PostgreSQL: the same JSON text, byte for byte. json_build_object writes `"k" : v` and jsonb
# reorders keys, so a record is concatenated from to_json() of each value, which escapes as
# SQLite does (\", \\, \b \f \n \r \t, other control characters as \u00xx, the rest as is).
# Property values are jsonb: booleans (1/0) as true/false, numbers through NUMBER_TEXT (ints as
# they are, floats in their shortest form), strings as their JSON text. SQLite's NULLs sort
# first; PostgreSQL's last unless told.


def _pg_text(sql: str) -> str:
    return f"coalesce(to_json({sql})::text, 'null')"


def _pg_object(pairs: list[tuple[str, str]]) -> str:
    """`'{"a":' || a || ',"b":' || b || '}'`: pairs of key and SQL giving the value's JSON text."""
    parts = [("'{" if i == 0 else "',") + json.dumps(key) + ":' || " + value for i, (key, value) in enumerate(pairs)]
    return "(" + " || ".join(parts) + " || '}')"


def _pg_array(element: str, source: str, order: str) -> str:
    return f"coalesce((SELECT '[' || string_agg({element}, ',' ORDER BY {order}) || ']' {source}), '[]')"


_PG_RECORD = [
    ("id", "c.id::text"),
    *((name, _pg_text(f"c.{name}")) for name in ("email", "name", "phone", "user_id", "created_at", "last_seen_at")),
    ("blocked", "CASE WHEN c.blocked_at IS NULL THEN 'false' ELSE 'true' END"),
    (
        "tags",
        # COLLATE NOCASE: ASCII letters folded, then byte order (lower() under "C" folds ASCII only)
        _pg_array(
            "to_json(t.name)::text",
            "FROM contact_tags AS ct JOIN tags AS t ON t.id = ct.tag_id WHERE ct.contact_id = c.id",
            'lower(t.name COLLATE "C")',
        ),
    ),
    (
        "properties",
        "coalesce((SELECT '{' || string_agg(to_json(p.name)::text || ':' || "
        "CASE WHEN p.type = 'boolean' THEN CASE WHEN v.value = CAST('0' AS jsonb) THEN 'false' ELSE 'true' END "
        f"WHEN jsonb_typeof(v.value) = 'number' THEN {NUMBER_TEXT}(v.value) ELSE v.value::text END, "
        "',' ORDER BY p.folded NULLS FIRST, p.name) || '}' "
        "FROM property_values AS v JOIN properties AS p ON p.id = v.property_id WHERE v.contact_id = c.id), '{}')",
    ),
]
_PG_BLOCKED_AT = ("blocked_at", _pg_text("c.blocked_at"))
_PG_MESSAGES = (
    "messages",
    _pg_array(
        _pg_object([(key, _pg_text(f"m.{key}")) for key in ("body", "sender", "sent_at")]),
        "FROM messages AS m WHERE m.conversation_id = v.id",
        "m.sent_at NULLS FIRST, m.id",
    ),
)
_PG_FULL = [
    *_PG_RECORD,
    _PG_BLOCKED_AT,
    (
        "notes",
        _pg_array(
            _pg_object([(key, _pg_text(f"n.{key}")) for key in ("body", "author", "created_at")]),
            "FROM notes AS n WHERE n.contact_id = c.id",
            "n.created_at NULLS FIRST, n.id",
        ),
    ),
    (
        "conversations",
        _pg_array(
            _pg_object([("subject", _pg_text("v.subject")), ("created_at", _pg_text("v.created_at")), _PG_MESSAGES]),
            "FROM conversations AS v WHERE v.contact_id = c.id",
            "v.id",
        ),
    ),
]
PG_RECORD_JSON = _pg_object(_PG_RECORD)
PG_FULL_RECORD_JSON = _pg_object(_PG_FULL)
PG_BLOCKED_AT_RECORD_JSON = _pg_object([*_PG_RECORD, _PG_BLOCKED_AT])


def _record_sql(db: Database, full: bool = False, blocked_at: bool = False) -> str:
    if is_pg(db):
        return PG_FULL_RECORD_JSON if full else PG_BLOCKED_AT_RECORD_JSON if blocked_at else PG_RECORD_JSON
    if full:
        return FULL_RECORD_JSON
    return f"json_set({RECORD_JSON}, '$.blocked_at', c.blocked_at)" if blocked_at else RECORD_JSON


BUILTIN_COLUMNS = ["id", "email", "name", "phone", "user_id", "created_at", "last_seen_at", "blocked", "tags"]


def record_lines(
    db: Database, scope: str | None = None, limit: int | None = None, *, contact_id: int | None = None
) -> Iterator[str]:
    """JSON text of each contact in id order; all contacts, those of a scope, or one."""
    if contact_id is not None:
        rows = db.execute(f"SELECT {_record_sql(db)} FROM contacts AS c WHERE c.id = ?", [contact_id])
        yield from (row[0] for row in rows)
        return
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
    source = "contacts AS c"
    if scope is not None:
        source = f"temp.{_checked(scope)} AS s {scope_join(db)} contacts AS c ON c.id = s.id"
    sql = f"SELECT {_record_sql(db, full, blocked_at)} FROM {source} ORDER BY c.id"
    params: list = []
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    if is_pg(db):  # a server-side cursor: a client-side one holds every row
        for rows in db.stream(sql, params, size):  # type: ignore[attr-defined]  # PgDatabase
            yield [line for (line,) in rows]
        return
    cursor = db.execute(sql, params)
    while rows := cursor.fetchmany(size):
        yield [line for (line,) in rows]


def property_names(db: Database) -> list[str]:
    """Every declared property, in the order records list them."""
    return [r[0] for r in db.execute("SELECT name FROM properties ORDER BY folded, name")]


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
    sql = f"SELECT {_record_sql(db, full=True)} FROM contacts AS c WHERE c.id = ?"
    return json.loads(db.execute(sql, [contact_id]).fetchone()[0])


def tag_names(db: Database) -> list[str]:
    return [name for (name,) in db.execute("SELECT name FROM tags ORDER BY name_key, name")]
