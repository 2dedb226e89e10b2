"""Tag catalog, contact listing/show/count, init and database errors, through the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3

import pytest
from conftest import NOW


def test_tag_create_list_rename_delete(cli, people):
    assert cli("tag", "create", "gold", "VIP").stderr == "created: gold\nalready present: VIP\n"
    listing = json.loads(cli("tag", "list", "--format", "json").stdout)
    assert listing == [
        {"name": "churned", "contacts": 1},
        {"name": "gold", "contacts": 0},
        {"name": "vip", "contacts": 2},
    ]
    assert cli("tag", "rename", "gold", "platinum").exit_code == 0
    assert cli("tag", "rename", "platinum", "VIP").stderr == "Error: tag 'vip' already exists\n"
    assert cli("tag", "rename", "ghost", "x").stderr == "Error: unknown tag 'ghost'\n"
    refused = cli("tag", "delete", "vip")
    assert refused.exit_code == 1
    assert refused.stderr == "Error: refusing to delete 1 tag (held by 2 contacts) without confirmation: pass --yes\n"
    assert cli("tag", "delete", "vip", "--yes").exit_code == 0
    names = [r["name"] for r in json.loads(cli("tag", "list", "--format", "json").stdout)]
    assert names == ["churned", "platinum"]


def test_tag_list_csv_and_ndjson(cli, people):
    assert cli("tag", "list", "--format", "csv").stdout == "name,contacts\nchurned,1\nvip,2\n"
    assert cli("tag", "list", "--format", "ndjson").stdout.splitlines()[0] == '{"name":"churned","contacts":1}'


def test_contact_list_json_records(cli, people):
    records = json.loads(cli("contact", "list", "--format", "json").stdout)
    assert [r["id"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0] == {
        "id": 1,
        "email": "ada@example.com",
        "name": "Ada",
        "phone": None,
        "user_id": None,
        "created_at": "2025-01-01T00:00:00Z",
        "last_seen_at": None,
        "blocked": False,
        "tags": ["vip"],
        "properties": {"country": "DE", "plan": "pro", "score": 80},
    }
    assert records[3]["blocked"] is True
    assert records[2]["tags"] == ["churned", "vip"]


def test_contact_list_selection_and_limit(cli, people):
    out = cli("contact", "list", "-c", "2", "-c", "ed@example.net", "--format", "ndjson").stdout
    assert [json.loads(line)["id"] for line in out.splitlines()] == [2, 5]
    out = cli("contact", "list", "--limit", "2", "--format", "ndjson").stdout
    assert len(out.splitlines()) == 2


def test_contact_list_csv_flattens_attributes(cli, people):
    rows = list(csv.DictReader(io.StringIO(cli("contact", "list", "--format", "csv").stdout)))
    assert list(rows[0]) == [
        "id",
        "email",
        "name",
        "phone",
        "user_id",
        "created_at",
        "last_seen_at",
        "blocked",
        "blocked_at",
        "tags",
        "country",
        "plan",
        "score",
    ]
    assert rows[0]["score"] == "80" and rows[2]["tags"] == "churned;vip" and rows[3]["blocked"] == "true"


def test_empty_listing_formats(cli, db):
    assert cli("contact", "list", "--format", "json").stdout == "[]\n"
    assert cli("contact", "list", "--format", "ndjson").stdout == ""


def test_contact_show_json(cli, people):
    record = json.loads(cli("contact", "show", "ADA@example.com", "--format", "json").stdout)
    assert record["notes"] == [{"body": "first", "author": "seed", "created_at": NOW}]
    assert record["conversations"] == [
        {"subject": "Hello", "created_at": NOW, "messages": [{"body": "hi", "sender": "ada", "sent_at": NOW}]}
    ]
    assert cli("contact", "show", "42").stderr == "Error: no contact '42'\n"


def test_contact_show_text_has_notes(cli, people):
    out = cli("contact", "show", "1").stdout
    assert "Notes (1)" in out and "first" in out and "Hello" in out


def test_contact_count(cli, people):
    assert cli("contact", "count").stdout == "5\n"


def test_missing_database_is_a_clear_error(cli, tmp_path):
    result = cli("--db", tmp_path / "none.db", "tag", "list")
    assert result.exit_code == 1
    assert result.stderr == f"Error: no database at {tmp_path / 'none.db'} (run `crmctl init` first)\n"


def test_not_a_database(cli, tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    result = cli("--db", path, "tag", "list")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {path} is not a SQLite database\n"


def test_foreign_sqlite_database(cli, tmp_path):
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE t(x)").connection.commit()
    result = cli("--db", path, "tag", "list")
    assert result.stderr == f"Error: {path} is not a crmctl database\n"


@pytest.mark.sqlite_only(reason="sqlite-utils' _sqlite_migrations table (PostgreSQL: tests/test_pg_functions.py)")
def test_newer_schema_is_refused(cli, db, isolated_db):
    db.execute("INSERT INTO _sqlite_migrations(migration_set, name, applied_at) VALUES ('crmctl', 'm999_future', 'x')")
    db.conn.commit()
    result = cli("tag", "list")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {isolated_db} has a newer schema than this crmctl (migration m999_future of set 'crmctl'); "
        "upgrade crmctl\n"
    )


@pytest.mark.sqlite_only(reason="the database file's mode")
def test_init_creates_owner_only_file_and_is_idempotent(cli, isolated_db):
    old = os.umask(0)
    try:
        assert cli("init").exit_code == 0
    finally:
        os.umask(old)
    assert oct(isolated_db.stat().st_mode & 0o777) == "0o600"
    assert cli("init").stderr == f"database ready at {isolated_db}\n"


def test_version(cli):
    from crmctl import __version__

    assert cli("--version").stdout == f"crmctl {__version__}\n"


@pytest.mark.sqlite_only(reason="db backup copies a SQLite file")
def test_db_check_and_backup(cli, people, tmp_path):
    assert cli("db", "check").stderr == "ok: integrity and foreign keys checked\n"
    target = tmp_path / "copy.db"
    assert cli("db", "backup", target).exit_code == 0
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert sqlite3.connect(target).execute("SELECT count(*) FROM contacts").fetchone()[0] == 5
    again = cli("db", "backup", target)
    assert again.exit_code == 1 and again.stderr == f"Error: {target} already exists (pass --force to replace it)\n"


@pytest.mark.sqlite_only(reason="turns SQLite's foreign keys off to break them")
def test_db_check_reports_broken_foreign_keys(cli, people):
    people.execute("PRAGMA foreign_keys = OFF")
    people.execute("INSERT INTO notes(contact_id, body, created_at) VALUES (999, 'orphan', 'x')")
    people.conn.commit()
    result = cli("db", "check")
    assert result.exit_code == 1
    assert result.stderr == "notes row 2 refers to a missing contacts row\nError: 1 problem found\n"


def test_tables_print_contact_data_literally(cli, db):
    from conftest import add_contacts

    add_contacts(db, [{"email": "m@example.com", "name": "[bold red]boom[/]", "attributes": {"[x]": "[link=y]z"}}])
    listing = cli("contact", "list").stdout
    assert "[bold red]boom[/]" in listing
    shown = cli("contact", "show", "1").stdout
    assert "[bold red]boom[/]" in shown and "[link=y]z" in shown and "[x]" in shown
