"""Ids are never reused, and one case rule (crmctl.folding.fold) holds for emails and tag names
everywhere: through the installed `crmctl`, and through the migrations that bring old files there."""

from __future__ import annotations

import json
import shlex

import pytest
from sqlite_utils import Database

from crmctl.store import open_db
from crmctl.store.schema import migrations


def ndjson(*records: dict) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def log_actions(run, contact: int) -> list[str]:
    result = run("log", "--contact", contact, "--format", "json")
    assert result.returncode == 0, result.stderr
    return [entry["action"] for entry in json.loads(result.stdout)]


# Ids never reused -------------------------------------------------------------------------------


def test_a_deleted_contacts_id_and_history_never_pass_to_a_new_contact(run, tmp_path):
    assert run("init", "-q").returncode == 0
    first = tmp_path / "first.ndjson"
    first.write_text(ndjson({"email": "ann@example.com"}, {"email": "ben@example.com"}))
    assert run("contact", "import", first, "-q").returncode == 0
    for args in (("block", "2"), ("note", "private", "-c", "2"), ("tag", "add", "churned", "-c", "2", "--create")):
        assert run(*args, "-q").returncode == 0
    assert run("delete", "2", "--yes", "-q").returncode == 0
    later = tmp_path / "later.ndjson"
    later.write_text(ndjson({"email": "cy@example.com"}))
    assert run("contact", "import", later, "-q").returncode == 0

    listed = run("contact", "list", "--format", "ndjson")
    assert [(r["id"], r["email"]) for r in map(json.loads, listed.stdout.splitlines())] == [
        (1, "ann@example.com"),
        (3, "cy@example.com"),
    ]
    assert log_actions(run, 3) == ["import"]
    assert log_actions(run, 2) == ["delete", "tag_add", "note", "block", "import"]


def old_database(path) -> Database:
    """A database as crmctl left it before ids were kept from reuse (schema m006)."""
    db = Database(path)
    db.execute("PRAGMA journal_mode = WAL")
    migrations.apply(db, stop_before="m007_ids_never_reused")
    return db


