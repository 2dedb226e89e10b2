"""Finding and reading flows: flow list, show and status without the file, step names, run
history with failed and refused runs, moved files, db prune. Through the installed `crmctl`."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from conftest import ON_POSTGRES, lines_json
from flowkit import write_flow

NURTURE = """
    name: nurture
    match: 'plan == "trial"'
    steps:
      - tag_add: churned
      - id: first
        wait: 3d
      - if: 'score > 10'
        then:
          - note: "scored"
"""


def run_json(run, path, *args, env=None) -> tuple[int, dict, str]:
    result = run("flow", "run", path, "--format", "json", *args, env=env)
    lines = lines_json(result.stdout)
    return result.returncode, (lines[0] if lines else {}), result.stderr


def history(run, *args) -> list[dict]:
    return json.loads(run("flow", "runs", "--format", "json", *args).stdout)


def test_flow_list_in_every_format(run, people, tmp_path):
    path = write_flow(tmp_path, NURTURE)
    run_json(run, path)
    run_json(run, path)
    listing = json.loads(run("flow", "list", "-f", "json").stdout)
    assert listing == [
        {
            "flow": "nurture",
            "source": str(path),
            "last_run_at": "2026-11-01T12:00:00Z",
            "last_status": "ok",
            "runs": 2,
            "in_progress": 2,
            "parked": 2,
            "completed": 0,
            "exited": 0,
        }
    ]
    assert lines_json(run("flow", "list", "-f", "ndjson").stdout) == listing
    rows = list(csv.DictReader(io.StringIO(run("flow", "list", "-f", "csv").stdout)))
    assert rows[0]["flow"] == "nurture" and rows[0]["parked"] == "2"
    table = run("flow", "list").stdout.splitlines()
    assert table[0] == "Flows" and table[1].split() == [
        "flow",
        "source",
        "last_run_at",
        "last_status",
        "runs",
        "in_progress",
        "parked",
        "completed",
        "exited",
    ]
    due = json.loads(run("flow", "list", "-f", "json", env={"CRMCTL_NOW": "2026-11-05T00:00:00Z"}).stdout)
    assert (due[0]["in_progress"], due[0]["parked"]) == (2, 0)  # their wait is over: due, not parked


def test_show_and_status_work_from_the_stored_definition(run, people, tmp_path):
    path = write_flow(tmp_path, NURTURE)
    run_json(run, path)
    from_file = run("flow", "show", path).stdout
    path.unlink()
    shown = run("flow", "show", "nurture")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == from_file
    assert "wait 3d  [first]  2 parked" in shown.stdout
    assert "tag_add churned  [steps[0]]  (2 reached, 1 changed)" in shown.stdout
    status = json.loads(run("flow", "status", "nurture", "-f", "json").stdout)
    assert status["waiting"][0]["step"] == "first" and status["waiting"][0]["path"] == "steps[1]"
    as_json = json.loads(run("flow", "show", "nurture", "-f", "json").stdout)
    assert [(s["step"], s["path"], s["id"]) for s in as_json["steps"]] == [
        ("steps[0]", "steps[0]", None),
        ("first", "steps[1]", "first"),
        ("steps[2]", "steps[2]", None),
        ("steps[2].then[0]", "steps[2].then[0]", None),
    ]
    missing = run("flow", "show", "nope")
    assert missing.returncode == 1 and missing.stderr.startswith("Error: no flow named 'nope'")


def test_reports_name_steps_by_id_else_path(run, people, tmp_path):
    path = write_flow(tmp_path, NURTURE)
    result = run("flow", "run", path)
    lines = result.stderr.splitlines()  # cron mail: a plain table, one step per line
    assert any(line.startswith("first ") for line in lines) and any(line.startswith("steps[0] ") for line in lines)
    code, report, _ = run_json(run, path, "--dry-run")
    assert [(s["step"], s["path"], s["id"]) for s in report["steps"]][:2] == [
        ("steps[0]", "steps[0]", None),
        ("first", "steps[1]", "first"),
    ]


def test_runs_hides_no_op_runs_unless_all(run, people, tmp_path):
    path = write_flow(tmp_path, NURTURE)
    run_json(run, path)
    for _ in range(3):
        run_json(run, path)
    assert [h["run_id"] for h in history(run)] == [1]
    assert [h["run_id"] for h in history(run, "--all")] == [4, 3, 2, 1]
    assert run_json(run, path, env={"CRMCTL_NOW": "2026-11-04T12:00:00Z"})[1]["resumed"] == 2
    assert [h["run_id"] for h in history(run)] == [5, 1]


def test_failed_and_refused_runs_are_recorded_and_dry_runs_are_not(run, people, tmp_path):
    deleter = write_flow(tmp_path, "name: purge\nmatch: 'plan == \"trial\"'\nmax_deletes: 1\nsteps: [delete]\n")
    code, report, _ = run_json(run, deleter, "--dry-run")
    assert code == 1
    assert history(run, "--all") == []
    code, report, stderr = run_json(run, deleter, "--yes")
    assert code == 1 and report["status"] == "refused"
    [refused] = history(run)
    assert (refused["status"], refused["error"], refused["matched"]) == (
        "refused",
        "flow 'purge' would delete 2 contacts, more than max_deletes 1; nothing was changed",
        0,
    )
    assert people.execute("SELECT count(*) FROM contacts").fetchone()[0] == 5
    assert people.execute("SELECT count(*) FROM flow_enrolments").fetchone()[0] == 0
    unconfirmed = write_flow(tmp_path, "name: purge2\nmatch: 'plan == \"trial\"'\nsteps: [delete]\n", "p2.yaml")
    run("flow", "run", unconfirmed)
    assert history(run)[0]["status"] == "refused"
    table = run("flow", "runs").stdout
    assert "refused" in table


def test_a_dry_run_that_would_be_refused_shows_its_plan(run, people, tmp_path):
    deleter = write_flow(
        tmp_path, "name: purge\nmatch: 'plan == \"trial\"'\nmax_deletes: 1\nsteps: [{tag_add: vip}, delete]\n"
    )
    result = run("flow", "run", deleter, "--dry-run")
    assert result.returncode == 1
    assert "dry run of flow purge: 2 matched" in result.stderr
    assert any(line.split()[:2] == ["steps[1]", "delete"] for line in result.stderr.splitlines())
    assert result.stderr.endswith(
        "Error: purge: a real run would be refused: flow 'purge' would delete 2 contacts, more than max_deletes 1; "
        "nothing was changed\n"
    )
    code, report, _ = run_json(run, deleter, "--dry-run")
    assert (code, report["status"], report["deleted"], len(report["steps"])) == (1, "refused", 2, 2)


def test_a_flow_run_from_another_file_warns_naming_both(run, people, tmp_path):
    first = write_flow(tmp_path, NURTURE)
    copy = write_flow(tmp_path, NURTURE, "copy.yaml")
    assert run("flow", "run", first, "-q").stderr == ""
    warned = run("flow", "run", copy, "-q")
    assert warned.returncode == 0
    assert warned.stderr == (
        f"Warning: flow 'nurture' last ran from {first}, now from {copy}; both share one history "
        "(give a copied file its own name:)\n"
    )
    assert run("flow", "run", copy, "-q").stderr == ""


def test_validate_says_when_it_had_no_database(run, tmp_path):
    path = write_flow(tmp_path, NURTURE)
    result = run("flow", "validate", path)
    assert (result.returncode, result.stderr) == (0, f"{path}: ok (checked without a database)\n")


def test_a_flow_that_validates_is_not_refused_for_a_tag(run, people, tmp_path):
    path = write_flow(tmp_path, NURTURE.replace("churned", "brand-new"))
    assert run("flow", "validate", path).returncode == 2
    run("tag", "create", "brand-new", "-q")
    assert run("flow", "validate", path).returncode == 0
    code, report, _ = run_json(run, path)
    assert code == 0 and report["changed"]["tag_add"] == 2


def test_db_prune_keeps_the_last_run_and_what_waiting_contacts_need(run, people, tmp_path):
    path = write_flow(tmp_path, NURTURE)
    other = write_flow(tmp_path, "name: other\nmatch: 'id > 0'\nsteps: [{note: hi}]\n", "other.yaml")
    for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
        run("flow", "run", path, other, "-q", env={"CRMCTL_NOW": f"{day}T00:00:00Z"})
    assert len(history(run, "--all")) == 6
    dry = run("db", "prune", "--runs-before", "2026-06-01", "--dry-run", "-f", "json")
    assert json.loads(dry.stdout) == {
        "before": "2026-06-01T00:00:00Z",
        "runs": 3,
        "definitions": 0,
        "outbox_records": 0,
        "dry_run": True,
    }
    assert len(history(run, "--all")) == 6
    pruned = run("db", "prune", "--runs-before", "2026-06-01")
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stderr.startswith("deleted 3 flow runs and 0 flow definitions")
    # nurture: run 1 parked everyone (kept), run 5 is its last; other: run 6 is its last.
    assert sorted(h["run_id"] for h in history(run, "--all")) == [1, 5, 6]
    assert run("flow", "show", "nurture").returncode == 0
    bad = run("db", "prune", "--runs-before", "last week")
    assert bad.returncode == 2 and "--runs-before takes a date" in bad.stderr


@pytest.mark.skipif(not ON_POSTGRES, reason="a password in a PostgreSQL URL")
def test_a_password_in_the_url_reaches_no_run_history_message_or_log(run, people, tmp_path):
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(os.environ["CRMCTL_DB"])
    user = parts.username or "postgres"
    secret = "s3cret-in-url"
    url = urlunsplit(parts._replace(netloc=f"{user}:{secret}@{parts.netloc.rpartition('@')[2]}"))
    env = {"CRMCTL_DB": url}
    good = write_flow(tmp_path, NURTURE)
    failing = write_flow(
        tmp_path, "name: purge\nmatch: 'plan == \"trial\"'\nmax_deletes: 1\nsteps: [delete]\n", "p.yaml"
    )
    outputs = [
        run("flow", "run", good, "--format", "json", env=env),
        run("flow", "run", good, "--dry-run", env=env),
        run("flow", "run", failing, "--yes", env=env),
        run("flow", "runs", "--all", "--format", "json", env=env),
        run("flow", "list", "--format", "json", env=env),
        run("flow", "status", "nurture", env=env),
        run("log", "--format", "json", env=env),
        run("--db", url, "flow", "runs", "--all", env=env),
    ]
    assert [r.returncode for r in outputs] == [0, 0, 1, 0, 0, 0, 0, 0], [r.stderr for r in outputs]
    assert history(run)[0]["status"] == "refused"
    assert not [r for r in outputs if secret in r.stdout + r.stderr]
    stored = [
        repr(row)
        for table in ("flow_runs", "flow_definitions", "flow_enrolments", "audit", "outbox_records")
        for row in people.execute(f"SELECT * FROM {table}")
    ]
    assert stored and not [row for row in stored if secret in row]
