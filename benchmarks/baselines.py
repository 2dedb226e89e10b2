#!/usr/bin/env python3
"""Hand-written raw-SQL baselines: the ceiling crmctl is measured against.

    python benchmarks/baselines.py OPERATION DB [--scale 10pct|all] [--now T] [FILE | NAME VALUE]

Each baseline is plain `python` + `sqlite3` (standard library only, so its start-up is
the `python -c "import sqlite3"` floor), does the same logical work as the crmctl command
it stands beside, in one transaction, and prints `{"selected": …, "changed": …}` so the
runner can check that both sides did the same thing. The selection is resolved by a
hand-written SQL condition equivalent to crmctl's filter (`score < 10` is
`property_id = <score> AND value < 10` on the property values index), set-based, in id order.

What is NOT in a baseline, because it is crmctl's own bookkeeping rather than the
operation: the audit log, the lock-holder note, flow enrolments and run history (except
where the enrolment *is* the work: the durable run moves its due contacts on).
The pragmas are SQLite's defaults (WAL as stored in the file, synchronous FULL), plus
foreign_keys=ON where the cascade is the work (delete).
"""

from __future__ import annotations

import sqlite3
import sys

from baseline_cli import AUTHOR, NOTE, NOW, report, run  # benchmarks/ is the script's own folder

# The hand-written equivalents of the runner's --where expressions (score is a number property).
_SCORE = "(SELECT id FROM properties WHERE name = 'score')"
SELECTIONS = {
    # score < 10
    "10pct": (f"SELECT contact_id FROM property_values WHERE property_id = {_SCORE} AND value < 10", []),
    # score >= 0: every contact has a score
    "all": (f"SELECT contact_id FROM property_values WHERE property_id = {_SCORE} AND value >= 0", []),
}


def connect(path: str, *, foreign_keys: bool = False) -> sqlite3.Connection:
    from crmctl.folding import register

    conn = sqlite3.connect(path, isolation_level=None)
    register(conn)  # the folded key columns' triggers call crmctl_fold()
    if foreign_keys:
        conn.execute("PRAGMA foreign_keys = ON")
    return conn


def tag_id(conn: sqlite3.Connection, name: str) -> int:
    return conn.execute("SELECT id FROM tags WHERE name = ?", [name]).fetchone()[0]


# Bulk actions: one statement over the selection --------------------------------------------


def tag_add(db: str, scale: str, tag: str) -> None:
    conn = connect(db)
    sql, params = SELECTIONS[scale]
    conn.execute("BEGIN IMMEDIATE")
    cur = conn.execute(
        f"INSERT OR IGNORE INTO contact_tags(tag_id, contact_id, added_at) "
        f"SELECT ?, contact_id, ? FROM ({sql}) ORDER BY contact_id",
        [tag_id(conn, tag), NOW, *params],
    )
    conn.execute("COMMIT")
    report(None, cur.rowcount)


def tag_remove(db: str, scale: str, tag: str) -> None:
    conn = connect(db)
    sql, params = SELECTIONS[scale]
    conn.execute("BEGIN IMMEDIATE")
    cur = conn.execute(
        f"DELETE FROM contact_tags WHERE tag_id = ? AND contact_id IN ({sql})", [tag_id(conn, tag), *params]
    )
    conn.execute("COMMIT")
    report(None, cur.rowcount)


def note(db: str, scale: str) -> None:
    conn = connect(db)
    sql, params = SELECTIONS[scale]
    conn.execute("BEGIN IMMEDIATE")
    cur = conn.execute(
        f"INSERT INTO notes(contact_id, body, author, created_at) SELECT contact_id, ?, ?, ? FROM ({sql}) "
        "ORDER BY contact_id",
        [NOTE, AUTHOR, NOW, *params],
    )
    conn.execute("COMMIT")
    report(None, cur.rowcount)


def block(db: str, scale: str) -> None:
    conn = connect(db)
    sql, params = SELECTIONS[scale]
    conn.execute("BEGIN IMMEDIATE")
    cur = conn.execute(f"UPDATE contacts SET blocked_at = ? WHERE blocked_at IS NULL AND id IN ({sql})", [NOW, *params])
    conn.execute("COMMIT")
    report(None, cur.rowcount)


