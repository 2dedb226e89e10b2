"""The contact actions through the CLI: exact summaries, refusals and exit codes."""

from __future__ import annotations

import json

from conftest import NOW


def tags_of(db, email):
    return sorted(
        r[0]
        for r in db.execute(
            "SELECT t.name FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id "
            "JOIN contacts c ON c.id = ct.contact_id WHERE c.email = ?",
            [email],
        )
    )


def summary(result):
    return json.loads(result.stdout)


def test_tag_add_assigns_existing_tag_and_is_idempotent(cli, people):
    first = cli("tag", "add", "vip", "-c", "bob@example.com", "-c", "1", "--format", "json")
    assert first.exit_code == 0
    assert summary(first) == {
        "action": "tag_add",
        "selected": 2,
        "identified": 2,
        "changed": 1,
        "tags": ["vip"],
        "dry_run": False,
    }
    again = cli("tag", "add", "vip", "-c", "bob@example.com", "-c", "1", "--format", "json")
    assert summary(again)["changed"] == 0
    assert tags_of(people, "Bob@Example.com") == ["vip"]


def test_tag_add_human_summary_goes_to_stderr(cli, people):
    result = cli("tag", "add", "vip", "-c", "2")
    assert result.stdout == ""
    assert result.stderr == "tag add: 1 identified, 1 changed\n"


def test_unknown_tag_is_refused_and_nothing_changes(cli, people):
    result = cli("tag", "add", "vip", "gold", "--all")
    assert result.exit_code == 1
    assert result.stderr == ("Error: unknown tag 'gold': create with `crmctl tag create gold` or pass --create\n")
    assert tags_of(people, "Bob@Example.com") == []


def test_tag_add_create_makes_missing_tags(cli, people):
    result = cli("tag", "add", "gold", "-c", "2", "--create", "--format", "json")
    assert summary(result)["changed"] == 1
    assert tags_of(people, "Bob@Example.com") == ["gold"]


def test_tag_names_match_case_insensitively(cli, people):
    result = cli("tag", "add", "VIP", "-c", "2", "--format", "json")
    assert summary(result)["changed"] == 1
    assert tags_of(people, "Bob@Example.com") == ["vip"]


def test_tag_remove(cli, people):
    result = cli("tag", "remove", "vip", "--all", "--format", "json")
    assert summary(result) == {"action": "tag_remove", "selected": 5, "changed": 2, "tags": ["vip"], "dry_run": False}
    assert tags_of(people, "cy@example.org") == ["churned"]


def test_tag_remove_unknown_tag_refused(cli, people):
    result = cli("tag", "remove", "nope", "--all")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unknown tag 'nope'")


def test_no_selection_is_a_usage_error(cli, people):
    for args in (["tag", "add", "vip"], ["note", "hi"], ["block"], ["unblock"], ["delete", "--yes"]):
        result = cli(*args)
        assert result.exit_code == 2, args
        assert result.stderr == "Error: no contacts selected: give -c/--contact, -w/--where or --all\n"


def test_missing_identifiers_refused_then_ignored(cli, people):
    result = cli("block", "-c", "99", "-c", "ghost@example.com", "-c", "1")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: 2 contacts not found: '99', 'ghost@example.com' (use --ignore-missing to skip them)\n"
    )
    assert people.execute("SELECT count(*) FROM contacts WHERE blocked_at IS NOT NULL").fetchone()[0] == 1
    ok = cli("block", "-c", "99", "-c", "1", "--ignore-missing", "--format", "json")
    assert summary(ok)["changed"] == 1


def test_bad_identifier_is_usage_error(cli, people):
    result = cli("block", "-c", "bob")
    assert result.exit_code == 2
    assert result.stderr == "Error: --contact: 'bob' is neither a contact id nor an email\n"


def test_stdin_identifiers_lines_and_ndjson(cli, people):
    stdin = '1\n{"email": "bob@example.com"}\n\n{"id": 3}\n'
    result = cli("tag", "add", "churned", "-c", "-", "--format", "json", input=stdin)
    assert summary(result)["selected"] == 3


def test_block_and_unblock_with_positional_contacts(cli, people):
    result = cli("block", "1", "di@example.org", "--format", "json")
    assert summary(result) == {"action": "block", "selected": 2, "identified": 2, "changed": 1, "dry_run": False}
    blocked_at = people.execute("SELECT blocked_at FROM contacts WHERE id = 1").fetchone()[0]
    assert blocked_at == NOW
    result = cli("unblock", "--all", "--format", "json")
    assert summary(result)["changed"] == 2


def test_note_with_author_and_stdin_body(cli, people):
    cli("note", "Called, no answer", "-c", "2", "--author", "sam")
    cli("note", "-", "-c", "2", input="from stdin\n")
    notes = people.execute("SELECT body, author, created_at FROM notes WHERE contact_id = 2 ORDER BY id").fetchall()
    assert notes[0] == ("Called, no answer", "sam", NOW)
    assert notes[1][0] == "from stdin\n"


def test_empty_note_is_refused(cli, people):
    result = cli("note", "  ", "--all")
    assert result.exit_code == 2
    assert result.stderr == "Error: a note must not be empty\n"


def test_dry_run_reports_and_writes_nothing(cli, people):
    result = cli("tag", "add", "churned", "--all", "--dry-run", "--format", "json")
    assert summary(result) == {"action": "tag_add", "selected": 5, "changed": 4, "tags": ["churned"], "dry_run": True}
    assert people.execute("SELECT count(*) FROM contact_tags").fetchone()[0] == 3
    assert people.execute("SELECT count(*) FROM audit").fetchone()[0] == 0


def test_delete_without_terminal_or_yes_is_refused(cli, people):
    result = cli("delete", "-c", "1")
    assert result.exit_code == 1
    assert result.stderr == "Error: refusing to delete 1 contact without confirmation: pass --yes\n"
    assert people.execute("SELECT count(*) FROM contacts").fetchone()[0] == 5


def test_delete_removes_everything_attached(cli, people):
    result = cli("delete", "1", "--yes", "--format", "json")
    assert summary(result) == {"action": "delete", "selected": 1, "identified": 1, "changed": 1, "dry_run": False}
    for table, column in [
        ("property_values", "contact_id"),
        ("contact_tags", "contact_id"),
        ("notes", "contact_id"),
        ("conversations", "contact_id"),
    ]:
        assert people.execute(f"SELECT count(*) FROM {table} WHERE {column} = 1").fetchone()[0] == 0, table
    assert people.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    entry = people.execute("SELECT action, contacts, detail FROM audit").fetchone()
    assert entry == ("delete", 1, "")
    assert people.execute("SELECT contact_id FROM audit_contacts").fetchall() == [(1,)]


def test_delete_dry_run_needs_no_confirmation(cli, people):
    result = cli("delete", "-c", "4", "--dry-run", "--format", "json")
    assert summary(result)["changed"] == 1
    assert people.execute("SELECT count(*) FROM contacts").fetchone()[0] == 5


def test_audit_log_lists_changes_without_personal_data(cli, people):
    cli("tag", "add", "vip", "-c", "2")
    cli("note", "secret text", "-c", "2")
    result = cli("log", "--format", "ndjson")
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["action"] for e in entries] == ["note", "tag_add"]
    assert all("secret" not in (e["detail"] or "") for e in entries)
    only = cli("log", "--contact", "2", "--format", "json")
    assert len(json.loads(only.stdout)) == 2
