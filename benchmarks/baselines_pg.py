#!/usr/bin/env python3
"""Hand-written raw-SQL baselines on PostgreSQL: what crmctl is measured against there.

    python benchmarks/baselines_pg.py OPERATION URL [--scale 10pct|all] [--now T] [FILE | NAME VALUE]

The same operations, the same logical work and the same printed counts as
benchmarks/baselines.py (read its docstring), written for PostgreSQL with plain psycopg: one
connection, one transaction, set-based statements over the selection, in id order. Its
start-up floor is `python -c "import psycopg"`. Property values are jsonb (crmctl's
PostgreSQL schema): `score < 10` is `property_id = <score> AND value < '10'` on the
(property_id, value) index, jsonb ordering numbers by value.
"""

from __future__ import annotations

import sys

import psycopg
from baseline_cli import AUTHOR, NOTE, NOW, report, run  # benchmarks/ is the script's own folder

_SCORE = "(SELECT id FROM properties WHERE name = 'score')"
SELECTIONS = {
    # score < 10
    "10pct": f"SELECT contact_id FROM property_values WHERE property_id = {_SCORE} AND value < '10'::jsonb "
    "AND jsonb_typeof(value) = 'number'",
    # score >= 0: every contact has a score
    "all": f"SELECT contact_id FROM property_values WHERE property_id = {_SCORE} AND value >= '0'::jsonb "
    "AND jsonb_typeof(value) = 'number'",
}


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def tag_id(conn: psycopg.Connection, name: str) -> int:
    return conn.execute("SELECT id FROM tags WHERE name = %s", [name]).fetchone()[0]


def one(url: str, sql: str, params: list) -> int:
    """One statement in one transaction: its row count."""
    conn = connect(url)
    with conn.transaction():
        count = conn.execute(sql, params).rowcount
    return count


# Bulk actions -------------------------------------------------------------------------------


def tag_add(url: str, scale: str, tag: str) -> None:
    conn = connect(url)
    with conn.transaction():
        n = conn.execute(
            f"INSERT INTO contact_tags(tag_id, contact_id, added_at) SELECT %s, contact_id, %s FROM "
            f"({SELECTIONS[scale]}) AS s ORDER BY contact_id ON CONFLICT DO NOTHING",
            [tag_id(conn, tag), NOW],
        ).rowcount
    report(None, n)


def tag_remove(url: str, scale: str, tag: str) -> None:
    conn = connect(url)
    with conn.transaction():
        n = conn.execute(
            f"DELETE FROM contact_tags WHERE tag_id = %s AND contact_id IN ({SELECTIONS[scale]})", [tag_id(conn, tag)]
        ).rowcount
    report(None, n)


def note(url: str, scale: str) -> None:
    sql = (
        f"INSERT INTO notes(contact_id, body, author, created_at) SELECT contact_id, %s, %s, %s "
        f"FROM ({SELECTIONS[scale]}) AS s ORDER BY contact_id"
    )
    report(None, one(url, sql, [NOTE, AUTHOR, NOW]))


def block(url: str, scale: str) -> None:
    sql = f"UPDATE contacts SET blocked_at = %s WHERE blocked_at IS NULL AND id IN ({SELECTIONS[scale]})"
    report(None, one(url, sql, [NOW]))


def unblock(url: str, scale: str) -> None:
    sql = f"UPDATE contacts SET blocked_at = NULL WHERE blocked_at IS NOT NULL AND id IN ({SELECTIONS[scale]})"
    report(None, one(url, sql, []))


def set_property(url: str, scale: str, name: str, value: str) -> None:
    conn = connect(url)
    with conn.transaction():
        (property_id,) = conn.execute("SELECT id FROM properties WHERE name = %s", [name]).fetchone()
        n = conn.execute(
            f"INSERT INTO property_values(contact_id, property_id, value) SELECT contact_id, %s, %s::jsonb "
            f"FROM ({SELECTIONS[scale]}) AS s ORDER BY contact_id "
            "ON CONFLICT (contact_id, property_id) DO UPDATE SET value = excluded.value "
            "WHERE property_values.value IS DISTINCT FROM excluded.value",
            [property_id, str(int(value))],
        ).rowcount
    report(None, n)