def unblock(db: str, scale: str) -> None:
    conn = connect(db)
    sql, params = SELECTIONS[scale]
    conn.execute("BEGIN IMMEDIATE")
    cur = conn.execute(f"UPDATE contacts SET blocked_at = NULL WHERE blocked_at IS NOT NULL AND id IN ({sql})", params)
    conn.execute("COMMIT")
    report(None, cur.rowcount)


def set_property(db: str, scale: str, name: str, value: str) -> None:
    """One upsert of a number into every selected contact's value, writing only those that differ."""
    conn = connect(db)
    sql, params = SELECTIONS[scale]
    conn.execute("BEGIN IMMEDIATE")
    (property_id,) = conn.execute("SELECT id FROM properties WHERE name = ?", [name]).fetchone()
    conn.execute("CREATE TEMP TABLE sel (id INTEGER PRIMARY KEY)")
    conn.execute(f"INSERT INTO sel(id) {sql} ORDER BY contact_id", params)
    cur = conn.execute(
        "INSERT INTO property_values(contact_id, property_id, value) SELECT id, ?, ? FROM sel WHERE true "
        "ON CONFLICT(contact_id, property_id) DO UPDATE SET value = excluded.value "
        "WHERE property_values.value IS NOT excluded.value",
        [property_id, int(value)],
    )
    conn.execute("COMMIT")
    report(None, cur.rowcount)


def delete(db: str, scale: str, secure: bool = False) -> None:
    """One DELETE; foreign keys cascade to data points, tag links, notes, conversations,
    messages and enrolments over their indexes. `secure` also zeroes freed pages and
    checkpoints, as crmctl's delete promises (reported separately, never the headline)."""
    conn = connect(db, foreign_keys=True)
    if secure:
        conn.execute("PRAGMA secure_delete = ON")
    sql, params = SELECTIONS[scale]
    conn.execute("BEGIN IMMEDIATE")
    cur = conn.execute(f"DELETE FROM contacts WHERE id IN ({sql})", params)
    conn.execute("COMMIT")
    if secure:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    report(None, cur.rowcount)


# Reads --------------------------------------------------------------------------------------

RECORD = """
SELECT json_object(
    'id', c.id, 'email', c.email, 'name', c.name, 'phone', c.phone, 'user_id', c.user_id,
    'created_at', c.created_at, 'last_seen_at', c.last_seen_at,
    'blocked', json(CASE WHEN c.blocked_at IS NULL THEN 'false' ELSE 'true' END),
    'tags', json(coalesce((SELECT json_group_array(name) FROM (
        SELECT t.name FROM contact_tags AS ct JOIN tags AS t ON t.id = ct.tag_id
        WHERE ct.contact_id = c.id ORDER BY t.name COLLATE NOCASE)), '[]')),
    'properties', json(coalesce((SELECT json_group_object(name, value) FROM (
        SELECT p.name, v.value FROM property_values AS v JOIN properties AS p ON p.id = v.property_id
        WHERE v.contact_id = c.id ORDER BY p.folded, p.name)), '{}'))
) AS line FROM contacts AS c ORDER BY c.id
"""


def list_ndjson(db: str) -> None:
    """A raw streaming export, one JSON object per contact in id order, built by SQLite."""
    conn = connect(db)
    out = sys.stdout
    rows = 0
    cursor = conn.execute(RECORD)
    while batch := cursor.fetchmany(1000):
        out.write("\n".join(line for (line,) in batch))
        out.write("\n")
        rows += len(batch)
    out.flush()
    sys.stderr.write(f'{{"selected": {rows}, "changed": 0}}\n')


def list_ceiling(db: str) -> None:
    """SQLite alone: every record of list_ndjson built in id order, but only their lengths
    summed inside SQLite. No row reaches Python and nothing is written, so no export of
    these records can be faster on this machine."""
    conn = connect(db)
    (rows, size) = conn.execute(f"SELECT count(*), sum(length(line)) FROM ({RECORD})").fetchone()
    sys.stderr.write(f'{{"selected": {rows}, "changed": 0, "bytes": {size or 0}}}\n')


