"""The data layer: schema, pragmas, migrations, transactions."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import integrity_errors

from crmctl.errors import LockTimeout
from crmctl.store import open_db, transaction
from crmctl.store.schema import MIGRATION_SET, known_migrations, migrations


@pytest.mark.sqlite_only(reason="SQLite pragmas")
def test_pragmas(db):
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] > 0


@pytest.mark.sqlite_only(reason="sqlite-utils Migrations (PostgreSQL: tests/test_pg_functions.py)")
def test_every_migration_is_applied(db):
    applied = [m.name for m in migrations.applied(db)]
    assert applied == list(known_migrations())
    assert {r[0] for r in db.execute("SELECT migration_set FROM _sqlite_migrations")} == {MIGRATION_SET}


@pytest.mark.sqlite_only(reason="reads SQLite's PRAGMA foreign_key_list")
def test_every_child_foreign_key_is_indexed(db):
    """A cascade over a million contacts is only fast when each child key is indexed."""
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for fk in db.execute(f"PRAGMA foreign_key_list([{table}])").fetchall():
            column = fk[3]
            leading = set()
            for index in db.execute(f"PRAGMA index_list([{table}])").fetchall():
                columns = [c[2] for c in db.execute(f"PRAGMA index_info([{index[1]}])").fetchall()]
                leading.add(columns[0])
            assert column in leading, f"{table}.{column} has no index"


@pytest.mark.sqlite_only(reason="reads SQLite's PRAGMA foreign_key_list")
def test_every_child_row_cascades_from_contacts(db):
    cascading = {
        table: [fk[6] for fk in db.execute(f"PRAGMA foreign_key_list([{table}])") if fk[2] == "contacts"]
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    }
    assert {t for t, actions in cascading.items() if actions} == {
        "property_values",
        "contact_tags",
        "notes",
        "conversations",
        "flow_enrolments",
        "flow_branches",
        "outbox_records",
    }
    assert all(a == ["CASCADE"] for a in cascading.values() if a)


def test_transaction_rolls_back_on_error(db):
    with pytest.raises(RuntimeError), transaction(db):
        db.execute("INSERT INTO tags(name, created_at) VALUES ('x', 'y')")
        raise RuntimeError("boom")
    assert db.execute("SELECT count(*) FROM tags").fetchone()[0] == 0


def test_dry_run_transaction_writes_nothing(db):
    with transaction(db, dry_run=True):
        db.execute("INSERT INTO tags(name, created_at) VALUES ('x', 'y')")
    assert db.execute("SELECT count(*) FROM tags").fetchone()[0] == 0


@pytest.mark.sqlite_only(reason="an sqlite3 writer holds the lock (PostgreSQL: tests/test_pg_store.py)")
def test_second_writer_times_out_with_lock_error(db, isolated_db):
    other = sqlite3.connect(isolated_db)
    other.execute("BEGIN IMMEDIATE")
    try:
        waiting = open_db(isolated_db, lock_timeout=0.1)
        with pytest.raises(LockTimeout, match=r"^the database is locked \(held by .*\); gave up waiting after 0.1 s$"):
            with transaction(waiting):
                pass
    finally:
        other.rollback()
        other.close()


def test_tag_names_unique_without_regard_to_case(db):
    db.execute("INSERT INTO tags(name, created_at) VALUES ('VIP', 'x')")
    with pytest.raises(integrity_errors()):
        db.execute("INSERT INTO tags(name, created_at) VALUES ('vip', 'x')")


def test_lock_holder_note_keeps_no_personal_data():
    from crmctl.store.holder import command_line

    assert command_line(["note", "divorced", "-c", "ada@example.com"]) == "crmctl note … -c …"
    assert command_line(["--db", "/srv/crm.db", "flow", "run", "flows/a.yaml", "--yes"]) == (
        "crmctl --db /srv/crm.db flow run flows/a.yaml --yes"
    )
    assert command_line(["tag", "add", "vip", "-w", "name == 'Ada'"]) == "crmctl tag add … -w …"