def delete(url: str, scale: str) -> None:
    """One DELETE; the foreign keys cascade. Then VACUUM of the tables it touched, as crmctl
    does after a delete commits (so dead tuples do not keep the erased data)."""
    conn = connect(url)
    with conn.transaction():
        n = conn.execute(f"DELETE FROM contacts WHERE id IN ({SELECTIONS[scale]})").rowcount
    tables = "contacts, property_values, contact_tags, notes, conversations, messages, flow_enrolments"
    conn.execute(f"VACUUM {tables}")
    report(None, n)


# Reads --------------------------------------------------------------------------------------

RECORD = """
SELECT '{"id":' || c.id || ',"email":' || to_json(c.email)::text
    || ',"name":' || coalesce(to_json(c.name)::text, 'null')
    || ',"phone":' || coalesce(to_json(c.phone)::text, 'null')
    || ',"user_id":' || coalesce(to_json(c.user_id)::text, 'null')
    || ',"created_at":' || coalesce(to_json(c.created_at)::text, 'null')
    || ',"last_seen_at":' || coalesce(to_json(c.last_seen_at)::text, 'null')
    || ',"blocked":' || CASE WHEN c.blocked_at IS NULL THEN 'false' ELSE 'true' END
    || ',"tags":[' || coalesce((SELECT string_agg(to_json(t.name)::text, ',' ORDER BY lower(t.name COLLATE "C"))
        FROM contact_tags AS ct JOIN tags AS t ON t.id = ct.tag_id WHERE ct.contact_id = c.id), '')
    || '],"properties":{' || coalesce((SELECT string_agg(to_json(p.name)::text || ':' || v.value::text, ','
        ORDER BY p.folded COLLATE "C", p.name COLLATE "C")
        FROM property_values AS v JOIN properties AS p ON p.id = v.property_id WHERE v.contact_id = c.id), '')
    || '}}'
FROM contacts AS c ORDER BY c.id
"""


def list_ndjson(url: str) -> None:
    """A raw streaming export: one JSON object per contact in id order, built by the server,
    read through a server-side cursor in batches."""
    conn = psycopg.connect(url)
    out = sys.stdout
    rows = 0
    with conn.transaction(), conn.cursor(name="export") as cursor:
        cursor.itersize = 2000
        cursor.execute(RECORD)
        while batch := cursor.fetchmany(2000):
            out.write("\n".join(line for (line,) in batch))
            out.write("\n")
            rows += len(batch)
    out.flush()
    sys.stderr.write(f'{{"selected": {rows}, "changed": 0}}\n')


def count_tag(url: str, tag: str) -> None:
    conn = connect(url)
    (n,) = conn.execute(
        "SELECT count(*) FROM contact_tags WHERE tag_id = (SELECT id FROM tags WHERE name = %s)", [tag]
    ).fetchone()
    report(n, 0)


# Flows --------------------------------------------------------------------------------------

FLOW = "bench-flow"
CUTOFF_365D = "2025-11-01T12:00:00Z"


def _matched(conn: psycopg.Connection, scale: str) -> int:
    conn.execute("CREATE TEMP TABLE m (id BIGINT PRIMARY KEY) ON COMMIT DROP")
    conn.execute(
        f"INSERT INTO m(id) SELECT s.contact_id FROM ({SELECTIONS[scale]}) AS s JOIN contacts AS c "
        "ON c.id = s.contact_id WHERE c.blocked_at IS NULL ORDER BY s.contact_id"
    )
    conn.execute("ANALYZE m")
    return conn.execute("SELECT count(*) FROM m").fetchone()[0]