HEAD = """
SELECT c.id, json_object(
    'id', c.id, 'email', c.email, 'name', c.name, 'phone', c.phone, 'user_id', c.user_id,
    'created_at', c.created_at, 'last_seen_at', c.last_seen_at,
    'blocked', json(CASE WHEN c.blocked_at IS NULL THEN 'false' ELSE 'true' END))
FROM contacts AS c ORDER BY c.id
"""


def list_merged(db: str) -> None:
    """The same export from three streams in id order, merged in Python: each contact's
    columns as a JSON object, its tag links by the contact index, its property values in name
    order, each value JSON-quoted by SQLite. Byte for byte the output of list_ndjson."""
    conn = connect(db)
    quoted = {
        tag_id: (rank, text)
        for rank, (tag_id, text) in enumerate(
            conn.execute("SELECT id, json_quote(name) FROM tags ORDER BY name COLLATE NOCASE")
        )
    }
    links = _rows(
        conn.execute("SELECT contact_id, tag_id FROM contact_tags INDEXED BY contact_tags_contact ORDER BY contact_id")
    )
    names = {
        property_id: (rank, text)
        for rank, (property_id, text) in enumerate(
            conn.execute("SELECT id, json_quote(name) FROM properties ORDER BY folded, name")
        )
    }
    points = _rows(conn.execute("SELECT contact_id, property_id, json_quote(value) FROM property_values ORDER BY 1"))
    end = (1 << 63, None)
    link, point = next(links, end), next(points, end)
    out, rows = sys.stdout, 0
    cursor = conn.execute(HEAD)
    while batch := cursor.fetchmany(1000):
        lines = []
        for contact_id, head in batch:
            tags = []
            while link[0] == contact_id:
                tags.append(quoted[link[1]])
                link = next(links, end)
            if len(tags) > 1:
                tags.sort()
            values = []
            while point[0] == contact_id:
                rank, name = names[point[1]]
                values.append((rank, f"{name}:{point[2]}"))
                point = next(points, end)
            if len(values) > 1:
                values.sort()
            properties = ",".join(text for _, text in values)
            lines.append(f'{head[:-1]},"tags":[{",".join(text for _, text in tags)}],"properties":{{{properties}}}}}')
        out.write("\n".join(lines))
        out.write("\n")
        rows += len(batch)
    out.flush()
    sys.stderr.write(f'{{"selected": {rows}, "changed": 0}}\n')


def _rows(cursor):
    while batch := cursor.fetchmany(2000):
        yield from batch


def count_tag(db: str, tag: str) -> None:
    conn = connect(db)
    (n,) = conn.execute(
        "SELECT count(*) FROM contact_tags WHERE tag_id = (SELECT id FROM tags WHERE name = ?)", [tag]
    ).fetchone()
    report(n, 0)


# Flows -------------------------------------------------------------------------------------

FLOW = "bench-flow"
CUTOFF_365D = "2025-11-01T12:00:00Z"  # now - 365d


