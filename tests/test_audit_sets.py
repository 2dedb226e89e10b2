"""The audit log keeps touched ids as 64-bit sets; `audit_contacts` still lists them one per row."""

from __future__ import annotations

import itertools
import sqlite3

from sqlite_utils import Database

from crmctl.store import audit, open_db, scopes
from crmctl.store.schema import migrations

IDS = [1, 2, 62, 63, 64, 127, 128, 1000, 2**40 + 5]  # chunk edges, bit 63 (a negative word)


def contact_ids(db: Database, audit_id: int, limit: int = 10) -> list[int]:
    """The first `limit` ids an entry touched, in id order."""
    return list(itertools.islice(audit.all_contact_ids(db, audit_id), limit))


def test_ids_round_trip_through_the_sets(db):
    scopes.create(db, "changed")
    db.executemany("INSERT INTO temp.changed(id) VALUES (?)", [(i,) for i in IDS])
    entry = audit.record(
        db, at="2026-11-01T12:00:00Z", actor="t", action="tag_add", detail="", scope="changed", contacts=len(IDS)
    )
    other = audit.record(
        db, at="2026-11-01T12:00:00Z", actor="t", action="note", detail="", scope="changed", contacts=len(IDS)
    )
    assert db.execute("SELECT count(*) FROM audit_sets WHERE audit_id = ?", [entry]).fetchone()[0] == 5
    listed = db.execute("SELECT contact_id FROM audit_contacts WHERE audit_id = ? ORDER BY 1", [entry]).fetchall()
    assert [r[0] for r in listed] == IDS
    assert contact_ids(db, entry, limit=4) == IDS[:4]
    assert contact_ids(db, entry, limit=100) == IDS
    for contact in IDS:
        assert [e["id"] for e in audit.entries(db, contacts=[contact])] == [other, entry]
    for contact in (3, 61, 65, 126, 129, 2**40 + 4):
        assert list(audit.entries(db, contacts=[contact])) == []


def test_an_empty_scope_links_nothing(db):
    scopes.create(db, "changed")
    entry = audit.record(db, at="x", actor="t", action="tag_add", detail="", scope="changed")
    assert db.execute("SELECT count(*) FROM audit_sets WHERE audit_id = ?", [entry]).fetchone()[0] == 0


def test_the_migration_keeps_existing_links(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    old = Database(conn)
    old.execute("PRAGMA foreign_keys = ON")
    migrations.apply(old, stop_before="m004_audit_sets")
    old.execute(
        "INSERT INTO audit(id, at, actor, action, contacts) VALUES (1, 'x', 't', 'block', 9), (2, 'x', 't', 'note', 1)"
    )
    conn.executemany("INSERT INTO audit_contacts(audit_id, contact_id) VALUES (1, ?)", [(i,) for i in IDS])
    old.execute("INSERT INTO audit_contacts(audit_id, contact_id) VALUES (2, 64)")
    conn.commit()
    conn.close()
    with open_db(path) as db:
        rows = db.execute("SELECT audit_id, contact_id FROM audit_contacts ORDER BY 1, 2").fetchall()
        assert rows == [(1, i) for i in IDS] + [(2, 64)]
        assert [e["id"] for e in audit.entries(db, contacts=[64])] == [2, 1]
