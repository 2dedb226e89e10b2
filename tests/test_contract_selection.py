"""The command-line contract, selection rules (#12): each rule through the installed `crmctl`."""

from __future__ import annotations

import json

import pytest
from conftest import add_contacts


def count_tagged(db, tag: str) -> int:
    return db.execute(
        "SELECT count(*) FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id WHERE t.name = ?", [tag]
    ).fetchone()[0]


def test_repeated_where_filters_are_combined_with_and(run, people):
    # Bob: trial, score 20. Cy: trial, no score. Ada: pro, score 80.
    result = run("delete", "-w", 'plan == "trial"', "-w", "score > 10", "--dry-run", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"action": "delete", "selected": 1, "changed": 1, "dry_run": True}
    assert result.stderr == "delete: 1 selected by filter, 1 changed (dry run: nothing was written)\n"
    listed = run("contact", "list", "-w", 'plan == "trial"', "-w", "score > 10", "-f", "ndjson")
    assert [json.loads(line)["email"] for line in listed.stdout.splitlines()] == ["Bob@Example.com"]
    assert run("contact", "count", "-w", "score > 10", "-w", "score < 50").stdout == "1\n"


def test_where_narrows_identifiers_from_stdin(run, people):
    result = run("tag", "add", "churned", "-c", "-", "-w", 'not tags contains "vip"', "-f", "json", input="1\n2\n3\n")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "action": "tag_add",
        "selected": 1,
        "identified": 3,
        "changed": 1,
        "tags": ["churned"],
        "dry_run": False,
    }
    assert result.stderr == "tag add: 3 identified, 1 after filter, 1 changed\n"
    assert count_tagged(people, "churned") == 2  # Cy had it; Bob now has it; Ada (vip) does not


def test_where_narrows_positional_ids_and_contact_options(run, people):
    result = run("delete", "1", "2", "-w", 'plan == "trial"', "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "delete: 2 identified, 1 after filter, 1 changed (dry run: nothing was written)\n"
    result = run("block", "-c", "1", "-c", "ed@example.net", "-w", "name == 'Nobody'", "-f", "json")
    assert json.loads(result.stdout)["selected"] == 0
    assert json.loads(result.stdout)["identified"] == 2


def test_identifiers_alone_say_so(run, people):
    result = run("block", "1", "di@example.org")
    assert result.stderr == "block: 2 identified, 1 changed\n"
    result = run("unblock", "--all", "-f", "json")
    assert "identified" not in json.loads(result.stdout)
    assert result.stderr == "unblock: 5 selected (all contacts), 2 changed\n"


@pytest.mark.parametrize(
    "args",
    [
        ["delete", "--all", "-c", "1", "--yes"],
        ["delete", "--all", "-w", "score > 1", "--yes"],
        ["tag", "add", "vip", "--all", "-c", "-"],
        ["block", "2", "--all"],
        ["contact", "list", "--all", "-w", "score > 1"],
    ],
)
def test_all_with_identifiers_or_filters_is_a_usage_error(run, people, args):
    result = run(*args, input="2\n")
    assert result.returncode == 2
    assert result.stderr == (
        "Error: --all selects every contact: it cannot be combined with -c/--contact or -w/--where\n"
    )
    assert people.execute("SELECT count(*) FROM contacts WHERE blocked_at IS NULL").fetchone()[0] == 4
    assert people.execute("SELECT count(*) FROM contacts").fetchone()[0] == 5


def test_ignore_missing_says_how_many_it_skipped(run, people):
    result = run("block", "-c", "99", "-c", "1", "-c", "ghost@example.com", "--ignore-missing", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["skipped"] == 2
    assert result.stderr == "block: 1 identified (2 skipped: no such contact), 1 changed\n"


def test_tag_add_create_says_which_tags_it_created(run, people):
    result = run("tag", "add", "gold", "vip", "silver", "-c", "2", "--create", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["created"] == ["gold", "silver"]
    assert result.stderr == "tag add: 1 identified, 1 changed; created tags gold, silver\n"


@pytest.mark.parametrize(
    "args, env, source",
    [
        (["--db", "", "tag", "list"], {}, "--db ''"),
        (["tag", "list", "--db", ""], {}, "--db ''"),
        (["--db=", "delete", "--all", "--yes"], {}, "--db ''"),
        (["delete", "--all", "--yes"], {"CRMCTL_DB": ""}, "CRMCTL_DB is set but empty"),
        (["init"], {"CRMCTL_DB": ""}, "CRMCTL_DB is set but empty"),
    ],
)
def test_an_empty_database_path_never_means_the_default(run, people, tmp_path, args, env, source):
    default = tmp_path / "xdg" / "crmctl" / "crmctl.db"
    add_contacts(open_default(default), [{"email": "keep@example.com"}])
    result = run(*args, env=env)
    assert result.returncode == 2
    assert result.stderr == f"Error: the database path is empty ({source})\n"
    assert count_in(default) == 1
    assert people.execute("SELECT count(*) FROM contacts").fetchone()[0] == 5


def open_default(path):
    from crmctl.store import open_db

    return open_db(path, create=True)


def count_in(path) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM contacts").fetchone()[0]


def test_db_option_after_the_sub_command(run, people, tmp_path):
    other = tmp_path / "other.db"
    assert run("init", "--db", other, "-q").returncode == 0
    assert run("tag", "create", "elsewhere", "--db", other, "-q").returncode == 0
    assert run("tag", "list", "--db", other, "-f", "csv").stdout == "name,contacts\nelsewhere,0\n"
    assert run("--db", other, "tag", "list", "-f", "csv").stdout == "name,contacts\nelsewhere,0\n"
    # after the sub-command wins over before it
    assert run("--db", other, "tag", "list", "--db", people_path(people), "-f", "csv").stdout.startswith(
        "name,contacts\nchurned,1\n"
    )


def people_path(db) -> str:
    import os

    return os.environ["CRMCTL_DB"]  # the `people` database: a file, or a PostgreSQL URL


def test_unquoted_where_split_by_the_shell_gets_a_hint(run, people):
    hint = "quote the whole -w expression, which the shell split into separate arguments: -w 'plan == \"trial\"'"
    listed = run("contact", "list", "-w", "plan", "==", "trial")
    assert listed.returncode == 2
    assert listed.stderr == (
        f"Error: Got unexpected extra argument(s) (== trial): {hint}\nTry 'crmctl contact list -h' for help.\n"
    )
    deleted = run("delete", "-w", "plan", "==", "trial", "--yes")
    assert (deleted.returncode, deleted.stderr) == (2, f"Error: {hint}\n")
    tagged = run("tag", "add", "vip", "-w", "plan", "==", "trial")
    assert (tagged.returncode, tagged.stderr) == (2, f"Error: {hint}\n")
    assert people.execute("SELECT count(*) FROM contacts").fetchone()[0] == 5
    assert count_tagged(people, "vip") == 2