def flow_steps(db: str, scale: str) -> None:
    """The sum of the 6-step flow's steps (benchmarks/flows/bench-flow.yaml), each one
    set-based statement over the matched contacts; the branch splits them by one condition."""
    conn = connect(db)
    sql, params = SELECTIONS[scale]
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TEMP TABLE m (id INTEGER PRIMARY KEY)")
    # match: 'score < 10', blocked contacts excluded
    conn.execute(
        f"INSERT INTO m(id) SELECT s.contact_id FROM ({sql}) AS s JOIN contacts AS c ON c.id = s.contact_id "
        "WHERE c.blocked_at IS NULL ORDER BY s.contact_id",
        params,
    )
    matched = conn.execute("SELECT count(*) FROM m").fetchone()[0]
    changed = {}
    # 1. tag_add: [winback]
    changed["tag_add"] = conn.execute(
        "INSERT OR IGNORE INTO contact_tags(tag_id, contact_id, added_at) SELECT ?, id, ? FROM m",
        [tag_id(conn, "winback"), NOW],
    ).rowcount
    # 2. tag_remove: [newsletter]
    changed["tag_remove"] = conn.execute(
        "DELETE FROM contact_tags WHERE tag_id = ? AND contact_id IN (SELECT id FROM m)",
        [tag_id(conn, "newsletter")],
    ).rowcount
    # 3. note with two placeholders
    changed["note"] = conn.execute(
        "INSERT INTO notes(contact_id, body, author, created_at) "
        "SELECT c.id, 'Win-back started for ' || coalesce(c.name, '') || ' (last seen ' || "
        "coalesce(c.last_seen_at, '') || ')', ?, ? FROM m JOIN contacts AS c ON c.id = m.id",
        [f"flow:{FLOW}", NOW],
    ).rowcount
    # 4. set: {lifecycle: winback}
    changed["set"] = conn.execute(
        "INSERT INTO property_values(contact_id, property_id, value) "
        "SELECT id, (SELECT id FROM properties WHERE name = 'lifecycle'), 'winback' FROM m WHERE true "
        "ON CONFLICT(contact_id, property_id) DO UPDATE SET value = excluded.value",
    ).rowcount
    # 5. if last_seen_at < now - 365d: then block, else tag_add [win-active]
    conn.execute("CREATE TEMP TABLE quiet (id INTEGER PRIMARY KEY)")
    conn.execute(
        "INSERT INTO quiet(id) SELECT c.id FROM m JOIN contacts AS c ON c.id = m.id "
        "WHERE c.last_seen_at IS NOT NULL AND c.last_seen_at < ?",
        [CUTOFF_365D],
    )
    changed["block"] = conn.execute(
        "UPDATE contacts SET blocked_at = ? WHERE blocked_at IS NULL AND id IN (SELECT id FROM quiet)", [NOW]
    ).rowcount
    active = conn.execute(
        "INSERT OR IGNORE INTO contact_tags(tag_id, contact_id, added_at) "
        "SELECT ?, id, ? FROM m WHERE id NOT IN (SELECT id FROM quiet)",
        [tag_id(conn, "win-active"), NOW],
    ).rowcount
    # 6. tag_add: [winback-done]
    done = conn.execute(
        "INSERT OR IGNORE INTO contact_tags(tag_id, contact_id, added_at) SELECT ?, id, ? FROM m",
        [tag_id(conn, "winback-done"), NOW],
    ).rowcount
    changed["tag_add"] += active + done
    conn.execute("COMMIT")
    report(matched, sum(changed.values()), by_action=changed)


BRANCHING = "bench-branching"


