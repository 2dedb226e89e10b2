"""The command-line contract, errors and messages (#12): the installed `crmctl`, exact stderr,
exit codes, the JSON error object, and nothing changed by any refusal."""

from __future__ import annotations

import json

import pytest
from flowkit import dump


def error_object(result) -> dict:
    return json.loads(result.stdout)["error"]


# Usage errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message, path",
    [
        (["tag", "list", "--frmat", "x"], "No such option: --frmat (did you mean --format?)", "crmctl tag list"),
        (["tag", "lst"], "No such command 'lst'. Did you mean 'list'?", "crmctl tag"),
        (["delete", "--yse"], "No such option: --yse (did you mean --yes?)", "crmctl delete"),
        (
            ["contact", "list", "-f", "xml"],
            "Invalid value for '--format' / '-f': 'xml' is not one of 'table', 'json', 'ndjson', 'csv'.",
            "crmctl contact list",
        ),
        (["tag", "add"], "Missing argument 'TAG...'.", "crmctl tag add"),
        (["log", "show", "x"], "Invalid value for 'ID': 'x' is not a valid int.", "crmctl log show"),
        (["--bogus"], "No such option: --bogus", "crmctl"),
    ],
)
def test_usage_errors_are_one_error_line_and_one_hint_line(cli, people, args, message, path):
    result = cli(*args)  # in-process, through the same main(); the installed crmctl: below and test_terminal
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\nTry '{path} -h' for help.\n"


@pytest.mark.parametrize(
    "args",
    [
        ["tag", "list", "-f", "json", "--frmat"],
        ["tag", "list", "--format=json", "--bogus"],
        ["delete", "--all", "-c", "1", "-f", "json"],
        ["contact", "list", "-fjson", "-n", "-1"],
    ],
)
def test_usage_errors_with_json_format_also_print_an_error_object(run, people, args):
    result = run(*args)
    assert result.returncode == 2
    if "--all" not in args:  # a parser error (the other says what to give instead)
        assert result.stderr.endswith(f"Try '{' '.join(['crmctl', *args[:2]])} -h' for help.\n")
    error = error_object(result)
    assert error["exit_code"] == 2 and error["kind"] in ("usage",)
    assert result.stderr.startswith(f"Error: {error['message']}\n")


@pytest.mark.parametrize(
    "args, code, kind",
    [
        (["tag", "add", "nope", "-c", "1", "-f", "json"], 1, "not_found"),
        (["block", "-c", "99", "-f", "json"], 1, "not_found"),
        (["delete", "--all", "-f", "json"], 1, "refused"),
        (["contact", "count", "-w", "score >", "-f", "json"], 2, "invalid_input"),
        (["contact", "show", "nobody@example.com", "-f", "json"], 1, "not_found"),
        (["tag", "list", "-f", "json"], 2, "usage"),  # with --db '' below
        (["flow", "runs", "--flow", "ghost", "-f", "json"], 1, "not_found"),
        (["log", "show", "99", "-f", "json"], 1, "not_found"),
    ],
)
def test_runtime_errors_with_json_format(run, people, args, code, kind):
    extra = ["--db", ""] if kind == "usage" else []
    before = dump(people)
    result = run(*args, *extra)
    assert result.returncode == code
    error = error_object(result)
    assert error == {"message": error["message"], "exit_code": code, "kind": kind}
    assert result.stderr.splitlines()[0] == f"Error: {error['message'].splitlines()[0]}"
    assert dump(people) == before


def test_without_json_format_stdout_stays_empty(run, people):
    result = run("tag", "add", "nope", "-c", "1")
    assert (result.returncode, result.stdout) == (1, "")


# Messages that help the next step ---------------------------------------------------------


def test_unknown_tags_suggest_from_the_catalog_and_only_existing_options(run, people):
    added = run("tag", "add", "vpi", "-c", "1")
    assert added.stderr == (
        "Error: unknown tag 'vpi' (did you mean 'vip'?): create with `crmctl tag create vpi` or pass --create\n"
    )
    removed = run("tag", "remove", "churnd", "-c", "1")
    assert removed.returncode == 1
    assert (
        removed.stderr
        == "Error: unknown tag 'churnd' (did you mean 'churned'?): create with `crmctl tag create churnd`\n"
    )


def test_flow_run_names_the_command_to_create_a_tag(run, people, tmp_path):
    flow = tmp_path / "f.yaml"
    flow.write_text("name: f\nmatch: 'score > 1'\nsteps:\n  - tag_add: [platinum]\n")
    result = run("flow", "run", flow)
    assert result.returncode == 2  # an unknown tag makes the file invalid, with its place
    assert (
        result.stderr
        == f"{flow}:4:14: steps[0].tag_add: unknown tag 'platinum': create it with `crmctl tag create platinum`\n"
    )


