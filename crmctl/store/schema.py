"""The versioned schema: sqlite-utils Migrations, applied whenever a database is opened."""

from __future__ import annotations

import functools

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from crmctl.folding import FOLD
from crmctl.store.script import run_script

MIGRATION_SET = "crmctl"
migrations = Migrations(MIGRATION_SET)


@functools.cache
def known_migrations() -> tuple[str, ...]:
    """The names of every migration this crmctl has, in order. sqlite-utils' public API lists
    registered migrations only as those pending for a database, so ask about an empty one."""
    return tuple(m.name for m in migrations.pending(Database(memory=True, execute_plugins=False)))


@migrations()
def m001_core(db: Database) -> None:
    run_script(
        db,
        """
        CREATE TABLE contacts (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL COLLATE NOCASE UNIQUE,
            name TEXT,
            phone TEXT,
            user_id TEXT,
            created_at TEXT,
            last_seen_at TEXT,
            blocked_at TEXT
        );
        CREATE INDEX contacts_created_at ON contacts(created_at);
        CREATE INDEX contacts_last_seen_at ON contacts(last_seen_at);
        CREATE INDEX contacts_blocked_at ON contacts(blocked_at) WHERE blocked_at IS NOT NULL;

        CREATE TABLE tags (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL COLLATE NOCASE UNIQUE,
            created_at TEXT NOT NULL
        );

        -- Keyed by tag first: "who has tag X" is the common question (filters, tag list).
        CREATE TABLE contact_tags (
            tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
            contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            added_at TEXT NOT NULL,
            PRIMARY KEY (tag_id, contact_id)
        ) WITHOUT ROWID;
        CREATE INDEX contact_tags_contact ON contact_tags(contact_id, tag_id);

        -- Data points. `value` is declared without a type so it has no affinity: numbers
        -- stay numbers and text stays text ('007' is not turned into 7).
        CREATE TABLE attributes (
            contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            value,
            PRIMARY KEY (contact_id, key)
        ) WITHOUT ROWID;
        CREATE INDEX attributes_key_value ON attributes(key, value);

        CREATE TABLE notes (
            id INTEGER PRIMARY KEY,
            contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            body TEXT NOT NULL,
            author TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX notes_contact ON notes(contact_id);

        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            subject TEXT,
            created_at TEXT
        );
        CREATE INDEX conversations_contact ON conversations(contact_id);

        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            body TEXT,
            sender TEXT,
            sent_at TEXT
        );
        CREATE INDEX messages_conversation ON messages(conversation_id);

        -- The audit log keeps ids and counts, never personal data, and outlives contacts:
        -- audit_contacts has no foreign key to contacts on purpose.
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            contacts INTEGER NOT NULL,
            detail TEXT,
            run_id INTEGER
        );
        CREATE TABLE audit_contacts (
            audit_id INTEGER NOT NULL REFERENCES audit(id) ON DELETE CASCADE,
            contact_id INTEGER NOT NULL,
            PRIMARY KEY (audit_id, contact_id)
        ) WITHOUT ROWID;
        CREATE INDEX audit_contacts_contact ON audit_contacts(contact_id);

        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT
        );
        INSERT INTO meta(key, value) VALUES ('application', 'crmctl');
        """,
    )