def flow_branching(db: str, scale: str) -> None:
    """The sum of benchmarks/flows/bench-flow-branching.yaml's steps: a switch on plan (one
    tag_add per case), then a 50/50 split by the documented hash (sha256 of flow, split id and
    contact id, modulo 100) with an outbox record per contact in each branch. Not included, as
    for enrolments: recording each contact's branch (crmctl's bookkeeping for `flow status`)."""
    import hashlib

    conn = connect(db)

    def bucket(seed: str, contact_id: int) -> int:
        return int.from_bytes(hashlib.sha256(f"{seed}\x1f{contact_id}".encode()).digest()[:8], "big") % 100

    conn.create_function("bucket", 2, bucket, deterministic=True)
    sql, params = SELECTIONS[scale]
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TEMP TABLE m (id INTEGER PRIMARY KEY)")
    conn.execute(
        f"INSERT INTO m(id) SELECT s.contact_id FROM ({sql}) AS s JOIN contacts AS c ON c.id = s.contact_id "
        "WHERE c.blocked_at IS NULL ORDER BY s.contact_id",
        params,
    )
    matched = conn.execute("SELECT count(*) FROM m").fetchone()[0]
    changed = {"tag_add": 0, "emit": 0}
    # switch: plan — each case's contacts from the plan index, one tag_add each
    for plan, tag in (("trial", "winback"), ("paid", "win-active")):
        changed["tag_add"] += conn.execute(
            "INSERT OR IGNORE INTO contact_tags(tag_id, contact_id, added_at) SELECT ?, m.id, ? FROM m "
            "WHERE m.id IN (SELECT contact_id FROM property_values "
            "WHERE property_id = (SELECT id FROM properties WHERE name = 'plan') AND value = ?)",
            [tag_id(conn, tag), NOW, plan],
        ).rowcount
    # split: 50/50 by hash, then one outbox record per contact with two fields
    conn.execute("CREATE TEMP TABLE b (id INTEGER PRIMARY KEY, bucket INTEGER)")
    conn.execute("INSERT INTO b(id, bucket) SELECT id, bucket(?, id) FROM m", [f"{BRANCHING}\x1fsubject-test"])
    for outbox, low, high in (("bench-a", 0, 50), ("bench-b", 50, 100)):
        changed["emit"] += conn.execute(
            "INSERT INTO outbox_records(outbox, contact_id, email, name, fields, flow, step, run_id, emitted_at) "
            "SELECT ?, c.id, c.email, c.name, json_object("
            "'plan', (SELECT a.value FROM property_values AS a JOIN properties AS p ON p.id = a.property_id "
            "WHERE a.contact_id = c.id AND p.name = 'plan'), "
            "'country', (SELECT a.value FROM property_values AS a JOIN properties AS p ON p.id = a.property_id "
            "WHERE a.contact_id = c.id AND p.name = 'country')), "
            "?, ?, NULL, ? FROM b CROSS JOIN contacts AS c ON c.id = b.id WHERE b.bucket >= ? AND b.bucket < ? "
            "ORDER BY c.id",
            [outbox, BRANCHING, "subject-test", NOW, low, high],
        ).rowcount
    conn.execute("COMMIT")
    report(matched, sum(changed.values()), by_action=changed)


def flow_rerun(db: str, scale: str) -> None:
    """A second run of a completed flow: the match, minus contacts already enrolled."""
    conn = connect(db)
    sql, params = SELECTIONS[scale]
    (n,) = conn.execute(
        f"SELECT count(*) FROM ({sql}) AS s JOIN contacts AS c ON c.id = s.contact_id "
        "WHERE c.blocked_at IS NULL AND NOT EXISTS (SELECT 1 FROM flow_enrolments AS e "
        "WHERE e.flow = ? AND e.contact_id = c.id)",
        [*params, FLOW],
    ).fetchone()
    report(n, 0)


DURABLE = "bench-durable"


def durable(db: str, scale: str, now: str) -> None:
    """One run of benchmarks/flows/bench-durable.yaml with contacts parked at `cool-off`:
    find the due ones, apply the two steps after the wait, mark them completed; and find
    the newly matching (none: every match is already parked)."""
    conn = connect(db)
    sql, params = SELECTIONS[scale]
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TEMP TABLE due (id INTEGER PRIMARY KEY)")
    conn.execute(
        "INSERT INTO due(id) SELECT e.contact_id FROM flow_enrolments AS e JOIN contacts AS c ON c.id = e.contact_id "
        "WHERE e.flow = ? AND e.state = 'active' AND e.position = 'cool-off' AND e.due_at <= ? "
        "AND c.blocked_at IS NULL ORDER BY e.contact_id",
        [DURABLE, now],
    )
    resumed = conn.execute("SELECT count(*) FROM due").fetchone()[0]
    tagged = conn.execute(
        "INSERT OR IGNORE INTO contact_tags(tag_id, contact_id, added_at) SELECT ?, id, ? FROM due",
        [tag_id(conn, "followed-up"), now],
    ).rowcount
    noted = conn.execute(
        "INSERT INTO notes(contact_id, body, author, created_at) SELECT id, 'Follow-up after the cool-off', ?, ? "
        "FROM due",
        [f"flow:{DURABLE}", now],
    ).rowcount
    conn.execute(
        "UPDATE flow_enrolments SET state = 'completed', position = NULL, due_at = NULL, finished_at = ? "
        "WHERE flow = ? AND contact_id IN (SELECT id FROM due)",
        [now, DURABLE],
    )
    (new,) = conn.execute(
        f"SELECT count(*) FROM ({sql}) AS s JOIN contacts AS c ON c.id = s.contact_id "
        "WHERE c.blocked_at IS NULL AND NOT EXISTS (SELECT 1 FROM flow_enrolments AS e "
        "WHERE e.flow = ? AND e.contact_id = c.id)",
        [*params, DURABLE],
    ).fetchone()
    conn.execute("COMMIT")
    report(new, tagged + noted, resumed=resumed)


