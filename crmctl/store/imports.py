"""SQL for `contact import`: TEMP staging tables filled in chunks, then a few set-based
statements per table. Nothing here runs one statement per contact.

Staging tables (all TEMP, all keyed by `pos`, the record's position in the file):
  import_rows           one row per valid record, with the matched contact id and flags
  import_tags           (pos, tag name)
  import_values         (pos, property_id, value), in the property's stored form
  import_new_values     (pos, name, raw): values of properties an import declares, as JSON text
  import_conversations  (pos, seq, subject, created_at, first_sent_at, conversation_id, skip)
  import_messages       (pos, seq, mseq, body, sender, sent_at)
  import_notes          (pos, seq, body, author, created_at, skip)
  import_tag_names      the distinct tag names, their catalog id and whether the import made them
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crmctl.folding import FOLD
from crmctl.store import audit, scopes
from crmctl.store.pg import is_postgres
from crmctl.store.pg.schema import advance_identities
from crmctl.store.properties import batches, changed_value, stored, value_sql
from crmctl.store.script import run_script
from crmctl.testhook import pause_point

if TYPE_CHECKING:
    from sqlite_utils import Database

TOUCHED = "imported"

_TABLES = (
    "import_rows",
    "import_tags",
    "import_values",
    "import_new_values",
    "import_conversations",
    "import_messages",
    "import_notes",
    "import_tag_names",
)

_STAGING = """
CREATE TEMP TABLE import_rows (
    pos INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,  -- crmctl_fold(email): the upsert key
    name TEXT, phone TEXT, user_id TEXT, created_at TEXT, last_seen_at TEXT,
    block INTEGER,            -- NULL: leave as is, 0: unblock, 1: block
    blocked_at TEXT,          -- with block = 1: this time, or NULL for "now unless already blocked"
    kept_id INTEGER,          -- --keep-ids: the id the record asks for
    contact_id INTEGER,
    existed INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0
);
-- Plain heaps, appended in pos order and only ever scanned: no index to maintain.
-- (The reader already made tag names and properties unique within a record.)
CREATE TEMP TABLE import_tags (pos INTEGER NOT NULL, name TEXT NOT NULL, name_key TEXT NOT NULL);
-- `value` has no declared type, like property_values.value: numbers stay numbers, text stays text.
CREATE TEMP TABLE import_values (pos INTEGER NOT NULL, property_id INTEGER NOT NULL, value NOT NULL);
CREATE TEMP TABLE import_new_values (pos INTEGER NOT NULL, name TEXT NOT NULL, raw TEXT NOT NULL);
CREATE TEMP TABLE import_conversations (
    pos INTEGER NOT NULL, seq INTEGER NOT NULL, subject TEXT, created_at TEXT, first_sent_at TEXT,
    conversation_id INTEGER, skip INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (pos, seq)
) WITHOUT ROWID;
CREATE TEMP TABLE import_messages (
    pos INTEGER NOT NULL, seq INTEGER NOT NULL, mseq INTEGER NOT NULL, body TEXT, sender TEXT, sent_at TEXT,
    PRIMARY KEY (pos, seq, mseq)
) WITHOUT ROWID;
CREATE TEMP TABLE import_notes (
    pos INTEGER NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, author TEXT, created_at TEXT,
    skip INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (pos, seq)
) WITHOUT ROWID;
CREATE TEMP TABLE import_tag_names (
    name_key TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL, tag_id INTEGER, created INTEGER NOT NULL DEFAULT 0
);
"""
# PostgreSQL: values are jsonb, as in property_values; text compares and sorts bytewise.
_STAGING_PG = _STAGING.replace("value NOT NULL", "value jsonb NOT NULL").replace(" TEXT", ' TEXT COLLATE "C"')


@dataclass
class Batch:
    """One chunk of validated records, as rows for the staging tables.

    row: (email, name, phone, user_id, created_at, last_seen_at, block, blocked_at)
    conversations: [(subject, created_at, first_sent_at, [(body, sender, sent_at), …]), …]
    notes: [(body, author, created_at), …]
    """

    rows: list[tuple] = field(default_factory=list)
    tags: list[tuple] = field(default_factory=list)
    values: list[tuple] = field(default_factory=list)
    new_values: list[tuple] = field(default_factory=list)
    conversations: list[tuple] = field(default_factory=list)
    messages: list[tuple] = field(default_factory=list)
    notes: list[tuple] = field(default_factory=list)

    def add(
        self,
        pos: int,
        label: str,
        row: tuple,
        tags: list[str],
        values: list[tuple[int, Any]],
        new_values: list[tuple[str, str]],
        conversations: list[tuple],
        notes: list[tuple] = (),  # type: ignore[assignment]
        kept_id: int | None = None,
    ) -> None:
        self.rows.append((pos, label, *row, kept_id))
        if notes:
            self.notes.extend((pos, seq, *note) for seq, note in enumerate(notes))
        if tags:
            self.tags.extend([(pos, name) for name in tags])
        self.values.extend([(pos, property_id, value) for property_id, value in values])
        if new_values:
            self.new_values.extend([(pos, name, raw) for name, raw in new_values])
        for seq, (subject, created_at, first_sent_at, messages) in enumerate(conversations):
            self.conversations.append((pos, seq, subject, created_at, first_sent_at))
            self.messages.extend((pos, seq, mseq, *message) for mseq, message in enumerate(messages))


@dataclass
class Outcome:
    inserted: int
    updated: int
    unchanged: int
    tags_created: list[str]


# Staging ----------------------------------------------------------------------------------


def create_staging(db: Database) -> None:
    drop_staging(db)
    run_script(db, _STAGING_PG if is_postgres(db) else _STAGING)


def drop_staging(db: Database) -> None:
    for table in _TABLES:
        db.execute(f"DROP TABLE IF EXISTS temp.{table}")
    scopes.drop(db, TOUCHED)


def _many(db: Database) -> Callable[[str, list[tuple]], Any]:
    return db.executemany if is_postgres(db) else db.conn.executemany  # type: ignore[attr-defined]


def stage(db: Database, batch: Batch) -> None:
    many = _many(db)
    # Keys by the one case rule (crmctl.folding), computed as each row goes in.
    many(
        "INSERT INTO temp.import_rows(pos, label, email, email_key, name, phone, user_id, created_at, "
        f"last_seen_at, block, blocked_at, kept_id) VALUES (?1, ?2, ?3, {FOLD}(?3), ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        batch.rows,
    )
    many("INSERT INTO temp.import_notes(pos, seq, body, author, created_at) VALUES (?, ?, ?, ?, ?)", batch.notes)
    many(f"INSERT INTO temp.import_tags(pos, name, name_key) VALUES (?1, ?2, {FOLD}(?2))", batch.tags)
    values = batch.values
    if is_postgres(db):
        values = [(pos, property_id, stored(db, value)) for pos, property_id, value in values]
    many(f"INSERT INTO temp.import_values(pos, property_id, value) VALUES (?, ?, {value_sql(db)})", values)
    many("INSERT INTO temp.import_new_values(pos, name, raw) VALUES (?, ?, ?)", batch.new_values)
    many(
        "INSERT INTO temp.import_conversations(pos, seq, subject, created_at, first_sent_at) VALUES (?, ?, ?, ?, ?)",
        batch.conversations,
    )
    many(
        "INSERT INTO temp.import_messages(pos, seq, mseq, body, sender, sent_at) VALUES (?, ?, ?, ?, ?, ?)",
        batch.messages,
    )


def convert_new_values(
    db: Database, created: list[tuple[str, int, str]], function_name: str, function: Callable[[str, str], Any]
) -> None:
    """Stage the values of newly declared properties ((name, id, type)) in their stored form;
    `function(type, raw)` converts one (every value fits: the type was inferred from them)."""
    if is_postgres(db):  # in Python, batch by batch
        for name, property_id, kind in created:
            for rows in batches(db, "SELECT pos, raw FROM temp.import_new_values WHERE name = ? ORDER BY pos", [name]):
                db.executemany(  # type: ignore[attr-defined]
                    "INSERT INTO temp.import_values(pos, property_id, value) VALUES (?, ?, CAST(? AS jsonb))",
                    [(pos, property_id, stored(db, function(kind, raw))) for pos, raw in rows],
                )
        db.execute("DELETE FROM temp.import_new_values")
        return
    db.register_function(function, deterministic=True, name=function_name)
    for name, property_id, kind in created:
        db.execute(
            f"INSERT INTO temp.import_values(pos, property_id, value) SELECT pos, ?, {function_name}(?, raw) "
            "FROM temp.import_new_values WHERE name = ? ORDER BY pos",
            [property_id, kind, name],
        )
    db.execute("DELETE FROM temp.import_new_values")


def index_staging(db: Database) -> None:
    """Built once after loading: cheaper than maintaining it row by row."""
    if is_postgres(db):  # temp tables get no statistics unless asked
        db.execute("CREATE INDEX import_rows_email_key ON pg_temp.import_rows(email_key)")
        for table in _TABLES:
            db.execute(f"ANALYZE pg_temp.{table}")
        return
    db.execute("CREATE INDEX temp.import_rows_email_key ON import_rows(email_key)")


# Repeated emails within one file ----------------------------------------------------------

_REPEATS = """
    FROM (SELECT email_key, min(pos) AS first FROM temp.import_rows GROUP BY email_key HAVING count(*) > 1) AS g
    JOIN temp.import_rows AS d ON d.email_key = g.email_key AND d.pos > g.first
