"""A database written by crmctl 0.1.0 (tests/fixtures/release-0.1.0.db, built by
tests/fixtures/build_release_db.py with that release's code) migrates to the property
catalog: every data point key is declared with the type all its values fit, and every value
keeps its meaning."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from crmctl import clock
from crmctl.store import open_db

FIXTURE = Path(__file__).parent / "fixtures" / "release-0.1.0.db"

# (email, property, type, stored value) for every value the old database held.
EXPECTED = {
    ("ada@example.com", "First Name", "text", "Ada"),
    ("ada@example.com", "Plan (2)", "text", "pro"),
    ("cy@example.org", "Plan (2)", "text", "Paid"),
    ("ada@example.com", "and", "boolean", 1),
    ("bob@example.com", "big", "number", 9223372036854775807),
    ("ada@example.com", "code", "text", "42"),
    ("bob@example.com", "code", "text", "007"),
    ("cy@example.org", "code", "text", "abc"),
    ("ada@example.com", "company.size", "number", 12),
    ("ada@example.com", "email", "text", "other@example.com"),
    ("bob@example.com", "float_big", "number", 1.7976931348623157e308),
    ("ada@example.com", "in", "text", "x"),
    ("ada@example.com", "lifetime_value", "number", 1476.91),
    ("bob@example.com", "lifetime_value", "number", 0.0),
    ("cy@example.org", "lifetime_value", "number", 12),
    ("ada@example.com", "mixed", "text", "5"),
    ("bob@example.com", "mixed", "text", "2026-01-01"),
    ("cy@example.org", "mixed", "text", "1"),
    ("ada@example.com", "newsletter", "boolean", 1),
    ("bob@example.com", "newsletter", "boolean", 0),
    ("cy@example.org", "newsletter", "boolean", 1),
    ("cy@example.org", "note", "text", "line one\nline two"),
    ("ada@example.com", "now", "date", "2026-01-01T00:00:00Z"),
    ("dee@example.net", "optin", "boolean", 1),
    ("eve@example.net", "optin", "boolean", 0),
    ("fay@example.net", "optin", "boolean", 0),
    ("ada@example.com", "padded key", "text", "kept"),
    ("bob@example.com", "plan", "text", "trial"),
    ("cy@example.org", "plan", "text", "paid"),
    ("dee@example.net", "plan", "text", "free"),
    ("eve@example.net", "plan", "text", "pro"),
    ("cy@example.org", "quote", "text", "say \"hi\"; 'x', 100%_"),
    ("ada@example.com", "ratio", "number", 1 / 3),
    ("bob@example.com", "ratio", "number", 0.5),
    ("ada@example.com", "renewal", "date", "2027-01-01T00:00:00Z"),
    ("bob@example.com", "renewal", "date", "2027-02-01T10:30:00Z"),
    ("ada@example.com", "sales_lead", "boolean", 1),
    ("bob@example.com", "sales_lead", "boolean", 1),
    ("dee@example.net", "sales_lead", "boolean", 1),
    ("ada@example.com", "score", "number", 80),
    ("bob@example.com", "score", "number", 20),
    ("cy@example.org", "score", "number", -3),
    ("dee@example.net", "score", "number", 7),
    ("dee@example.net", "seats", "boolean", 1),
    ("eve@example.net", "seats", "boolean", 0),
    ("fay@example.net", "seats", "boolean", 1),
    ("dee@example.net", "signup_day", "date", "2026-03-01T00:00:00Z"),
    ("eve@example.net", "signup_day", "date", "2026-03-02T09:00:00Z"),
    ("fay@example.net", "signup_day", "date", "2026-03-03T08:00:00Z"),
    ("ada@example.com", "stage", "text", "started"),
    ("bob@example.com", "stage", "text", "started"),
    ("dee@example.net", "stage", "text", "started"),
    ("ada@example.com", "tags", "text", "t;u"),
    ("ada@example.com", "text_number", "text", "42"),
    ("bob@example.com", "tiny", "number", -9223372036854775808),
    ("ada@example.com", "trial_end", "date", "2026-12-01T00:00:00Z"),
    ("bob@example.com", "trial_end", "date", "2026-12-01T08:00:00Z"),
    ("dee@example.net", "vip_flag", "boolean", 1),
    ("eve@example.net", "vip_flag", "boolean", 0),
    ("fay@example.net", "vip_flag", "boolean", 1),
    ("ada@example.com", "when", "date", "2026-05-01T00:00:00Z"),
    ("bob@example.com", "when", "date", "2026-05-01T00:00:00Z"),
    ("dee@example.net", "when", "date", "2026-05-01T00:00:00Z"),
    ("ada@example.com", "zip", "text", "007"),
    ("ada@example.com", "über", "text", "ß"),
}
# The other data, as 0.1 wrote it (later migrations add columns, such as folded keys).
UNTOUCHED = {
    "contacts": "id, email, name, phone, user_id, created_at, last_seen_at, blocked_at",
    "tags": "id, name, created_at",
    "contact_tags": "tag_id, contact_id, added_at",
    "notes": "*",
    "conversations": "*",
    "messages": "*",
    "flow_runs": "id, flow, digest, started_at, status, matched, completed",
    "flow_enrolments": "*",
}


@pytest.fixture
def copy(tmp_path) -> Path:
    target = tmp_path / "release.db"
    shutil.copyfile(FIXTURE, target)
    return target


def old_values(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT c.email, a.key, a.value FROM attributes AS a JOIN contacts AS c ON c.id = a.contact_id"
        ).fetchall()
    finally:
        conn.close()


def rows(path: Path, table: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT {UNTOUCHED[table]} FROM {table} ORDER BY 1, 2").fetchall()
    finally:
        conn.close()


def same_meaning(kind: str, old, new) -> bool:
    if kind == "text":
        return new == (old if isinstance(old, str) else str(old))
    if kind == "number":
        return type(new) is type(old) and new == old
    if kind == "boolean":
        return new == (old if isinstance(old, int) else int(old.strip().lower() in ("true", "yes")))
    return clock.parse_time(old) == clock.parse_time(new)


@pytest.mark.sqlite_only(reason="SQLite migration m009 of an old database file")
def test_every_key_is_declared_with_its_inferred_type_and_every_value_intact(copy):
    before = old_values(copy)
    untouched = {table: rows(copy, table) for table in UNTOUCHED}
    db = open_db(copy)
    migrated = db.execute(
        "SELECT c.email, p.name, p.type, v.value FROM property_values AS v "
        "JOIN properties AS p ON p.id = v.property_id JOIN contacts AS c ON c.id = v.contact_id"
    ).fetchall()
    assert set(migrated) == EXPECTED
    assert len(migrated) == len(before)
    # Typed exactly: 42 in a text property is the text "42", 1476.91 stays a real.
    assert all(type(row[3]) is type(want[3]) for row, want in zip(sorted(migrated), sorted(EXPECTED), strict=True))
    # Each value means what it meant: compared with the old database, key by key.
    names = {"Plan": "Plan (2)"}
    kinds = {name: kind for _, name, kind, _ in EXPECTED}
    now = {(email, name): value for email, name, _, value in migrated}
    for email, key, value in before:
        name = names.get(key, key)
        assert same_meaning(kinds[name], value, now[(email, name)]), (email, key, value)
    for table, before_rows in untouched.items():
        assert rows(copy, table) == before_rows, table
    assert "attributes" not in db.table_names()
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.sqlite_only(reason="SQLite migration m009 of an old database file")
def test_the_migration_reports_what_it_declared(copy, run):
    first = run("--db", copy, "property", "list", "--format", "json")
    assert first.returncode == 0, first.stderr
    notes = first.stderr.splitlines()
    assert notes[0].startswith(
        "note: properties now have types; declared 33 from the data points already stored: "
        "and (boolean), big (number), code (text), company.size (number), email (text),"
    )
    assert notes[0].endswith(" and 13 more (see `crmctl property list`; `crmctl property retype` changes a type)")
    assert notes[1:] == ["note: data point 'Plan' differs from another only in case: it is now the property 'Plan (2)'"]
    listed = {row["name"]: (row["type"], row["contacts"]) for row in json.loads(first.stdout)}
    assert listed["plan"] == ("text", 4) and listed["Plan (2)"] == ("text", 2)
    assert listed["newsletter"] == ("boolean", 3) and listed["trial_end"] == ("date", 2)
    again = run("--db", copy, "property", "list", "--format", "json")
    assert (again.returncode, again.stderr) == (0, "")
    log = json.loads(run("--db", copy, "log", "--format", "json").stdout)
    entry = next(e for e in log if e["actor"] == "migration")
    assert entry["action"] == "property_create"
    assert entry["detail"].startswith("declared from existing data points: and (boolean), big (number), code (text)")


@pytest.mark.sqlite_only(reason="SQLite migration m009 of an old database file")
def test_the_migrated_database_filters_and_runs_flows_by_type(copy, run):
    assert run("--db", copy, "contact", "count", "-w", 'code == "42"').stdout == "1\n"
    assert run("--db", copy, "contact", "count", "-w", "newsletter").stdout == "2\n"
    assert run("--db", copy, "contact", "count", "-w", "trial_end < now").stdout == "0\n"
    assert run("--db", copy, "contact", "count", "-w", 'signup_day >= "2026-03-02"').stdout == "2\n"
    assert run("--db", copy, "contact", "count", "-w", "score > 10 and sales_lead").stdout == "2\n"
    refused = run("--db", copy, "contact", "count", "-w", 'score > "50"')
    assert (refused.returncode, refused.stderr) == (
        2,
        'Error: score is a number property: write 50, not "50"\n  score > "50"\n          ^\n',
    )