# Import ------------------------------------------------------------------------------------

CONTACT_COLUMNS = ("email", "name", "phone", "user_id", "created_at", "last_seen_at")
SKIP = frozenset(CONTACT_COLUMNS) | {"blocked", "tags", "conversations"}
BATCH = 5000


def load(db: str, path: str) -> None:
    """A raw load of the same rows into an empty crmctl database: parse each NDJSON line and
    executemany into contacts, property values, tags, tag links, conversations and messages,
    with explicit ids, in one transaction. No validation, no upsert: the floor of any import."""
    import json

    from crmctl.folding import fold

    conn = connect(db)
    conn.execute("BEGIN IMMEDIATE")
    property_ids = dict(conn.execute("SELECT name, id FROM properties").fetchall())
    tags: dict[str, int] = {}
    contact_id = conversation_id = 0
    contacts, attributes, links, conversations, messages = [], [], [], [], []
    loads = json.loads

    def flush() -> None:
        conn.executemany(
            "INSERT INTO contacts(id, email, email_key, name, phone, user_id, created_at, last_seen_at, blocked_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            contacts,
        )
        conn.executemany("INSERT INTO property_values(contact_id, property_id, value) VALUES (?, ?, ?)", attributes)
        conn.executemany("INSERT INTO contact_tags(tag_id, contact_id, added_at) VALUES (?, ?, ?)", links)
        conn.executemany(
            "INSERT INTO conversations(id, contact_id, subject, created_at) VALUES (?, ?, ?, ?)", conversations
        )
        conn.executemany("INSERT INTO messages(conversation_id, body, sender, sent_at) VALUES (?, ?, ?, ?)", messages)
        for rows in (contacts, attributes, links, conversations, messages):
            rows.clear()

    with open(path, "rb") as stream:
        for line in stream:
            record = loads(line)
            contact_id += 1
            get = record.get
            contacts.append(
                (
                    contact_id,
                    get("email"),
                    fold(get("email")),  # the folded key every write keeps (crmctl.folding)
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
                    attributes.append((contact_id, property_ids[key], value))
            for name in get("tags") or ():
                tid = tags.get(name)
                if tid is None:
                    tid = tags[name] = conn.execute(
                        "INSERT INTO tags(name, name_key, created_at) VALUES (?, ?, ?)", [name, fold(name), NOW]
                    ).lastrowid
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
    conn.execute("COMMIT")
    report(contact_id, contact_id)


OPERATIONS = {
    "tag-add": lambda a: tag_add(a.db, a.scale, a.arg or "campaign-q4"),
    "tag-remove": lambda a: tag_remove(a.db, a.scale, a.arg or "campaign-q4"),
    "note": lambda a: note(a.db, a.scale),
    "block": lambda a: block(a.db, a.scale),
    "unblock": lambda a: unblock(a.db, a.scale),
    "set": lambda a: set_property(a.db, a.scale, a.arg or "score", a.value or "90"),
    "delete": lambda a: delete(a.db, a.scale),
    "delete-secure": lambda a: delete(a.db, a.scale, secure=True),
    "list": lambda a: list_ndjson(a.db),
    "list-merged": lambda a: list_merged(a.db),
    "list-ceiling": lambda a: list_ceiling(a.db),
    "count-tag": lambda a: count_tag(a.db, a.arg or "vip"),
    "flow": lambda a: flow_steps(a.db, a.scale),
    "flow-branching": lambda a: flow_branching(a.db, a.scale),
    "flow-rerun": lambda a: flow_rerun(a.db, a.scale),
    "durable": lambda a: durable(a.db, a.scale, a.now),
    "import": lambda a: load(a.db, a.arg),
}


if __name__ == "__main__":
    run(OPERATIONS, SELECTIONS, __doc__ or "")