def flow_steps(url: str, scale: str) -> None:
    conn = connect(url)
    changed = {}
    with conn.transaction():
        matched = _matched(conn, scale)
        changed["tag_add"] = conn.execute(
            "INSERT INTO contact_tags(tag_id, contact_id, added_at) SELECT %s, id, %s FROM m ON CONFLICT DO NOTHING",
            [tag_id(conn, "winback"), NOW],
        ).rowcount
        changed["tag_remove"] = conn.execute(
            "DELETE FROM contact_tags WHERE tag_id = %s AND contact_id IN (SELECT id FROM m)",
            [tag_id(conn, "newsletter")],
        ).rowcount
        changed["note"] = conn.execute(
            "INSERT INTO notes(contact_id, body, author, created_at) "
            "SELECT c.id, 'Win-back started for ' || coalesce(c.name, '') || ' (last seen ' || "
            "coalesce(c.last_seen_at, '') || ')', %s, %s FROM m JOIN contacts AS c ON c.id = m.id ORDER BY c.id",
            [f"flow:{FLOW}", NOW],
        ).rowcount
        changed["set"] = conn.execute(
            "INSERT INTO property_values(contact_id, property_id, value) "
            "SELECT id, (SELECT id FROM properties WHERE name = 'lifecycle'), '\"winback\"'::jsonb FROM m "
            "ON CONFLICT (contact_id, property_id) DO UPDATE SET value = excluded.value",
        ).rowcount
        conn.execute("CREATE TEMP TABLE quiet (id BIGINT PRIMARY KEY) ON COMMIT DROP")
        conn.execute(
            "INSERT INTO quiet(id) SELECT c.id FROM m JOIN contacts AS c ON c.id = m.id "
            "WHERE c.last_seen_at IS NOT NULL AND c.last_seen_at < %s",
            [CUTOFF_365D],
        )
        changed["block"] = conn.execute(
            "UPDATE contacts SET blocked_at = %s WHERE blocked_at IS NULL AND id IN (SELECT id FROM quiet)", [NOW]
        ).rowcount
        active = conn.execute(
            "INSERT INTO contact_tags(tag_id, contact_id, added_at) "
            "SELECT %s, id, %s FROM m WHERE id NOT IN (SELECT id FROM quiet) ON CONFLICT DO NOTHING",
            [tag_id(conn, "win-active"), NOW],
        ).rowcount
        done = conn.execute(
            "INSERT INTO contact_tags(tag_id, contact_id, added_at) SELECT %s, id, %s FROM m ON CONFLICT DO NOTHING",
            [tag_id(conn, "winback-done"), NOW],
        ).rowcount
        changed["tag_add"] += active + done
    report(matched, sum(changed.values()), by_action=changed)


BRANCHING = "bench-branching"
# The split's documented bucket: sha256(seed, 0x1f, id) read as an unsigned 64-bit big-endian
# number, modulo 100. bit(64)::bigint is signed: 2^64 ≡ 16 (mod 100) corrects the negatives.
_HASH = "('x' || left(encode(sha256(convert_to(%s || chr(31) || m.id::text, 'UTF8')), 'hex'), 16))::bit(64)::bigint"
BUCKET = f"(CASE WHEN {_HASH} >= 0 THEN {_HASH} %% 100 ELSE ({_HASH} %% 100 + 116) %% 100 END)"