"""


def repeated_emails(db: Database, limit: int) -> tuple[list[tuple[int, str, str]], int]:
    """(pos, label, label of the first record with that email under the case rule) for later
    repeats; and their number."""
    total = db.execute(f"SELECT count(*) {_REPEATS}").fetchone()[0]
    shown = db.execute(
        f"SELECT d.pos, d.label, f.label {_REPEATS} JOIN temp.import_rows AS f ON f.pos = g.first "
        "ORDER BY d.pos LIMIT ?",
        [limit],
    ).fetchall()
    return shown, total


def drop_repeats(db: Database) -> None:
    db.execute(
        "DELETE FROM temp.import_rows WHERE EXISTS (SELECT 1 FROM temp.import_rows AS f "
        "WHERE f.email_key = import_rows.email_key AND f.pos < import_rows.pos)"
    )
    drop_orphans(db)


def drop_orphans(db: Database) -> None:
    """Staged tags, property values, conversations and notes of records no longer in import_rows."""
    for table in ("import_tags", "import_values", "import_conversations", "import_messages", "import_notes"):
        db.execute(
            f"DELETE FROM temp.{table} WHERE NOT EXISTS (SELECT 1 FROM temp.import_rows AS r WHERE r.pos = {table}.pos)"
        )


# Applying the staged records --------------------------------------------------------------


def apply(db: Database, *, now: str, actor: str, rejected: int) -> Outcome:
    """Upsert everything staged, then write the audit entries. The caller owns the transaction."""
    match_existing(db)
    tags_created = create_tags(db, now)
    skip_known_conversations(db)
    skip_known_notes(db)
    mark_changed(db)
    insert_new_contacts(db, now)
    update_changed_contacts(db, now)
    pause_point("import:contacts")
    link_tags(db, now)
    set_values(db)
    append_conversations(db, now)
    append_notes(db, now)
    outcome = Outcome(*counts(db), tags_created=tags_created)
    if tags_created:
        audit.record(db, at=now, actor=actor, action="tag_create", detail=", ".join(tags_created))
    record_audit(db, outcome, now=now, actor=actor, rejected=rejected)
    return outcome


def match_existing(db: Database) -> None:
    db.execute(
        "UPDATE temp.import_rows SET contact_id = "
        "(SELECT c.id FROM contacts AS c WHERE c.email_key = import_rows.email_key)"
    )
    db.execute("UPDATE temp.import_rows SET existed = 1 WHERE contact_id IS NOT NULL")
    if is_postgres(db):
        db.execute("ANALYZE pg_temp.import_rows")


def stage_catalog_tags(db: Database, names: list[str]) -> None:
    """Tags named by an export's catalog record, so that tags no contact has come back too."""
    _many(db)(
        f"INSERT OR IGNORE INTO temp.import_tag_names(name_key, name) VALUES ({FOLD}(?1), ?1)", [(n,) for n in names]
    )


