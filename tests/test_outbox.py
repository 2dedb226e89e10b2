"""emit steps and `crmctl outbox list|read|ack`, through the installed `crmctl`; at-least-once
delivery survives SIGKILL."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import textwrap

import pytest
from conftest import crmctl_executable, lines_json
from crashkit import wait_for_pause
from flowkit import write_flow

WELCOME = """
    name: welcome
    match: 'plan == "trial"'
    steps:
      - id: greet
        emit: {to: welcome, fields: [plan, score, tags, blocked]}
      - emit: audit-trail
"""


def read(run, name="welcome", *args) -> list[dict]:
    result = run("outbox", "read", name, "-f", "ndjson", *args)
    assert result.returncode == 0, result.stderr
    return lines_json(result.stdout)


@pytest.fixture
def emitted(run, people, tmp_path):
    path = write_flow(tmp_path, WELCOME)
    result = run("flow", "run", path, "--format", "json")
    assert result.returncode == 0, result.stderr
    return lines_json(result.stdout)[0]


def test_emit_writes_one_record_per_contact_with_the_listed_fields(run, emitted):
    assert emitted["emitted"] == {"welcome": 2, "audit-trail": 2}
    assert emitted["changed"]["emit"] == 4
    records = read(run)
    run_id = emitted["run_id"]
    assert records == [
        {
            "outbox_id": 1,
            "outbox": "welcome",
            "contact_id": 2,
            "email": "Bob@Example.com",
            "name": "Bob",
            "fields": {"plan": "trial", "score": 20, "tags": [], "blocked": False},
            "flow": "welcome",
            "step": "greet",
            "run_id": run_id,
            "emitted_at": "2026-11-01T12:00:00Z",
        },
        {
            "outbox_id": 2,
            "outbox": "welcome",
            "contact_id": 3,
            "email": "cy@example.org",
            "name": "Cy",
            "fields": {"plan": "trial", "score": None, "tags": ["churned", "vip"], "blocked": False},
            "flow": "welcome",
            "step": "greet",
            "run_id": run_id,
            "emitted_at": "2026-11-01T12:00:00Z",
        },
    ]
    assert [r["step"] for r in read(run, "audit-trail")] == ["steps[1]", "steps[1]"]


def test_reading_consumes_nothing_and_ack_marks_through_an_id(run, emitted):
    assert read(run) == read(run)
    assert [r["outbox_id"] for r in read(run, "welcome", "--limit", "1")] == [1]
    result = run("outbox", "ack", "welcome", "--through", "1", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "outbox": "welcome",
        "through": 1,
        "acknowledged": 1,
        "pending": 1,
        "pruned": 0,
    }
    assert [r["outbox_id"] for r in read(run)] == [2]
    again = run("outbox", "ack", "welcome", "--through", "1")
    assert (again.returncode, again.stderr) == (0, "welcome: 0 acknowledged, 1 pending\n")
    listing = json.loads(run("outbox", "list", "-f", "json").stdout)
    assert listing == [
        {
            "outbox": "audit-trail",
            "pending": 2,
            "delivered": 0,
            "oldest_pending_at": "2026-11-01T12:00:00Z",
            "last_delivered_at": None,
        },
        {
            "outbox": "welcome",
            "pending": 1,
            "delivered": 1,
            "oldest_pending_at": "2026-11-01T12:00:00Z",
            "last_delivered_at": "2026-11-01T12:00:00Z",
        },
    ]


def test_read_formats(run, emitted):
    as_json = json.loads(run("outbox", "read", "welcome", "-f", "json").stdout)
    assert as_json == read(run)
    rows = list(csv.DictReader(io.StringIO(run("outbox", "read", "welcome", "-f", "csv").stdout)))
    assert list(rows[0]) == [
        "outbox_id",
        "contact_id",
        "email",
        "name",
        "flow",
        "step",
        "run_id",
        "emitted_at",
        "plan",
        "score",
        "tags",
        "blocked",
    ]
    assert rows[1] == {
        "outbox_id": "2",
        "contact_id": "3",
        "email": "cy@example.org",
        "name": "Cy",
        "flow": "welcome",
        "step": "greet",
        "run_id": str(emitted["run_id"]),
        "emitted_at": "2026-11-01T12:00:00Z",
        "plan": "trial",
        "score": "",
        "tags": "churned;vip",
        "blocked": "false",
    }
    table = run("outbox", "read", "welcome").stdout
    assert table.splitlines()[0] == "Outbox welcome" and "cy@example.org" in table


def test_ack_refuses_what_could_lose_records(run, emitted):
    other = run("outbox", "ack", "welcome", "--through", "3")
    assert (other.returncode, other.stderr) == (
        1,
        "Error: cannot acknowledge through 3 in outbox 'welcome': it belongs to outbox 'audit-trail'\n",
    )
    typo = run("outbox", "ack", "welcome", "--through", "99")
    assert typo.returncode == 1
    assert "there is no such record (pruned, or never written)" in typo.stderr
    bad = run("outbox", "ack", "welcome", "--through", "two")
    assert (bad.returncode, bad.stderr) == (2, "Error: --through must be an outbox_id (a whole number), not 'two'\n")
    unknown = run("outbox", "read", "welcom")
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "Error: no outbox named 'welcom' (outboxes: audit-trail, welcome)\n",
    )
    assert len(read(run)) == 2


def test_an_empty_batch_acknowledges_nothing(run, emitted):
    result = run("outbox", "ack", "welcome", "--through", "", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["acknowledged"] == 0
    assert len(read(run)) == 2


def test_a_dry_run_counts_records_and_writes_none(run, people, tmp_path):
    path = write_flow(tmp_path, WELCOME)
    result = run("flow", "run", path, "--dry-run", "--format", "json")
    report = lines_json(result.stdout)[0]
    assert report["emitted"] == {"welcome": 2, "audit-trail": 2}
    assert people.execute("SELECT count(*) FROM outbox_records").fetchone()[0] == 0
    assert run("outbox", "list", "-f", "json").stdout == "[]\n"


@pytest.mark.sqlite_only(reason="reads the SQLite file and its WAL for leftover bytes")
def test_deleting_a_contact_erases_its_records(run, emitted, people, isolated_db):
    assert run("delete", "-c", "3", "--yes", "-q").returncode == 0
    assert [r["contact_id"] for r in read(run)] == [2]
    assert people.execute("SELECT count(*) FROM outbox_records WHERE contact_id = 3").fetchone()[0] == 0
    people.close()
    for suffix in ("", "-wal"):
        path = f"{isolated_db}{suffix}"
        if os.path.exists(path):
            assert b"cy@example.org" not in open(path, "rb").read()


def test_delivered_records_are_pruned_after_the_retention(run, emitted, people):
    run("outbox", "ack", "welcome", "--through", "2")
    later = {"CRMCTL_NOW": "2026-12-01T12:00:00Z"}  # 30 days: still kept
    assert (
        json.loads(run("outbox", "ack", "audit-trail", "--through", "3", "-f", "json", env=later).stdout)["pruned"] == 0
    )
    after = {"CRMCTL_NOW": "2026-12-01T12:00:01Z"}
    result = json.loads(run("outbox", "ack", "audit-trail", "--through", "4", "-f", "json", env=after).stdout)
    assert result == {"outbox": "audit-trail", "through": 4, "acknowledged": 1, "pending": 0, "pruned": 2}
    assert people.execute("SELECT outbox, id FROM outbox_records ORDER BY id").fetchall() == [
        ("audit-trail", 3),
        ("audit-trail", 4),
    ]


def test_ids_are_never_reused_after_pruning(run, emitted, people, tmp_path):
    run("outbox", "ack", "welcome", "--through", "2")
    run("outbox", "ack", "audit-trail", "--through", "4")
    run("db", "prune", "--runs-before", "2026-01-01", env={"CRMCTL_NOW": "2027-01-01T00:00:00Z"})
    assert people.execute("SELECT count(*) FROM outbox_records").fetchone()[0] == 0
    again = write_flow(tmp_path, WELCOME.replace("name: welcome", "name: welcome-again"), "again.yaml")
    run("flow", "run", again)
    assert [r["outbox_id"] for r in read(run)] == [5, 6]


# At least once, whatever is killed -------------------------------------------------------------


def test_the_documented_pipeline_delivers_each_record_at_least_once(run, emitted, tmp_path):
    """A deliverer killed between read and ack loses nothing: the next one reads the records again."""
    crmctl = crmctl_executable()
    script = textwrap.dedent(
        f"""
        set -e
        {crmctl} outbox read welcome -f ndjson > batch
        cat batch >> delivered
        if [ -n "$DIE" ]; then kill -KILL $$; fi
        {crmctl} outbox ack welcome --through "$(tail -1 batch | python3 -c 'import json,sys; print(json.loads(sys.stdin.read() or "{{}}").get("outbox_id", ""))')" -q
        """
    )
    env = {**os.environ}
    killed = subprocess.run(["sh", "-c", script], cwd=tmp_path, env={**env, "DIE": "1"})
    assert killed.returncode == -signal.SIGKILL
    assert len(read(run)) == 2
    finished = subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env)
    assert finished.returncode == 0
    assert read(run) == []
    delivered = [json.loads(line)["outbox_id"] for line in (tmp_path / "delivered").read_text().splitlines()]
    assert delivered == [1, 2, 1, 2]  # at least once: twice after the kill, never lost
    empty = subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env)
    assert empty.returncode == 0


def test_a_killed_ack_acknowledges_all_or_nothing(run, db, tmp_path):
    from bulk import add_bulk_contacts

    add_bulk_contacts(db, 3000)
    path = write_flow(tmp_path, "name: bulk\nmatch: 'id > 0'\nsteps: [{emit: {to: bulk, fields: [plan]}}]\n")
    assert run("flow", "run", path, "-q").returncode == 0
    # Killed exactly at named points of its transaction (the test-only pause hook), not by a timer.
    for point, pending in (("transaction:begin", 3000), ("transaction:commit", 3000), ("transaction:committed", 500)):
        proc = subprocess.Popen(
            [crmctl_executable(), "outbox", "ack", "bulk", "--through", "2500", "-q"],
            stderr=subprocess.PIPE,
            env={**os.environ, "CRMCTL_TEST_PAUSE_AT": point},
        )
        wait_for_pause(proc, point)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert db.execute("SELECT count(*) FROM outbox_records WHERE delivered_at IS NULL").fetchone()[0] == pending
        db.execute("UPDATE outbox_records SET delivered_at = NULL")
        db.conn.commit()


def test_a_run_killed_mid_way_emits_nothing(db, tmp_path):
    """SIGKILL in a run with an emit step: the records are all there, or none is."""
    from crashkit import fresh_copy, health, launch

    from crmctl.store import open_db

    template = tmp_path / "template.db"
    seeded = open_db(template, create=True)
    from bulk import add_bulk_contacts

    add_bulk_contacts(seeded, 4000)
    seeded.close()
    flow = write_flow(
        tmp_path,
        """
        name: mailing
        match: 'id > 0'
        steps:
          - tag_add: vip
          - emit: {to: mailing, fields: [plan, score]}
          - note: "mailed {{ contact.plan }}"
    """,
    )
    args = ["flow", "run", str(flow), "-q"]
    # Killed exactly at named points of the run (the test-only pause hook), not by a timer:
    # before the records, after them, before the commit, after it.
    points = ["transaction:begin", "action:tag_add", "action:emit", "transaction:commit", "transaction:committed"]
    for trial, point in enumerate(points):
        target = fresh_copy(template, tmp_path / f"trial{trial}.db")
        proc = launch(args, target, pause_at=point)
        wait_for_pause(proc, point)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert health(target) == ("ok", [])
        check = open_db(target)
        records = check.execute("SELECT count(*) FROM outbox_records").fetchone()[0]
        notes = check.execute("SELECT count(*) FROM notes").fetchone()[0]
        check.close()
        assert (records, notes) == ((4000, 4000) if point == "transaction:committed" else (0, 0)), point