def flow_branching(url: str, scale: str) -> None:
    conn = connect(url)
    changed = {"tag_add": 0, "emit": 0}
    seed = f"{BRANCHING}\x1fsubject-test"
    with conn.transaction():
        matched = _matched(conn, scale)
        for plan, tag in (("trial", "winback"), ("paid", "win-active")):
            changed["tag_add"] += conn.execute(
                "INSERT INTO contact_tags(tag_id, contact_id, added_at) SELECT %s, m.id, %s FROM m "
                "WHERE m.id IN (SELECT contact_id FROM property_values "
                "WHERE property_id = (SELECT id FROM properties WHERE name = 'plan') AND value = to_jsonb(%s::text)) "
                "ON CONFLICT DO NOTHING",
                [tag_id(conn, tag), NOW, plan],
            ).rowcount
        conn.execute("CREATE TEMP TABLE b (id BIGINT PRIMARY KEY, bucket INTEGER) ON COMMIT DROP")
        conn.execute(f"INSERT INTO b(id, bucket) SELECT m.id, {BUCKET} FROM m", [seed, seed, seed])
        for outbox, low, high in (("bench-a", 0, 50), ("bench-b", 50, 100)):
            changed["emit"] += conn.execute(
                "INSERT INTO outbox_records(outbox, contact_id, email, name, fields, flow, step, run_id, emitted_at) "
                "SELECT %s, c.id, c.email, c.name, "
                "'{\"plan\":' || coalesce((SELECT a.value::text FROM property_values AS a JOIN properties AS p "
                "ON p.id = a.property_id WHERE a.contact_id = c.id AND p.name = 'plan'), 'null') || "
                "',\"country\":' || coalesce((SELECT a.value::text FROM property_values AS a JOIN properties AS p "
                "ON p.id = a.property_id WHERE a.contact_id = c.id AND p.name = 'country'), 'null') || '}', "
                "%s, %s, NULL, %s FROM b JOIN contacts AS c ON c.id = b.id WHERE b.bucket >= %s AND b.bucket < %s "
                "ORDER BY c.id",
                [outbox, BRANCHING, "subject-test", NOW, low, high],
            ).rowcount
    report(matched, sum(changed.values()), by_action=changed)


def flow_rerun(url: str, scale: str) -> None:
    conn = connect(url)
    (n,) = conn.execute(
        f"SELECT count(*) FROM ({SELECTIONS[scale]}) AS s JOIN contacts AS c ON c.id = s.contact_id "
        "WHERE c.blocked_at IS NULL AND NOT EXISTS (SELECT 1 FROM flow_enrolments AS e "
        "WHERE e.flow = %s AND e.contact_id = c.id)",
        [FLOW],
    ).fetchone()
    report(n, 0)


DURABLE = "bench-durable"


def durable(url: str, scale: str, now: str) -> None:
    conn = connect(url)
    with conn.transaction():
        conn.execute("CREATE TEMP TABLE due (id BIGINT PRIMARY KEY) ON COMMIT DROP")
        conn.execute(
            "INSERT INTO due(id) SELECT e.contact_id FROM flow_enrolments AS e JOIN contacts AS c "
            "ON c.id = e.contact_id WHERE e.flow = %s AND e.state = 'active' AND e.position = 'cool-off' "
            "AND e.due_at <= %s AND c.blocked_at IS NULL ORDER BY e.contact_id",
            [DURABLE, now],
        )
        resumed = conn.execute("SELECT count(*) FROM due").fetchone()[0]
        tagged = conn.execute(
            "INSERT INTO contact_tags(tag_id, contact_id, added_at) SELECT %s, id, %s FROM due ON CONFLICT DO NOTHING",
            [tag_id(conn, "followed-up"), now],
        ).rowcount
        noted = conn.execute(
            "INSERT INTO notes(contact_id, body, author, created_at) "
            "SELECT id, 'Follow-up after the cool-off', %s, %s FROM due ORDER BY id",
            [f"flow:{DURABLE}", now],
        ).rowcount
        conn.execute(
            "UPDATE flow_enrolments SET state = 'completed', position = NULL, due_at = NULL, finished_at = %s "
            "WHERE flow = %s AND contact_id IN (SELECT id FROM due)",
            [now, DURABLE],
        )
        (new,) = conn.execute(
            f"SELECT count(*) FROM ({SELECTIONS[scale]}) AS s JOIN contacts AS c ON c.id = s.contact_id "
            "WHERE c.blocked_at IS NULL AND NOT EXISTS (SELECT 1 FROM flow_enrolments AS e "
            "WHERE e.flow = %s AND e.contact_id = c.id)",
            [DURABLE],
        ).fetchone()
    report(new, tagged + noted, resumed=resumed)


# Import -------------------------------------------------------------------------------------