@migrations()
def m002_flows(db: Database) -> None:
    run_script(
        db,
        """
        -- One row per `flow run` of one flow file, real or dry, successful or not.
        CREATE TABLE flow_runs (
            id INTEGER PRIMARY KEY,
            flow TEXT NOT NULL,
            digest TEXT NOT NULL,
            source TEXT,
            started_at TEXT NOT NULL,
            duration_ms INTEGER,
            dry_run INTEGER NOT NULL,
            status TEXT NOT NULL,
            matched INTEGER NOT NULL DEFAULT 0,
            resumed INTEGER NOT NULL DEFAULT 0,
            parked INTEGER NOT NULL DEFAULT 0,
            exited INTEGER NOT NULL DEFAULT 0,
            completed INTEGER NOT NULL DEFAULT 0,
            changed TEXT,
            steps TEXT,
            error TEXT
        );
        CREATE INDEX flow_runs_flow ON flow_runs(flow, id);

        -- The definitions that contacts were enrolled under, by digest.
        CREATE TABLE flow_definitions (
            digest TEXT PRIMARY KEY,
            flow TEXT NOT NULL,
            text TEXT NOT NULL,
            first_seen TEXT NOT NULL
        );

        -- Where each contact stands in each flow. Deleting a contact deletes its enrolments.
        CREATE TABLE flow_enrolments (
            flow TEXT NOT NULL,
            contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            state TEXT NOT NULL CHECK (state IN ('active', 'completed', 'exited')),
            position TEXT,
            due_at TEXT,
            digest TEXT,
            entered_at TEXT NOT NULL,
            finished_at TEXT,
            run_id INTEGER,
            PRIMARY KEY (flow, contact_id)
        ) WITHOUT ROWID;
        CREATE INDEX flow_enrolments_contact ON flow_enrolments(contact_id);
        CREATE INDEX flow_enrolments_due ON flow_enrolments(flow, state, position, due_at);
        """,
    )


