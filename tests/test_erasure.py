"""Real erasure: after `delete` no byte of the contact is left in the database file, its WAL
or its -shm; `delete --suppress` keeps a keyed hash of the address, and imports refuse it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from bulk import add_bulk_contacts
from conftest import ON_POSTGRES, add_contacts, crmctl_executable
from flowkit import dump, write_flow

from crmctl.store import open_db

# Opens the database, reads (so it maps the WAL index) and stays open, idle, until stdin closes.
# While it is open, no crmctl process is the last connection, so none deletes the WAL on close:
# only crmctl's own checkpoint can empty it.
KEEPER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1])
    conn.execute("SELECT count(*) FROM contacts").fetchone()
    print("open", flush=True)
    sys.stdin.read()
""")


@pytest.fixture
def keeper(isolated_db):
    def start():
        proc = subprocess.Popen(
            [sys.executable, "-c", KEEPER, str(isolated_db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline() == "open\n"
        started.append(proc)
        return proc

    started: list[subprocess.Popen] = []
    yield start
    for proc in started:
        proc.stdin.close()
        proc.wait(timeout=30)


def markers() -> dict[str, str]:
    tag = uuid.uuid4().hex[:12]
    return {
        field: f"Mk{field}{tag}"
        for field in (
            "email",
            "name",
            "phone",
            "userid",
            "value",
            "note",
            "long",
            "subject",
            "message",
            "sender",
        )
    }


def add_marked_contact(db, m: dict[str, str]) -> int:
    add_contacts(
        db,
        [
            {
                "email": f"{m['email']}@example.com",
                "name": m["name"],
                "phone": m["phone"],
                "user_id": m["userid"],
                # A property's name is the catalog's, like a tag's: only the value is the contact's.
                "attributes": {"bio": m["value"], "plan": "gone", "score": 1},
                "tags": ["vip"],
                "notes": [m["note"], m["long"] * 800],  # the long one spills onto overflow pages
                "conversations": [
                    {"subject": m["subject"], "messages": [{"body": m["message"], "sender": m["sender"]}]}
                ],
            }
        ],
    )
    contact_id = db.execute("SELECT id FROM contacts WHERE email = ?", [f"{m['email']}@example.com"]).fetchone()[0]
    # Older versions of its pages, in the WAL and in the main file.
    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    db.execute("UPDATE contacts SET name = ? WHERE id = ?", [m["name"] + "v2", contact_id])
    db.conn.commit()
    return contact_id


def leftovers(path: Path, m: dict[str, str]) -> dict[str, list[str]]:
    """Which markers are in the raw bytes of the database file, its WAL and its -shm."""
    found = {}
    for suffix in ("", "-wal", "-shm"):
        file = Path(f"{path}{suffix}")
        if file.exists():
            data = file.read_bytes()
            hits = [name for name, marker in m.items() if marker.encode() in data]
            if hits:
                found[file.name] = hits
    return found


@pytest.fixture
def marked(db, isolated_db, keeper):
    add_bulk_contacts(db, 3000)  # the contact's rows share pages and index pages with others
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    m = markers()
    contact_id = add_marked_contact(db, m)
    keeper()
    assert set(sum(leftovers(isolated_db, m).values(), [])) == set(m), "the markers must be there to begin with"
    return m, contact_id


@pytest.mark.sqlite_only(reason="reads the SQLite file and its WAL for leftover bytes")
@pytest.mark.parametrize("how", ["delete", "delete --suppress", "flow"])
def test_no_byte_of_a_deleted_contact_is_left(run, tmp_path, isolated_db, marked, how):
    m, contact_id = marked
    run("note", f"{m['note']} via the cli", "-c", contact_id, "-q")
    if how == "flow":
        flow = write_flow(tmp_path, "name: erase\nmatch: 'plan == \"gone\"'\nsteps: [delete]\n")
        result = run("flow", "run", flow, "--yes", "--quiet")
    else:
        result = run(*how.split(), f"{m['email']}@EXAMPLE.com", "--yes")
    assert result.returncode == 0, result.stderr
    assert "note:" not in result.stderr
    assert leftovers(isolated_db, m) == {}
    with open_db(isolated_db) as fresh:  # what is kept: ids and counts
        assert fresh.execute("SELECT count(*) FROM contacts WHERE id = ?", [contact_id]).fetchone()[0] == 0
        entry = fresh.execute(
            "SELECT a.action, a.contacts FROM audit AS a JOIN audit_contacts AS l "
            "ON l.audit_id = a.id WHERE l.contact_id = ? ORDER BY a.id DESC",
            [contact_id],
        ).fetchone()
        assert entry == ("delete", 1)
        assert fresh.execute("SELECT value FROM meta WHERE key = 'erase_pending'").fetchone() is None


# A delete that commits and is killed before anything else runs: on SQLite the WAL is never
# checkpointed, on PostgreSQL the tables are never vacuumed. argv: the database (path or URL), a contact.
CRASH_AFTER_COMMIT = textwrap.dedent("""
    import os, signal, sys
    from crmctl import actions, selection
    from crmctl.store import open_db, transaction
    from crmctl.store.connection import resolve_path
    db = open_db(resolve_path(sys.argv[1]))
    with transaction(db):
        scope = selection.resolve(db, selection.SelectionSpec(contacts=[sys.argv[2]])).scope
        actions.delete(db, scope, actions.Context("test", "2026-11-01T12:00:00Z"))
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.sqlite_only(reason="WAL checkpoint after a delete")
def test_a_crash_between_commit_and_checkpoint_is_finished_by_the_next_command(run, isolated_db, marked):
    m, contact_id = marked
    crashed = subprocess.run([sys.executable, "-c", CRASH_AFTER_COMMIT, str(isolated_db), str(contact_id)])
    assert crashed.returncode == -9
    assert leftovers(isolated_db, m), "the crash left the old pages behind"
    assert run("contact", "count").stdout == "3000\n"
    assert leftovers(isolated_db, m) == {}


@pytest.mark.sqlite_only(reason="WAL checkpoint and SQLite readers")
def test_erasure_waits_for_readers_and_otherwise_leaves_it_to_the_next_process(db, isolated_db):
    from crmctl.store import erasure

    add_contacts(db, [{"email": "a@example.com"}])
    with open_db(isolated_db) as deleting:
        deleting.execute("BEGIN IMMEDIATE")
        deleting.execute("DELETE FROM contacts")
        erasure.mark_pending(deleting)
        deleting.execute("COMMIT")
        db.execute("BEGIN")
        db.execute("SELECT count(*) FROM contacts").fetchone()  # a reader on the old snapshot
        assert erasure.finish(deleting, patience=0) is False
        assert erasure.pending(deleting)
        db.execute("COMMIT")
        assert erasure.finish(deleting, patience=0) is True
        assert not erasure.pending(deleting)


# Erasure never stalls writers ----------------------------------------------------------------

# Holds a read snapshot (an open read transaction) until stdin closes: a slow `contact list | …`.
SNAPSHOT = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM contacts").fetchone()
    print("reading", flush=True)
    sys.stdin.read()
    conn.execute("COMMIT")
""")


def _committed(path: Path, contact_id: int) -> bool:
    import sqlite3

    with sqlite3.connect(path) as fresh:
        return fresh.execute("SELECT count(*) FROM contacts WHERE id = ?", [contact_id]).fetchone()[0] == 0


@pytest.mark.sqlite_only(reason="WAL snapshots of an sqlite3 reader")
def test_a_reader_holding_a_snapshot_across_a_delete_never_stalls_writers(run, tmp_path, isolated_db, marked):
    m, contact_id = marked
    reader = subprocess.Popen(
        [sys.executable, "-c", SNAPSHOT, str(isolated_db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout.readline() == "reading\n"
    flow = write_flow(tmp_path, "name: erase\nmatch: 'plan == \"gone\"'\nsteps: [delete]\n")
    # As in the README's crontab: a long lock timeout must not become a long stall for others.
    deleting = subprocess.Popen(
        [crmctl_executable(), "flow", "run", flow, "--yes", "--quiet", "--lock-timeout", "600"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not _committed(isolated_db, contact_id):
            assert deleting.poll() in (None, 0), deleting.stderr.read()
        writer = run("tag", "add", "vip", "-c", "1", "-q")
        assert writer.returncode == 0, writer.stderr
        assert reader.poll() is None, "the writer finished while the reader still held its snapshot"
        assert deleting.wait(timeout=120) == 0
        assert "still reads an older snapshot" in deleting.stderr.read()

        check = run("db", "check")
        assert check.returncode == 1
        assert "an erasure is pending" in check.stderr
        assert leftovers(isolated_db, m), "the old pages are still there while the reader holds them"
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
        if deleting.poll() is None:
            deleting.kill()
    assert run("contact", "count").returncode == 0  # the next command finishes the erasure
    assert leftovers(isolated_db, m) == {}
    assert run("db", "check").returncode == 0


# Suppression ------------------------------------------------------------------------------


def digest_of(db, email: str) -> str:
    key = bytes.fromhex(db.execute("SELECT value FROM meta WHERE key = 'suppression_key'").fetchone()[0])
    return hmac.new(key, email.casefold().encode(), hashlib.sha256).hexdigest()


@pytest.mark.sqlite_only(reason="reads the SQLite file and its WAL for the address")
def test_suppress_keeps_a_keyed_hash_never_the_address(cli, people, isolated_db):
    result = cli("delete", "Bob@Example.com", "cy@example.org", "--yes", "--suppress", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "action": "delete",
        "selected": 2,
        "identified": 2,
        "changed": 2,
        "suppressed": 2,
        "dry_run": False,
    }
    stored = {row[0] for row in people.execute("SELECT digest FROM suppressions")}
    assert stored == {digest_of(people, "bob@example.com"), digest_of(people, "CY@example.org")}
    assert people.execute("SELECT detail FROM audit WHERE action = 'delete'").fetchone() == ("suppressed: 2",)
    raw = (isolated_db.read_bytes() + Path(f"{isolated_db}-wal").read_bytes()).lower()
    assert [address for address in (b"bob@example", b"cy@example") if address in raw] == []


def test_the_key_is_random_per_database_and_made_once(db, isolated_db, tmp_path):
    key = db.execute("SELECT value FROM meta WHERE key = 'suppression_key'").fetchone()[0]
    assert len(bytes.fromhex(key)) == 32
    with open_db(isolated_db) as again:
        assert again.execute("SELECT value FROM meta WHERE key = 'suppression_key'").fetchone()[0] == key
    with open_db(tmp_path / "other.db", create=True) as other:
        assert other.execute("SELECT value FROM meta WHERE key = 'suppression_key'").fetchone()[0] != key


def test_dry_run_and_plain_delete_suppress_nothing(cli, people):
    assert cli("delete", "1", "--suppress", "--dry-run").exit_code == 0
    assert cli("delete", "2", "--yes").exit_code == 0
    assert people.execute("SELECT count(*) FROM suppressions").fetchone()[0] == 0


SUPPRESSED = "  line 3: address was erased and suppressed (pass --allow-suppressed to import it again)"


def test_import_refuses_a_suppressed_address_unless_allowed(cli, people, tmp_path):
    assert cli("delete", "bob@example.com", "--yes", "--suppress").exit_code == 0
    file = tmp_path / "back.csv"
    file.write_text("email,name\nnew@example.com,New\n BOB@example.COM ,Bob again\n")
    before = dump(people)
    refused = cli("contact", "import", file)
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"Error: 1 invalid record; nothing was imported (pass --skip-invalid to import the valid ones):\n{SUPPRESSED}\n"
    )
    assert dump(people) == before

    skipped = cli("contact", "import", file, "--skip-invalid", "-f", "json")
    assert skipped.exit_code == 0
    assert json.loads(skipped.stdout)["problems"] == [SUPPRESSED.strip()]
    assert people.execute("SELECT count(*) FROM contacts WHERE email = 'bob@example.com'").fetchone()[0] == 0

    allowed = cli("contact", "import", file, "--allow-suppressed", "-f", "json")
    assert allowed.exit_code == 0, allowed.stderr
    report = json.loads(allowed.stdout)
    assert {key: report[key] for key in report if key not in ("format", "columns", "dialect", "dry_run")} == {
        "inserted": 1,
        "updated": 0,
        "unchanged": 1,
        "rejected": 0,
        "problems": [],
        "tags_created": [],
        "properties_created": [],
        "readmitted": 1,
    }
    assert people.execute("SELECT count(*) FROM suppressions").fetchone()[0] == 0  # lifted: it may come back
    assert people.execute("SELECT detail FROM audit WHERE action = 'unsuppress'").fetchall() == [("readmitted 1",)]
    assert cli("contact", "import", file).exit_code == 0


def test_suppression_through_the_library(people):
    import io

    from crmctl import actions, selection
    from crmctl.errors import InvalidInput
    from crmctl.importer import import_contacts
    from crmctl.store import transaction

    ctx = actions.Context("test", "2026-11-01T12:00:00Z")
    with transaction(people):
        scope = selection.resolve(people, selection.SelectionSpec(contacts=["ed@example.net"])).scope
        assert actions.delete(people, scope, ctx, suppress=True).detail == {"suppressed": 1}
    data = b'[{"email": "ed@example.net", "name": "Ed"}]'
    with pytest.raises(InvalidInput, match=r"record 1: address was erased and suppressed"), transaction(people):
        import_contacts(people, io.BytesIO(data), filename="x.json")
    with transaction(people):
        report = import_contacts(people, io.BytesIO(data), filename="x.json", allow_suppressed=True)
    assert (report.inserted, report.readmitted) == (1, 1)


def test_the_lock_holder_file_names_the_command_without_personal_data():
    from crmctl.store.holder import command_line

    assert command_line(["delete", "ada@example.com", "--yes"]) == "crmctl delete … --yes"
    assert command_line(["note", "Called Ada about the invoice", "-c", "42"]) == "crmctl note … -c 42"
    # Tag names are redacted too: a tag such as "divorced" can say something about a person.
    assert command_line(["-w", 'email == "ada@example.com"', "tag", "add", "vip"]) == "crmctl -w … tag add …"
    assert command_line(["note", "divorced", "-c", "42"]) == "crmctl note … -c 42"
    assert command_line(["--db", "/srv/crm/crm.db", "flow", "run", "/srv/flows/a.yaml"]) == (
        "crmctl --db /srv/crm/crm.db flow run /srv/flows/a.yaml"
    )


def test_suppress_keeps_the_keyed_hash_of_the_folded_address(cli, people):
    result = cli("delete", "Bob@Example.com", "cy@example.org", "--yes", "--suppress", "-q")
    assert result.exit_code == 0, result.stderr
    stored = {row[0] for row in people.execute("SELECT digest FROM suppressions")}
    assert stored == {digest_of(people, "bob@example.com"), digest_of(people, "CY@example.org")}
    assert people.execute("SELECT detail FROM audit WHERE action = 'delete'").fetchone() == ("suppressed: 2",)


# PostgreSQL: VACUUM after the delete ----------------------------------------------------------

on_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's erasure (VACUUM)")


def vacuumed(db) -> set[str]:
    rows = db.execute(
        "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() AND vacuum_count > 0"
    )
    return {row[0] for row in rows}


@on_postgres
def test_on_postgres_a_delete_vacuums_every_table_it_reached(run, people):
    from crmctl.store import erasure

    reached = set(erasure.erased_tables(people))
    assert {"contacts", "contact_tags", "property_values", "notes", "conversations", "messages"} <= reached
    assert {"flow_enrolments", "outbox_records"} <= reached
    assert not reached & {"audit", "audit_sets", "tags", "properties", "suppressions", "meta"}
    result = run("delete", "bob@example.com", "--yes", "--suppress")
    assert result.returncode == 0 and "note:" not in result.stderr, result.stderr
    assert reached <= vacuumed(people)
    assert not erasure.pending(people)
    assert run("db", "check").returncode == 0


@on_postgres
def test_on_postgres_a_crash_before_the_vacuum_is_finished_by_the_next_command(run, people):
    from crmctl.store import erasure

    crashed = subprocess.run([sys.executable, "-c", CRASH_AFTER_COMMIT, os.environ["CRMCTL_DB"], "2"])
    assert crashed.returncode == -9
    assert erasure.pending(people) and "contacts" not in vacuumed(people)
    assert run("contact", "count").stdout == "4\n"  # any command finishes it, as on SQLite
    assert not erasure.pending(people) and "contacts" in vacuumed(people)
    assert run("db", "check").returncode == 0