CONTACT_COLUMNS = ("email", "name", "phone", "user_id", "created_at", "last_seen_at")
SKIP = frozenset(CONTACT_COLUMNS) | {"blocked", "tags", "conversations"}
BATCH = 5000


def load(url: str, path: str) -> None:
    """A raw load of the same rows into an empty crmctl database: parse each NDJSON line once
    and COPY contacts, property values, tags, tag links, conversations and messages in
    batches, with explicit ids, in one transaction. No validation, no upsert: the floor of
    any import."""
    import json

    from crmctl.folding import fold

    conn = connect(url)
    loads, dumps = json.loads, json.dumps
    tags: dict[str, int] = {}
    contact_id = conversation_id = 0
    contacts: list[tuple] = []
    attributes: list[tuple] = []
    links: list[tuple] = []
    conversations: list[tuple] = []
    messages: list[tuple] = []
    tables = (
        ("contacts(id, email, email_key, name, phone, user_id, created_at, last_seen_at, blocked_at)", contacts),
        ("property_values(contact_id, property_id, value)", attributes),
        ("contact_tags(tag_id, contact_id, added_at)", links),
        ("conversations(id, contact_id, subject, created_at)", conversations),
        ("messages(conversation_id, body, sender, sent_at)", messages),
    )

    def flush() -> None:
        for table, rows in tables:
            with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            rows.clear()

    with conn.transaction():
        property_ids = dict(conn.execute("SELECT name, id FROM properties").fetchall())
        with open(path, "rb") as stream:
            for line in stream:
                record = loads(line)
                contact_id += 1
                get = record.get
                contacts.append(
                    (
                        contact_id,
                        get("email"),
                        fold(get("email")),
                        get("name"),
                        get("phone"),
                        get("user_id"),
                        get("created_at") or NOW,
                        get("last_seen_at"),
                        NOW if get("blocked") else None,
                    )
                )
                for key, value in record.items():
                    if key not in SKIP:
                        attributes.append((contact_id, property_ids[key], dumps(value)))
                for name in get("tags") or ():
                    tid = tags.get(name)
                    if tid is None:
                        tid = tags[name] = conn.execute(
                            "INSERT INTO tags(name, name_key, created_at) VALUES (%s, %s, %s) RETURNING id",
                            [name, fold(name), NOW],
                        ).fetchone()[0]
                    links.append((tid, contact_id, NOW))
                for conversation in get("conversations") or ():
                    conversation_id += 1
                    sent = conversation["messages"][0]["sent_at"] if conversation.get("messages") else None
                    conversations.append((conversation_id, contact_id, conversation.get("subject"), sent or NOW))
                    for message in conversation.get("messages") or ():
                        messages.append(
                            (conversation_id, message.get("body"), message.get("sender"), message.get("sent_at"))
                        )
                if len(contacts) >= BATCH:
                    flush()
        flush()
    report(contact_id, contact_id)


OPERATIONS = {
    "tag-add": lambda a: tag_add(a.db, a.scale, a.arg or "campaign-q4"),
    "tag-remove": lambda a: tag_remove(a.db, a.scale, a.arg or "campaign-q4"),
    "note": lambda a: note(a.db, a.scale),
    "block": lambda a: block(a.db, a.scale),
    "unblock": lambda a: unblock(a.db, a.scale),
    "set": lambda a: set_property(a.db, a.scale, a.arg or "score", a.value or "90"),
    "delete": lambda a: delete(a.db, a.scale),
    "list": lambda a: list_ndjson(a.db),
    "count-tag": lambda a: count_tag(a.db, a.arg or "vip"),
    "flow": lambda a: flow_steps(a.db, a.scale),
    "flow-branching": lambda a: flow_branching(a.db, a.scale),
    "flow-rerun": lambda a: flow_rerun(a.db, a.scale),
    "durable": lambda a: durable(a.db, a.scale, a.now),
    "import": lambda a: load(a.db, a.arg),
}


if __name__ == "__main__":
    run(OPERATIONS, SELECTIONS, __doc__ or "")
