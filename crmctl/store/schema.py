"""The versioned schema: sqlite-utils Migrations, applied whenever a database is opened."""

from __future__ import annotations

import functools

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

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