@pytest.mark.sqlite_only(reason="SQLite migration m008 of an old database file")
def test_the_upgrade_keeps_every_row_and_sets_the_sequences_past_every_audited_id(isolated_db):
    db = old_database(isolated_db)
    with db.conn:
        db.execute("INSERT INTO contacts(id, email) VALUES (1, 'a@x.io'), (5, 'b@x.io')")
        db.execute("INSERT INTO tags(id, name, created_at) VALUES (1, 'vip', 'x')")
        db.execute("INSERT INTO contact_tags VALUES (1, 5, 'x')")
        db.execute("INSERT INTO notes(contact_id, body, created_at) VALUES (5, 'n', 'x')")
        db.execute("INSERT INTO attributes VALUES (5, 'plan', 'pro')")
        # Contact 200 was audited and deleted (200 = chunk 3, bit 8); so was flow run 4.
        db.execute(
            "INSERT INTO audit(id, at, actor, action, contacts, run_id) "
            "VALUES (7, 'x', 'u', 'delete', 1, 4), (9, 'x', 'u', 'note', 1, NULL)"
        )
        db.execute("INSERT INTO audit_sets VALUES (7, 3, 256), (9, 0, 2)")
        db.execute(
            "INSERT INTO flow_runs(id, flow, digest, started_at, dry_run, status) VALUES (2, 'f', 'd', 'x', 0, 'ok')"
        )
        # Bit 63 of a chunk makes the stored integer negative: id 127 = chunk 1, bit 63.
        db.execute("INSERT INTO audit_sets VALUES (7, 1, -9223372036854775808)")
    db.close()

    with open_db(isolated_db) as upgraded:
        assert upgraded.execute("SELECT id, email, email_key FROM contacts ORDER BY id").fetchall() == [
            (1, "a@x.io", "a@x.io"),
            (5, "b@x.io", "b@x.io"),
        ]
        assert upgraded.execute("SELECT count(*) FROM contact_tags").fetchone()[0] == 1
        assert upgraded.execute("SELECT count(*) FROM notes WHERE contact_id = 5").fetchone()[0] == 1
        assert upgraded.execute("SELECT count(*) FROM property_values WHERE contact_id = 5").fetchone()[0] == 1
        # audit 10: the property catalog's migration records what it declared (plan).
        assert dict(upgraded.execute("SELECT name, seq FROM sqlite_sequence").fetchall()) == {
            "contacts": 200,
            "audit": 10,
            "flow_runs": 4,
        }
        assert upgraded.execute("PRAGMA foreign_key_check").fetchall() == []
        indexes = {row[0] for row in upgraded.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'contacts'")}
        assert {"contacts_created_at", "contacts_last_seen_at", "contacts_blocked_at", "contacts_email_key"} <= indexes
        upgraded.execute("INSERT INTO contacts(email) VALUES ('new@x.io')")
        assert upgraded.execute("SELECT id FROM contacts WHERE email = 'new@x.io'").fetchone() == (201,)
        upgraded.conn.rollback()


# One case rule ----------------------------------------------------------------------------------


def test_tag_names_are_one_under_full_unicode_case_folding(run):
    assert run("init", "-q").returncode == 0
    assert run("tag", "create", "Ärger").stderr == "created: Ärger\n"
    assert run("tag", "create", "ärger", "STRASSE").stderr == "created: STRASSE\nalready present: ärger\n"
    assert run("tag", "rename", "Ärger", "ärger").returncode == 0
    assert run("tag", "list", "--format", "csv").stdout.splitlines() == ["name,contacts", "STRASSE,0", "ärger,0"]
    refused = run("tag", "rename", "ärger", "straße")
    assert (refused.returncode, refused.stderr) == (1, "Error: tag 'STRASSE' already exists\n")
    deleted = run("tag", "delete", "Ärger", "ärger", "A\u0308RGER", "--yes")
    assert deleted.stderr == "deleted 1 tag; 0 contacts untagged\n"
    assert run("tag", "list", "--format", "csv").stdout.splitlines() == ["name,contacts", "STRASSE,0"]


def test_emails_are_one_under_the_rule_for_import_lookup_and_selection(run, tmp_path):
    assert run("init", "-q").returncode == 0
    file = tmp_path / "a.ndjson"
    file.write_text(ndjson({"email": "éva@exämple.io", "name": "Éva"}))
    assert run("contact", "import", file, "-q").returncode == 0
    file.write_text(ndjson({"email": "ÉVA@EXÄMPLE.IO", "name": "Eva"}))
    report = run("contact", "import", file, "--json")
    assert json.loads(report.stdout)["updated"] == 1
    shown = run("contact", "show", "ÉVA@EXÄMPLE.IO", "--format", "json")
    assert (json.loads(shown.stdout)["id"], json.loads(shown.stdout)["email"]) == (1, "éva@exämple.io")
    decomposed = "E\u0301VA@EXA\u0308MPLE.IO"
    assert run("tag", "add", "vip", "-c", decomposed, "--create", "-q").returncode == 0
    assert run("contact", "count", "-w", f'email == "{decomposed}"').stdout == "1\n"
    repeated = tmp_path / "twice.ndjson"
    repeated.write_text(ndjson({"email": "new@ß.io"}, {"email": "NEW@SS.IO"}))
    refused = run("contact", "import", repeated)
    assert refused.returncode == 2 and "line 2: same email as line 1" in refused.stderr


def test_suppression_follows_the_same_rule(run, tmp_path):
    assert run("init", "-q").returncode == 0
    file = tmp_path / "a.ndjson"
    file.write_text(ndjson({"email": "straße@x.io"}))
    assert run("contact", "import", file, "-q").returncode == 0
    assert run("delete", "STRASSE@X.IO", "--yes", "--suppress", "-q").returncode == 0
    for spelling in ("strasse@x.io", "STRAẞE@X.IO", "straße@x.io"):
        file.write_text(ndjson({"email": spelling}))
        refused = run("contact", "import", file)
        assert refused.returncode == 2 and "address was erased and suppressed" in refused.stderr, spelling


def test_contact_add_finds_an_existing_email_by_the_rule_not_by_ascii_case(run):
    assert run("init", "-q").returncode == 0
    assert run("contact", "add", "åsa@x.io").returncode == 0
    for spelling in ("ÅSA@x.io", "A\u030asa@X.IO", "åsa@x.io"):
        refused = run("contact", "add", spelling)
        assert (refused.returncode, refused.stderr) == (
            1,
            f"Error: a contact with email {spelling} already exists (id 1): "
            f"change it with `crmctl set KEY=VALUE -c {shlex.quote(spelling)}`\n",
        ), spelling
    assert run("contact", "count").stdout == "1\n"


@pytest.fixture
def colliding(isolated_db):
    db = old_database(isolated_db)
    with db.conn:
        db.execute("INSERT INTO contacts(id, email) VALUES (1, 'éva@exämple.io'), (2, 'ÉVA@EXÄMPLE.IO'), (3, 'x@y.z')")
        db.execute("INSERT INTO tags(id, name, created_at) VALUES (1, 'Ärger', 'x'), (2, 'ärger', 'x')")
        db.execute("INSERT INTO contact_tags VALUES (1, 1, 'x'), (2, 2, 'x'), (2, 3, 'x')")
    db.close()
    return isolated_db


@pytest.mark.sqlite_only(reason="SQLite migration m008 of an old database file")
def test_collisions_stop_the_upgrade_with_the_list_and_the_resolving_commands_run(run, colliding):
    refused = run("tag", "add", "vip", "-c", "3", "--create")
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[1:3] == [
        "  contacts 1, 2 have the same email under the case rule",
        "  tags 'Ärger' and 'ärger' are one name under the case rule",
    ]
    assert "`crmctl tag rename OLD NEW`" in refused.stderr
    check = run("db", "check")
    assert check.returncode == 1 and "contacts 1, 2 have the same email under the case rule" in check.stderr
    assert run("contact", "show", "2", "--format", "json").returncode == 0

    assert run("tag", "rename", "ärger", "ärger (2)", "-q").returncode == 0
    assert run("delete", "2", "--yes", "-q").returncode == 0
    assert run("tag", "add", "vip", "-c", "3", "--create", "-q").returncode == 0  # the upgrade is done
    assert run("db", "check", "-q").returncode == 0
    with open_db(colliding) as done:
        assert done.execute("SELECT name FROM tags ORDER BY id").fetchall() == [("Ärger",), ("ärger (2)",), ("vip",)]
        assert done.execute("SELECT tag_id, contact_id FROM contact_tags ORDER BY 1, 2").fetchall() == [
            (1, 1),
            (2, 3),
            (3, 3),
        ]
        unique = done.execute("SELECT \"unique\" FROM pragma_index_list('contacts') WHERE name = 'contacts_email_key'")
        assert unique.fetchone() == (1,)