def sequence(db: Database) -> int:
    """The highest contact id ever given out (AUTOINCREMENT's sequence, or the highest id)."""
    if is_postgres(db):
        return max(
            db.execute("SELECT coalesce(max(id), 0) FROM contacts").fetchone()[0], identity_given(db, "contacts")
        )
    return db.execute(
        "SELECT max(coalesce((SELECT max(id) FROM contacts), 0), "
        "coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'contacts'), 0))"
    ).fetchone()[0]


_KEPT_CONFLICTS = """
    FROM temp.import_rows AS r
    LEFT JOIN contacts AS by_id ON by_id.id = r.kept_id
    LEFT JOIN contacts AS by_email ON by_email.email_key = r.email_key
    WHERE (by_id.id IS NOT NULL AND by_id.email_key != r.email_key)
       OR (by_email.id IS NOT NULL AND by_email.id != r.kept_id)
       OR (by_id.id IS NULL AND by_email.id IS NULL AND r.kept_id <= :sequence)
"""


def kept_id_conflicts(db: Database, limit: int) -> tuple[list[str], int]:
    """--keep-ids: records whose id belongs to another contact, whose email is a contact with
    another id, or whose id this database has given out before (at or below the sequence:
    ids are never reused). Returns (messages for the first `limit`, total)."""
    params = {"sequence": sequence(db), "limit": limit}
    total = db.execute(f"SELECT count(*) {_KEPT_CONFLICTS}", params).fetchone()[0]
    rows = db.execute(
        f"SELECT r.label, r.kept_id, by_id.id IS NOT NULL AND by_id.email_key != r.email_key, by_email.id "
        f"{_KEPT_CONFLICTS} ORDER BY r.pos LIMIT :limit",
        params,
    ).fetchall()
    shown = []
    for label, kept, taken, other in rows:
        if taken:
            shown.append(f"{label}: id {kept} belongs to another contact")
        elif other is not None:
            shown.append(f"{label}: this email has id {other}, not {kept}")
        else:
            shown.append(
                f"{label}: id {kept} is at or below the highest id this database has given out "
                f"({params['sequence']}); ids are never reused"
            )
    return shown, total


