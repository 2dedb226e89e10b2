"""Flows as real processes: overlapping runs, a held lock, SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from bulk import add_bulk_contacts
from conftest import ON_POSTGRES, crmctl_executable
from crashkit import FLOW, wait_for_pause
from flowkit import write_flow

WAITING = """
    name: waiting
    match: 'plan == "trial"'
    steps:
      - id: pause
        wait: 1d
      - note: "after the wait"
"""


@pytest.fixture
def bulk_db(db):
    add_bulk_contacts(db, 6000)
    return db


def start(*args, env=None):
    return subprocess.Popen(
        [crmctl_executable(), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=env is None,  # a paused process's stderr is read as bytes (crashkit.wait_for_pause)
        env={**os.environ, **env} if env else None,
    )


def test_overlapping_runs_of_one_flow_are_serialised(bulk_db, tmp_path):
    flow = write_flow(tmp_path, FLOW)
    runs = [start("flow", "run", flow, "--format", "json", "--lock-timeout", "60") for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in runs]
    assert [p.returncode for p in runs] == [0, 0, 0], [o[1] for o in outputs]
    matched = sorted(json.loads(out)["matched"] for out, _ in outputs)
    assert matched == [0, 0, 3000]
    per_contact = bulk_db.execute(
        "SELECT max(n), count(*) FROM (SELECT count(*) AS n FROM notes GROUP BY contact_id) AS x"
    )
    assert per_contact.fetchone() == (1, 3000)


def test_overlapping_runs_while_contacts_are_due(bulk_db, tmp_path, monkeypatch):
    flow = write_flow(tmp_path, WAITING)
    subprocess.run([crmctl_executable(), "flow", "run", flow, "-q"], check=True)
    monkeypatch.setenv("CRMCTL_NOW", "2026-11-03T00:00:00Z")
    runs = [start("flow", "run", flow, "--format", "json") for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in runs]
    assert [p.returncode for p in runs] == [0, 0, 0]
    assert sorted(json.loads(out)["resumed"] for out, _ in outputs) == [0, 0, 3000]
    assert bulk_db.execute("SELECT count(*), count(DISTINCT contact_id) FROM notes").fetchone() == (3000, 3000)


# Holds the write lock until its stdin is closed (the test kills it).
HOLDER = textwrap.dedent("""
    import sys
    from crmctl.store import open_db, resolve_path, transaction
    db = open_db(resolve_path(sys.argv[1]))
    with transaction(db):
        print("holding", flush=True)
        sys.stdin.read()
""")


def test_lock_timeout_names_the_holder(bulk_db, tmp_path, isolated_db):
    flow = write_flow(tmp_path, FLOW)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(isolated_db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "holding\n"
        result = subprocess.run(
            [crmctl_executable(), "flow", "run", flow, "--lock-timeout", "0.3"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 75  # EX_TEMPFAIL: cron may retry
    if ON_POSTGRES:  # the session's application_name (crmctl … PID@HOST), server pid and host
        assert result.stderr.startswith("Error: big: the database is locked (held by crmctl ")
        assert f" {holder.pid}@" in result.stderr
    else:
        assert result.stderr.startswith(f"Error: big: the database is locked (held by pid {holder.pid} (crmctl ")
    assert result.stderr.endswith("); gave up waiting after 0.3 s\n")
    assert bulk_db.execute("SELECT count(*) FROM notes").fetchone()[0] == 0


FOREIGN_HOLDER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("holding", flush=True)
    sys.stdin.read()
""")


@pytest.mark.sqlite_only(reason="another program holding SQLite's file lock")
def test_a_lock_held_by_another_program_names_it_too(bulk_db, tmp_path, isolated_db):
    """No crmctl holder record (say, an sqlite3 shell): the kernel's lock table names the process."""
    flow = write_flow(tmp_path, FLOW)
    holder = subprocess.Popen(
        [sys.executable, "-c", FOREIGN_HOLDER, str(isolated_db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "holding\n"
        result = subprocess.run(
            [crmctl_executable(), "flow", "run", flow, "--lock-timeout", "0.3"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 75
    assert result.stderr.startswith(f"Error: big: the database is locked (held by pid {holder.pid} (python")
    assert result.stderr.endswith(", with no crmctl holder record)); gave up waiting after 0.3 s\n")


def effects(db) -> tuple:
    return (
        db.execute("SELECT count(*) FROM notes").fetchone()[0],
        db.execute("SELECT count(*) FROM contact_tags").fetchone()[0],
        db.execute(
            "SELECT count(*) FROM property_values AS v JOIN properties AS p ON p.id = v.property_id "
            "WHERE p.name = 'stage'"
        ).fetchone()[0],
        db.execute("SELECT count(*) FROM flow_enrolments").fetchone()[0],
        db.execute("SELECT count(*) FROM audit").fetchone()[0],
    )


def test_sigkill_mid_run_leaves_all_or_nothing(bulk_db, tmp_path, isolated_db):
    from crmctl.store import open_db

    flow = write_flow(tmp_path, FLOW)
    before = effects(bulk_db)
    # Killed mid-run (after the notes, before the tags of the branch), then after the commit.
    for point, present in (("action:note", False), ("transaction:committed", True)):
        proc = start("flow", "run", flow, "-q", env={"CRMCTL_TEST_PAUSE_AT": point})
        wait_for_pause(proc, point)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        fresh = open_db(isolated_db)
        if not ON_POSTGRES:
            assert fresh.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert fresh.execute("PRAGMA foreign_key_check").fetchall() == []
        now = effects(fresh)
        fresh.close()
        if not present:
            assert now == before
        else:
            assert now[0] == 3000 and now[3] == 3000 and now[2] == 3000