@migrations()
def m003_suppressions(db: Database) -> None:
    import secrets

    run_script(
        db,
        """
        -- `delete --suppress`: HMAC-SHA256(meta.suppression_key, casefolded email) of each erased
        -- contact, never the email itself. Imports refuse these addresses unless allowed.
        CREATE TABLE suppressions (
            digest TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
    )
    # One random key per database, made once; backups carry it, so restored copies still match.
    db.execute("INSERT INTO meta(key, value) VALUES ('suppression_key', ?)", [secrets.token_hex(32)])


@migrations()
def m004_audit_sets(db: Database) -> None:
    run_script(
        db,
        """
        -- The ids an audit entry touched, 64 to a row: bit n of `bits` is contact chunk*64 + n.
        -- A bulk change writes one small row per 64 ids instead of one row per id in two indexes.
        CREATE TABLE audit_sets (
            audit_id INTEGER NOT NULL REFERENCES audit(id) ON DELETE CASCADE,
            chunk INTEGER NOT NULL,
            bits INTEGER NOT NULL,
            PRIMARY KEY (audit_id, chunk)
        ) WITHOUT ROWID;
        CREATE INDEX audit_sets_chunk ON audit_sets(chunk);
        -- Distinct powers of two add up to their bitwise or, without overflow.
        INSERT INTO audit_sets(audit_id, chunk, bits)
            SELECT audit_id, contact_id >> 6, sum(1 << (contact_id & 63))
            FROM audit_contacts GROUP BY audit_id, contact_id >> 6;
        DROP TABLE audit_contacts;
        -- One row per (entry, contact id), as the table was.
        CREATE VIEW audit_contacts(audit_id, contact_id) AS
            WITH RECURSIVE bit(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM bit WHERE n < 63)
            SELECT s.audit_id, (s.chunk << 6) + bit.n FROM audit_sets AS s JOIN bit ON (s.bits >> bit.n) & 1;
        """,
    )


@migrations()
def m005_active_enrolments_index(db: Database) -> None:
    run_script(
        db,
        """
        -- Due and parked lookups only ever ask for active enrolments; completed ones (most of
        -- them, over time) no longer cost an index entry each.
        DROP INDEX flow_enrolments_due;
        CREATE INDEX flow_enrolments_due ON flow_enrolments(flow, state, position, due_at) WHERE state = 'active';
        """,
    )


@migrations()
def m006_checked_flows(db: Database) -> None:
    run_script(
        db,
        """
        -- Flow file texts that passed every check in a real run, with the flow each became, for
        -- one version of the checker: a cron re-run of an unchanged file skips YAML and schema.
        -- Only the newest text of each flow is kept.
        CREATE TABLE flow_checked (
            text_sha256 TEXT NOT NULL,
            checker TEXT NOT NULL,
            flow TEXT NOT NULL,
            digest TEXT NOT NULL,
            structure TEXT NOT NULL,
            checked_at TEXT NOT NULL,
            PRIMARY KEY (text_sha256, checker)
        ) WITHOUT ROWID;
        CREATE INDEX flow_checked_flow ON flow_checked(flow);
        """,
    )


# Ids never reused, and the one case rule ---------------------------------------------------------


@migrations()
def m007_ids_never_reused(db: Database) -> None:
    """Contacts, audit entries and flow runs get AUTOINCREMENT ids, past the highest id ever
    used or referred to: a new contact never inherits a deleted one's audit trail. Every id,
    row, child row and index is kept.

    The contacts rebuild also brings the folded key column `email_key` (crmctl.folding), and
    tags get `name_key`; both are filled here and indexed, and made unique by the next
    migration, which first checks that no two names collide under the rule.

    Runs with foreign keys off (the migrations do: a DROP TABLE with them on would cascade
    into the child rows), and crmctl.store.connection checks foreign_key_check before commit.
    """
    floors = {
        "contacts": _highest_audited_contact(db),
        "audit": _max(db, "SELECT max(audit_id) FROM audit_sets"),
        "flow_runs": max(
            _max(db, "SELECT max(run_id) FROM audit"), _max(db, "SELECT max(run_id) FROM flow_enrolments")
        ),
    }
    _rebuild(
        db,
        "contacts",
        """
        CREATE TABLE contacts_rebuilt (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            email TEXT NOT NULL COLLATE NOCASE,  -- as before, for queries by hand; no longer an index
            email_key TEXT,  -- crmctl_fold(email): unique, the key of every lookup and upsert
            name TEXT,
            phone TEXT,
            user_id TEXT,
            created_at TEXT,
            last_seen_at TEXT,
            blocked_at TEXT
        )
        """,
        "id, email, email_key, name, phone, user_id, created_at, last_seen_at, blocked_at",
        f"id, email, {FOLD}(email), name, phone, user_id, created_at, last_seen_at, blocked_at",
        floors["contacts"],
    )
    _rebuild(
        db,
        "audit",
        """
        CREATE TABLE audit_rebuilt (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            contacts INTEGER NOT NULL,
            detail TEXT,
            run_id INTEGER
        )
        """,
        "id, at, actor, action, contacts, detail, run_id",
        "id, at, actor, action, contacts, detail, run_id",
        floors["audit"],
    )
    columns = (
        "id, flow, digest, source, started_at, duration_ms, dry_run, status, matched, resumed, parked, "
        "exited, completed, changed, steps, error"
    )
    _rebuild(
        db,
        "flow_runs",
        """
        CREATE TABLE flow_runs_rebuilt (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            flow TEXT NOT NULL,
            digest TEXT NOT NULL,
            source TEXT,
            started_at TEXT NOT NULL,
            duration_ms INTEGER,
            dry_run INTEGER NOT NULL,
            status TEXT NOT NULL,
            matched INTEGER NOT NULL DEFAULT 0,
            resumed INTEGER NOT NULL DEFAULT 0,
            parked INTEGER NOT NULL DEFAULT 0,
            exited INTEGER NOT NULL DEFAULT 0,
            completed INTEGER NOT NULL DEFAULT 0,
            changed TEXT,
            steps TEXT,
            error TEXT
        )
        """,
        columns,
        columns,
        floors["flow_runs"],
    )
    run_script(
        db,
        f"""
        CREATE INDEX contacts_email_key ON contacts(email_key);
        ALTER TABLE tags ADD COLUMN name_key TEXT;  -- crmctl_fold(name): unique, as email_key
        UPDATE tags SET name_key = {FOLD}(name);
        CREATE INDEX tags_name_key ON tags(name_key);

        -- crmctl's own writes give the keys; these keep them right for any other writer
        -- (on a connection where crmctl_fold exists, as on every crmctl connection).
        CREATE TRIGGER contacts_email_key_insert AFTER INSERT ON contacts WHEN NEW.email_key IS NULL
        BEGIN UPDATE contacts SET email_key = {FOLD}(NEW.email) WHERE id = NEW.id; END;
        CREATE TRIGGER contacts_email_key_update AFTER UPDATE OF email ON contacts
            WHEN NEW.email IS NOT OLD.email AND NEW.email_key IS OLD.email_key
        BEGIN UPDATE contacts SET email_key = {FOLD}(NEW.email) WHERE id = NEW.id; END;
        CREATE TRIGGER tags_name_key_insert AFTER INSERT ON tags WHEN NEW.name_key IS NULL
        BEGIN UPDATE tags SET name_key = {FOLD}(NEW.name) WHERE id = NEW.id; END;
        CREATE TRIGGER tags_name_key_update AFTER UPDATE OF name ON tags
            WHEN NEW.name IS NOT OLD.name AND NEW.name_key IS OLD.name_key
        BEGIN UPDATE tags SET name_key = {FOLD}(NEW.name) WHERE id = NEW.id; END;
        """,
    )


# Defined before m008: when m008 waits for case collisions to be resolved, the commands that
# resolve them (contact show and list, delete, …) read properties, so the catalog must exist.
@migrations()
def m009_property_catalog(db: Database) -> None:
    run_script(
        db,
        """
        -- The property catalog: each property a contact may hold, with its type. `folded` is
        -- the name under the one case rule (crmctl.query.folding.fold): names are unique by it.
        CREATE TABLE properties (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            folded TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL CHECK (type IN ('text', 'number', 'boolean', 'date')),
            description TEXT,
            created_at TEXT NOT NULL
        );

        -- The values contacts hold, in their property's type (text, number, 1/0, UTC time text).
        -- `value` has no declared type, so it has no affinity: '007' stays text.
        CREATE TABLE property_values (
            contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            property_id INTEGER NOT NULL REFERENCES properties(id) ON DELETE CASCADE,
            value NOT NULL,
            PRIMARY KEY (contact_id, property_id)
        ) WITHOUT ROWID;
        CREATE INDEX property_values_value ON property_values(property_id, value);
        """,
    )
    from crmctl.store.declare import declare_existing_keys

    declare_existing_keys(db)
    db.execute("DROP TABLE attributes")


@migrations()
def m008_folded_keys(db: Database) -> None:
    """Emails and tag names unique under the one case rule. Existing rows that collide stop
    the upgrade here, with the list and the commands that resolve them (nothing is merged or
    dropped silently); crmctl.store.connection lets those commands run meanwhile."""
    from crmctl.errors import CaseCollisions

    found = case_collisions(db)
    if found:
        raise CaseCollisions(found)
    run_script(
        db,
        """
        DROP INDEX contacts_email_key;
        CREATE UNIQUE INDEX contacts_email_key ON contacts(email_key);
        DROP INDEX tags_name_key;
        CREATE UNIQUE INDEX tags_name_key ON tags(name_key);
        """,
    )


FOLDED_KEYS = "m008_folded_keys"


def case_collisions(db: Database, limit: int = 20) -> list[str]:
    """Groups of contacts or tags whose emails or names are one under the case rule (ids only
    for contacts, so the list keeps no address), plus keys that do not match their text."""
    found: list[str] = []
    for ids in _groups(db, "SELECT group_concat(id, ', ') FROM contacts GROUP BY email_key HAVING count(*) > 1", limit):
        found.append(f"contacts {ids} have the same email under the case rule")
    for names in _groups(
        db, "SELECT group_concat(quote(name), ' and ') FROM tags GROUP BY name_key HAVING count(*) > 1", limit
    ):
        found.append(f"tags {names} are one name under the case rule")
    stale = db.execute(f"SELECT count(*) FROM contacts WHERE email_key IS NOT {FOLD}(email)").fetchone()[0]
    stale += db.execute(f"SELECT count(*) FROM tags WHERE name_key IS NOT {FOLD}(name)").fetchone()[0]
    if stale:
        found.append(f"{stale} folded key{'s' if stale != 1 else ''} out of date (written without crmctl_fold)")
    return found


def _groups(db: Database, sql: str, limit: int) -> list[str]:
    return [row[0] for row in db.execute(f"{sql} LIMIT ?", [limit])]


def _max(db: Database, sql: str) -> int:
    return db.execute(sql).fetchone()[0] or 0


def _highest_audited_contact(db: Database) -> int:
    """audit_sets keeps contact ids as chunk*64 + bit: the highest bit of the highest chunk."""
    chunk = db.execute("SELECT max(chunk) FROM audit_sets").fetchone()[0]
    if chunk is None:
        return 0
    bits = 0
    for (row_bits,) in db.execute("SELECT bits FROM audit_sets WHERE chunk = ?", [chunk]):
        bits |= row_bits & ((1 << 64) - 1)  # bit 63 makes the stored integer negative
    return (chunk << 6) + bits.bit_length() - 1 if bits else 0


def _rebuild(db: Database, table: str, create_sql: str, columns: str, values: str, floor: int) -> None:
    """The 12-step table rebuild of https://www.sqlite.org/lang_altertable.html, keeping every
    row, id and index, then the AUTOINCREMENT sequence set past `floor` (the highest id that
    anything refers to) and past every id in the table."""
    indexes = [
        row[0]
        for row in db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", [table]
        )
    ]
    db.execute(create_sql)
    db.execute(f"INSERT INTO {table}_rebuilt({columns}) SELECT {values} FROM {table} ORDER BY id")
    db.execute(f"DROP TABLE {table}")
    db.execute(f"ALTER TABLE {table}_rebuilt RENAME TO {table}")
    for sql in indexes:
        db.execute(sql)
    highest = max(floor, _max(db, f"SELECT max(id) FROM {table}"))
    db.execute("DELETE FROM sqlite_sequence WHERE name = ?", [table])
    db.execute("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)", [table, highest])


@migrations()
def m010_flows_round_two(db: Database) -> None:
    run_script(
        db,
        """
        -- The branch each contact took at each `split`, recorded with its enrolment (same flow
        -- and contact) and gone with the contact.
        CREATE TABLE flow_branches (
            flow TEXT NOT NULL,
            step TEXT NOT NULL,
            contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            branch TEXT NOT NULL,
            run_id INTEGER,
            PRIMARY KEY (flow, step, contact_id)
        ) WITHOUT ROWID;
        CREATE INDEX flow_branches_contact ON flow_branches(contact_id);

        -- Outboxes: records written by `emit` steps for the program that delivers them. A record
        -- is pending until acknowledged; delivered ones are pruned after the retention period.
        -- Ids are never reused (AUTOINCREMENT), so acknowledging "through N" is always safe.
        -- Deleting a contact deletes its records (they hold its email and name).
        CREATE TABLE outboxes (
            name TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE outbox_records (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            outbox TEXT NOT NULL,
            contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            email TEXT NOT NULL,
            name TEXT,
            fields TEXT NOT NULL,
            flow TEXT NOT NULL,
            step TEXT NOT NULL,
            run_id INTEGER,
            emitted_at TEXT NOT NULL,
            delivered_at TEXT
        );
        CREATE INDEX outbox_records_contact ON outbox_records(contact_id);
        CREATE INDEX outbox_records_pending ON outbox_records(outbox, id) WHERE delivered_at IS NULL;
        CREATE INDEX outbox_records_delivered ON outbox_records(delivered_at, outbox) WHERE delivered_at IS NOT NULL;

        -- `flow runs` and `db prune` look runs up by time; `flow list` by flow.
        CREATE INDEX flow_runs_started ON flow_runs(started_at);
        """,
    )