def repeated_ids(db: Database) -> list[str]:
    return [
        f"{label}: id {kept} is given twice"
        for label, kept in db.execute(
            "SELECT d.label, d.kept_id FROM temp.import_rows AS d WHERE d.kept_id IS NOT NULL AND EXISTS ("
            "SELECT 1 FROM temp.import_rows AS f WHERE f.kept_id = d.kept_id AND f.pos < d.pos) ORDER BY d.pos LIMIT 20"
        )
    ]


def create_tags(db: Database, now: str) -> list[str]:
    """Catalog every staged tag name (the first spelling in the file wins); return the new ones."""
    db.execute(
        "INSERT OR IGNORE INTO temp.import_tag_names(name_key, name) "
        "SELECT name_key, name FROM temp.import_tags ORDER BY pos"
    )
    _resolve_tag_ids(db)
    db.execute("UPDATE temp.import_tag_names SET created = 1 WHERE tag_id IS NULL")
    db.execute(
        "INSERT INTO tags(name, name_key, created_at) "
        "SELECT name, name_key, ? FROM temp.import_tag_names WHERE created = 1 ORDER BY name_key",
        [now],
    )
    _resolve_tag_ids(db)
    return [row[0] for row in db.execute("SELECT name FROM temp.import_tag_names WHERE created = 1 ORDER BY name_key")]