def test_an_error_lists_at_most_20_identifiers_each_cut_to_64_characters(run, people):
    stdin = "".join(f"{'x' * 100}{i:03}@example.com\n" for i in range(500))
    result = run("block", "-c", "-", input=stdin)
    assert result.returncode == 1
    line = result.stderr
    assert line.startswith("Error: 500 contacts not found: 'xxxx")
    assert line.endswith(" and 480 more (use --ignore-missing to skip them)\n")
    quoted = line.split("not found: ", 1)[1].split(" and 480 more")[0].split(", ")
    assert len(quoted) == 20
    assert all(len(q) == 66 and q.endswith("…'") for q in quoted)  # 64 characters and the quotes
    assert len(line) < 1500


@pytest.mark.parametrize(
    "stdin",
    [
        '[{"id": 1}, {"id": 2}]\n',
        '[\n  {"id": 1},\n  {"id": 2}\n]\n',
    ],
)
def test_a_json_array_on_stdin_gets_the_jq_hint(run, people, stdin):
    result = run("tag", "add", "vip", "-c", "-", input=stdin)
    assert result.returncode == 2
    assert result.stderr == "Error: stdin holds a JSON array: pipe one object per line (jq -c '.[]')\n"


def test_pretty_printed_json_objects_get_the_hint(run, people):
    result = run("tag", "add", "vip", "-c", "-", input='{\n  "id": 1\n}\n')
    assert result.returncode == 2
    assert result.stderr == (
        "Error: stdin holds pretty-printed JSON: pipe one object per line (jq -c . or jq -c '.[]')\n"
    )


def test_an_id_written_as_a_string_is_accepted(run, people):
    result = run("block", "-c", "-", "-f", "json", input='{"id": "5"}\n{"id": 4}\n')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["identified"] == 2


@pytest.mark.parametrize(
    "expression, message",
    [
        ("last_seen_at < 2026-01-01", 'quote dates: last_seen_at < "2026-01-01"'),
        ("score == null", "there is no null: use 'not score exists'"),
        ("score != NULL", "there is no NULL: use 'score exists'"),
        ("score > 1e5", "numbers are written 100000, not 1e5"),
        ("score > 2.5E-3", "numbers are written 0.0025, not 2.5E-3"),
    ],
)
def test_filter_hints(run, people, expression, message):
    result = run("contact", "count", "-w", expression)
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: {message}\n  {expression}\n")


def test_tag_delete_of_an_unused_tag_needs_no_confirmation(run, people):
    assert run("tag", "create", "unused", "-q").returncode == 0
    result = run("tag", "delete", "unused")
    assert (result.returncode, result.stderr) == (0, "deleted 1 tag; 0 contacts untagged\n")
    held = run("tag", "delete", "vip")
    assert held.returncode == 1
    assert held.stderr == "Error: refusing to delete 1 tag (held by 2 contacts) without confirmation: pass --yes\n"


def test_flow_runs_of_an_unknown_flow_exits_1_as_flow_status_does(run, people):
    runs = run("flow", "runs", "--flow", "ghost")
    status = run("flow", "status", "ghost")
    assert runs.returncode == status.returncode == 1
    assert runs.stderr == "Error: no flow named 'ghost' has run in this database\n"


# contact import: one spelling for the output format --------------------------------------


def test_import_input_format_report_format_and_the_deprecated_json_flag(run, people, tmp_path):
    data = '{"email": "new@example.com"}\n'
    report = run("contact", "import", "-", "--input-format", "ndjson", "-f", "json", "-q", input=data)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["inserted"] == 1
    old = run("contact", "import", "-", "--input-format", "ndjson", "--json", "-q", input=data)
    assert old.returncode == 0
    assert json.loads(old.stdout)["unchanged"] == 1
    assert old.stderr == "note: --json is deprecated and will be removed in the next release: use -f json\n"
    assert "--json" not in run("contact", "import", "-h").stdout
    mistaken = run("contact", "import", "-", "--format", "ndjson", input=data)
    assert mistaken.returncode == 2
    assert mistaken.stderr.startswith(
        "Error: Invalid value for '--format' / '-f': 'ndjson' is an input format: write --input-format ndjson"
    )


# Exit code 75 -----------------------------------------------------------------------------


@pytest.mark.sqlite_only(reason="an sqlite3 process holds SQLite's write lock (PostgreSQL: tests/test_pg_store.py)")
def test_a_busy_database_exits_75_with_a_busy_error_object(run, people, isolated_db):
    import subprocess
    import sys
    import textwrap

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sqlite3, sys, time
                conn = sqlite3.connect({str(isolated_db)!r}, isolation_level=None)
                conn.execute("BEGIN IMMEDIATE")
                print("holding", flush=True)
                time.sleep(30)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "holding\n"
        flow = isolated_db.parent / "f.yaml"
        flow.write_text("name: f\nmatch: 'score > 1'\nsteps:\n  - block\n")
        result = run("flow", "run", flow, "--lock-timeout", "0.2", "-f", "json")
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 75
    assert json.loads(result.stdout)["status"] == "busy"
    assert "the database is locked" in result.stderr
