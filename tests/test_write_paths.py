"""The fast write paths keep their promises: foreign keys are checked again after a bulk
transaction, deletes still cascade (also in flows), and enrolments land where they should."""

from __future__ import annotations

import json

import pytest
from conftest import add_contacts, declare

from crmctl.store import transaction


def foreign_keys(db) -> int:
    return db.execute("PRAGMA foreign_keys").fetchone()[0]


@pytest.mark.sqlite_only(reason="SQLite's foreign_keys pragma")
def test_bulk_transaction_skips_foreign_key_lookups_and_restores_them(db):
    with transaction(db, deletes_contacts=False):
        assert foreign_keys(db) == 0
    assert foreign_keys(db) == 1
    with pytest.raises(RuntimeError), transaction(db, deletes_contacts=False):
        raise RuntimeError("boom")
    assert foreign_keys(db) == 1
    with transaction(db):
        assert foreign_keys(db) == 1


def test_a_flow_with_a_delete_step_still_cascades(cli, db, tmp_path):
    add_contacts(
        db,
        [
            {
                "email": f"p{i}@example.com",
                "tags": ["vip"],
                "attributes": {"plan": "gone"},
                "notes": ["n"],
                "conversations": [{"subject": "s", "messages": [{"body": "b"}]}],
            }
            for i in range(3)
        ],
    )
    flow = tmp_path / "purge.yaml"
    flow.write_text("name: purge\nmatch: 'plan == \"gone\"'\nsteps:\n  - tag_add: [vip]\n  - delete\n")
    result = cli("flow", "run", flow, "--yes", "--format", "json")
    assert json.loads(result.stdout)["deleted"] == 3
    for table in (
        "contacts",
        "property_values",
        "contact_tags",
        "notes",
        "conversations",
        "messages",
        "flow_enrolments",
    ):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


def test_enrolments_are_written_where_contacts_end_up(cli, db, tmp_path):
    add_contacts(db, [{"email": f"w{i}@example.com", "attributes": {"plan": "trial", "score": i}} for i in range(4)])
    declare(db, "stage", "text")
    db.conn.commit()
    flow = tmp_path / "wait.yaml"
    flow.write_text(
        "name: split\nmatch: 'plan == \"trial\"'\nreentry: true\nsteps:\n"
        "  - if: 'score < 2'\n    then:\n      - id: pause\n        wait: 1d\n    else:\n      - set: {stage: b}\n"
        "  - note: done\n"
    )
    report = json.loads(cli("flow", "run", flow, "--yes", "--format", "json").stdout)
    assert (report["matched"], report["parked"], report["completed"]) == (4, 2, 2)
    rows = db.execute(
        "SELECT contact_id, state, position, due_at IS NOT NULL, finished_at IS NOT NULL, "
        "entered_at, run_id FROM flow_enrolments ORDER BY contact_id"
    ).fetchall()
    run_id = report["run_id"]
    assert rows == [
        (1, "active", "pause", 1, 0, "2026-11-01T12:00:00Z", run_id),
        (2, "active", "pause", 1, 0, "2026-11-01T12:00:00Z", run_id),
        (3, "completed", None, 0, 1, "2026-11-01T12:00:00Z", run_id),
        (4, "completed", None, 0, 1, "2026-11-01T12:00:00Z", run_id),
    ]
    # re-entry replaces a finished enrolment; parked contacts are never enrolled twice
    again = json.loads(cli("flow", "run", flow, "--yes", "--format", "json").stdout)
    assert (again["matched"], again["completed"]) == (2, 2)
    rows = db.execute("SELECT contact_id, state, run_id FROM flow_enrolments ORDER BY contact_id").fetchall()
    assert rows == [
        (1, "active", run_id),
        (2, "active", run_id),
        (3, "completed", again["run_id"]),
        (4, "completed", again["run_id"]),
    ]


def test_a_delete_in_slices_removes_exactly_the_scope_and_cascades(db):
    from crmctl.store import contacts as contact_sql
    from crmctl.store import scopes

    add_contacts(db, [{"email": f"s{i}@example.com", "tags": ["t"], "attributes": {"k": i}} for i in range(1, 41)])
    doomed = list(range(3, 40, 3))
    scopes.create(db, "doomed")
    scopes.add_ids(db, "doomed", doomed)
    contact_sql.delete(db, "doomed", slice_size=4)
    left = [r[0] for r in db.execute("SELECT id FROM contacts ORDER BY id")]
    assert left == [i for i in range(1, 41) if i not in doomed]
    for table in ("property_values", "contact_tags"):
        assert [r[0] for r in db.execute(f"SELECT DISTINCT contact_id FROM {table} ORDER BY 1")] == left