def _resolve_tag_ids(db: Database) -> None:
    db.execute(
        "UPDATE temp.import_tag_names SET tag_id = "
        "(SELECT t.id FROM tags AS t WHERE t.name_key = import_tag_names.name_key) "
        "WHERE tag_id IS NULL"
    )


def skip_known_conversations(db: Database) -> None:
    """A conversation the contact already has (same subject, same first message time) is not added again."""
    db.execute(
        f"""
        UPDATE temp.import_conversations SET skip = 1 WHERE EXISTS (
            SELECT 1 FROM temp.import_rows AS r JOIN conversations AS c ON c.contact_id = r.contact_id
            WHERE r.pos = import_conversations.pos
              AND c.subject {_is(db)} import_conversations.subject
              AND (SELECT min(m.sent_at) FROM messages AS m WHERE m.conversation_id = c.id)
                  {_is(db)} import_conversations.first_sent_at)
        """
    )


def skip_known_notes(db: Database) -> None:
    """A note the contact already has (same body, author and time) is not added again."""
    db.execute(
        f"""
        UPDATE temp.import_notes SET skip = 1 WHERE EXISTS (
            SELECT 1 FROM temp.import_rows AS r JOIN notes AS n ON n.contact_id = r.contact_id
            WHERE r.pos = import_notes.pos AND n.body = import_notes.body
              AND n.author {_is(db)} import_notes.author AND n.created_at {_is(db)} import_notes.created_at)
        """
    )


def _is(db: Database, negated: bool = False) -> str:
    """SQLite's `IS` / `IS NOT` (NULL-safe comparison), which PostgreSQL spells out."""
    if is_postgres(db):
        return "IS DISTINCT FROM" if negated else "IS NOT DISTINCT FROM"
    return "IS NOT" if negated else "IS"


def mark_changed(db: Database) -> None:
    """Flag the existing contacts that this import changes in any way."""
    if not db.execute("SELECT 1 FROM temp.import_rows WHERE existed = 1 LIMIT 1").fetchone():
        return
    _mark_changed_fields(db)
    _mark(
        db,
        "SELECT t.pos FROM temp.import_tags AS t JOIN temp.import_rows AS r ON r.pos = t.pos "
        "JOIN temp.import_tag_names AS n ON n.name_key = t.name_key WHERE r.existed = 1 AND NOT EXISTS ("
        "SELECT 1 FROM contact_tags AS ct WHERE ct.tag_id = n.tag_id AND ct.contact_id = r.contact_id)",
    )
    same = "x.value = a.value AND typeof(x.value) = typeof(a.value)"
    if is_postgres(db):
        same = "x.value::text = a.value::text"
    _mark(
        db,
        "SELECT a.pos FROM temp.import_values AS a JOIN temp.import_rows AS r ON r.pos = a.pos "
        "WHERE r.existed = 1 AND NOT EXISTS (SELECT 1 FROM property_values AS x WHERE x.contact_id = r.contact_id "
        f"AND x.property_id = a.property_id AND {same})",
    )
    _mark(db, "SELECT pos FROM temp.import_conversations WHERE skip = 0")
    _mark(db, "SELECT pos FROM temp.import_notes WHERE skip = 0")


def _mark(db: Database, positions_sql: str) -> None:
    db.execute(
        f"UPDATE temp.import_rows SET changed = 1 WHERE existed = 1 AND changed = 0 AND pos IN ({positions_sql})"
    )


def _mark_changed_fields(db: Database) -> None:
    differs = _is(db, negated=True)
    db.execute(
        f"""
        UPDATE temp.import_rows SET changed = 1
        FROM contacts AS c
        WHERE c.id = import_rows.contact_id AND (
               (import_rows.name IS NOT NULL AND import_rows.name {differs} c.name)
            OR (import_rows.phone IS NOT NULL AND import_rows.phone {differs} c.phone)
            OR (import_rows.user_id IS NOT NULL AND import_rows.user_id {differs} c.user_id)
            OR (import_rows.created_at IS NOT NULL AND import_rows.created_at {differs} c.created_at)
            OR (import_rows.last_seen_at IS NOT NULL AND import_rows.last_seen_at {differs} c.last_seen_at)
            OR (import_rows.block = 0 AND c.blocked_at IS NOT NULL)
            OR (import_rows.block = 1 AND (c.blocked_at IS NULL
                OR (import_rows.blocked_at IS NOT NULL AND import_rows.blocked_at {differs} c.blocked_at))))
        """
    )


def insert_new_contacts(db: Database, now: str) -> None:
    """New contacts get explicit ids past every id ever used (AUTOINCREMENT's sequence, so no
    deleted contact's id comes back), in file order (what SQLite would choose anyway), so no
    second lookup by email is needed."""
    _number_new_rows(db)
    db.execute(
        """
        INSERT INTO contacts(id, email, email_key, name, phone, user_id, created_at, last_seen_at, blocked_at)
        SELECT contact_id, email, email_key, name, phone, user_id, coalesce(created_at, :now), last_seen_at,
               CASE block WHEN 1 THEN coalesce(blocked_at, :now) END
        FROM temp.import_rows WHERE existed = 0 ORDER BY pos
        """,
        {"now": now},
    )
    if is_postgres(db):
        advance_identities(db, ["contacts"])


def _number_new_rows(db: Database) -> None:
    """Kept ids (--keep-ids, checked to be past the sequence) first; the others after the
    highest of those and of every id ever given out."""
    db.execute("UPDATE temp.import_rows SET contact_id = kept_id WHERE existed = 0 AND kept_id IS NOT NULL")
    base = max(sequence(db), db.execute("SELECT coalesce(max(kept_id), 0) FROM temp.import_rows").fetchone()[0])
    db.execute(
        """
        UPDATE temp.import_rows SET contact_id = :base + n.rn
        FROM (SELECT pos, row_number() OVER (ORDER BY pos) AS rn FROM temp.import_rows
              WHERE existed = 0 AND kept_id IS NULL) AS n
        WHERE n.pos = import_rows.pos
        """,
        {"base": base},
    )


def update_changed_contacts(db: Database, now: str) -> None:
    """Given fields overwrite, missing ones leave the stored value; the email itself is kept."""
    db.execute(
        """
        UPDATE contacts SET
            name = coalesce(s.name, contacts.name),
            phone = coalesce(s.phone, contacts.phone),
            user_id = coalesce(s.user_id, contacts.user_id),
            created_at = coalesce(s.created_at, contacts.created_at),
            last_seen_at = coalesce(s.last_seen_at, contacts.last_seen_at),
            blocked_at = CASE s.block WHEN 0 THEN NULL
                                      WHEN 1 THEN coalesce(s.blocked_at, contacts.blocked_at, :now)
                                      ELSE contacts.blocked_at END
        FROM temp.import_rows AS s
        WHERE s.contact_id = contacts.id AND s.changed = 1
        """,
        {"now": now},
    )


_WRITTEN = "(r.existed = 0 OR r.changed = 1)"


def link_tags(db: Database, now: str) -> None:
    db.execute(
        "INSERT OR IGNORE INTO contact_tags(tag_id, contact_id, added_at) "
        "SELECT n.tag_id, r.contact_id, ? FROM temp.import_tags AS t "
        "JOIN temp.import_rows AS r ON r.pos = t.pos JOIN temp.import_tag_names AS n ON n.name_key = t.name_key "
        f"WHERE {_WRITTEN}",
        [now],
    )


def set_values(db: Database) -> None:
    db.execute(
        "INSERT INTO property_values(contact_id, property_id, value) "
        "SELECT r.contact_id, a.property_id, a.value FROM temp.import_values AS a "
        f"JOIN temp.import_rows AS r ON r.pos = a.pos WHERE {_WRITTEN} "
        f"ON CONFLICT(contact_id, property_id) DO UPDATE SET value = excluded.value WHERE {changed_value(db)}"
    )


def append_conversations(db: Database, now: str) -> None:
    """New conversations get explicit ids (after the current maximum, in file order), so their
    messages can be linked to them set-based."""
    base = db.execute("SELECT coalesce(max(id), 0) FROM conversations").fetchone()[0]
    db.execute(
        """
        UPDATE temp.import_conversations SET conversation_id = :base + n.rn
        FROM (SELECT pos, seq, row_number() OVER (ORDER BY pos, seq) AS rn
              FROM temp.import_conversations WHERE skip = 0) AS n
        WHERE n.pos = import_conversations.pos AND n.seq = import_conversations.seq
        """,
        {"base": base},
    )
    db.execute(
        "INSERT INTO conversations(id, contact_id, subject, created_at) "
        "SELECT v.conversation_id, r.contact_id, v.subject, coalesce(v.created_at, ?) "
        "FROM temp.import_conversations AS v JOIN temp.import_rows AS r ON r.pos = v.pos "
        "WHERE v.conversation_id IS NOT NULL ORDER BY v.conversation_id",
        [now],
    )
    if is_postgres(db):
        advance_identities(db, ["conversations"])
    db.execute(
        "INSERT INTO messages(conversation_id, body, sender, sent_at) "
        "SELECT v.conversation_id, m.body, m.sender, m.sent_at FROM temp.import_messages AS m "
        "JOIN temp.import_conversations AS v ON v.pos = m.pos AND v.seq = m.seq "
        "WHERE v.conversation_id IS NOT NULL ORDER BY v.conversation_id, m.mseq"
    )


def append_notes(db: Database, now: str) -> None:
    db.execute(
        "INSERT INTO notes(contact_id, body, author, created_at) "
        "SELECT r.contact_id, n.body, n.author, coalesce(n.created_at, ?) FROM temp.import_notes AS n "
        "JOIN temp.import_rows AS r ON r.pos = n.pos WHERE n.skip = 0 ORDER BY n.pos, n.seq",
        [now],
    )


def counts(db: Database) -> tuple[int, int, int]:
    """(inserted, updated, unchanged)"""
    row = db.execute(
        "SELECT count(CASE WHEN existed = 0 THEN 1 END), count(CASE WHEN existed = 1 AND changed = 1 THEN 1 END), "
        "count(CASE WHEN existed = 1 AND changed = 0 THEN 1 END) FROM temp.import_rows"
    ).fetchone()
    return row[0], row[1], row[2]


def record_audit(db: Database, outcome: Outcome, *, now: str, actor: str, rejected: int) -> None:
    """One entry with counts only, linked to the inserted and changed contacts' ids.
    An import that changed nothing writes nothing, like every other command."""
    if not outcome.inserted and not outcome.updated:
        return
    scopes.create(db, TOUCHED)
    db.execute(f"INSERT INTO temp.{TOUCHED}(id) SELECT contact_id FROM temp.import_rows AS r WHERE {_WRITTEN}")
    detail = (
        f"inserted {outcome.inserted}, updated {outcome.updated}, unchanged {outcome.unchanged}, rejected {rejected}"
    )
    audit.record(
        db,
        at=now,
        actor=actor,
        action="import",
        detail=detail,
        scope=TOUCHED,
        contacts=outcome.inserted + outcome.updated,
    )


# PostgreSQL identities (moved past explicit ids by crmctl.store.pg.schema.advance_identities) ---


def identity_given(db: Database, table: str) -> int:
    """The highest id `table`'s identity has given out (0: none yet)."""
    sequence_name = db.execute("SELECT pg_get_serial_sequence(?, 'id')", [table]).fetchone()[0]
    last, called = db.execute(f"SELECT last_value, is_called FROM {sequence_name}").fetchone()
    return last if called else last - 1
