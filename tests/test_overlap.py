"""Overlap: several crmctl processes at once — the same flow, different flows, actions, reads,
an import, a backup — queue on the write lock instead of failing, and each contact goes
through each flow once. (Same-flow runs alone, due contacts and the lock-holder message are in
test_flow_processes.)"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from bulk import add_bulk_contacts
from conftest import ON_POSTGRES, crmctl_executable
from flowkit import write_flow
from test_flow_processes import FLOW

from crmctl.store import open_db

OTHER_FLOW = """
    name: scoring
    match: 'score > 50'
    steps:
      - note: "score {{ contact.score }}"
      - set: {band: high}
"""


def start(*args, stdin=None):
    return subprocess.Popen(
        [crmctl_executable(), *map(str, args)], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def bulk_db(db):
    add_bulk_contacts(db, 6000)
    return db


def test_flows_actions_reads_and_an_import_overlap_without_lock_errors(bulk_db, tmp_path):
    big, scoring = write_flow(tmp_path, FLOW, "big.yaml"), write_flow(tmp_path, OTHER_FLOW, "scoring.yaml")
    incoming = tmp_path / "incoming.ndjson"
    incoming.write_text(
        "".join(json.dumps({"email": f"new{i}@import.example", "plan": "imported"}) + "\n" for i in range(200))
    )
    commands = {
        "big 1": ["flow", "run", big, "--format", "json"],
        "big 2": ["flow", "run", big, "--format", "json"],
        "scoring": ["flow", "run", scoring, "--format", "json"],
        "both": ["flow", "run", scoring, big, "--format", "json"],
        "tag add": ["tag", "add", "at-risk", "-w", "score < 10", "-q"],
        "note": ["note", "checked", "-w", "score >= 95", "-q"],
        "import": ["contact", "import", incoming, "-q"],
        "list": ["contact", "list", "--format", "ndjson"],
        "count": ["contact", "count", "-w", 'plan == "trial"'],
        "check": ["db", "check", "-q"],
        "backup": ["db", "backup", tmp_path / "copy.db", "-q"],
    }
    if ON_POSTGRES:
        del commands["backup"]  # pg_dump's job
    procs = {name: start(*args) for name, args in commands.items()}
    done = {name: proc.communicate(timeout=120) for name, proc in procs.items()}
    failures = {name: done[name][1] for name, proc in procs.items() if proc.returncode != 0}
    assert failures == {}
    assert not any("locked" in err for _, err in done.values())

    flow_reports = [json.loads(line) for name in ("big 1", "big 2", "both") for line in done[name][0].splitlines()]
    matched = {
        flow: sorted(r["matched"] for r in flow_reports + [json.loads(done["scoring"][0])] if r["flow"] == flow)
        for flow in ("big", "scoring")
    }
    assert matched["big"] == [0, 0, 3000]
    assert matched["scoring"] == [0, 2940]  # score 51..99 of the 6000 bulk contacts
    db = bulk_db
    assert db.execute(
        "SELECT flow, count(*), count(DISTINCT contact_id) FROM flow_enrolments GROUP BY flow ORDER BY flow"
    ).fetchall() == [("big", 3000, 3000), ("scoring", 2940, 2940)]
    assert (
        db.execute(
            "SELECT count(*) FROM (SELECT contact_id, body FROM notes GROUP BY contact_id, body HAVING count(*) > 1) AS x"
        ).fetchone()[0]
        == 0
    )  # no note twice
    assert db.execute("SELECT count(*) FROM notes WHERE body LIKE 'hello %'").fetchone()[0] == 3000
    assert db.execute("SELECT count(*) FROM notes WHERE body = 'checked'").fetchone()[0] == 300
    assert db.execute("SELECT count(*) FROM contacts").fetchone()[0] == 6200
    assert done["count"][0] == "3000\n"
    listed = [json.loads(line) for line in done["list"][0].splitlines()]
    assert len(listed) in (6000, 6200)  # one snapshot: before or after the import, never half of it
    if ON_POSTGRES:
        return
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# Holds the write lock until its stdin is closed: longer than any reader's lock timeout (30 s)
# if a reader waits for it, so a reader that waits fails instead of finishing late.
RAW_HOLDER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE contacts SET name = name || '!'")
    print("holding", flush=True)
    sys.stdin.read()
""")
# PostgreSQL: the write lock is crmctl's advisory lock; the holder also keeps every contact row locked.
PG_HOLDER = textwrap.dedent("""
    import sys
    from crmctl.store import open_db, resolve_path, transaction
    db = open_db(resolve_path(sys.argv[1]))
    with transaction(db):
        db.execute("UPDATE contacts SET name = name || '!'")
        print("holding", flush=True)
        sys.stdin.read()
""")


def test_reads_and_opening_never_wait_for_the_write_lock(bulk_db, isolated_db, tmp_path):
    if not ON_POSTGRES:
        # A pending erasure, which every opening process tries to finish: it must not wait for that either.
        bulk_db.execute("INSERT INTO meta(key, value) VALUES ('erase_pending', '1')")
        bulk_db.conn.commit()
    flow = write_flow(tmp_path, FLOW)
    holding = PG_HOLDER if ON_POSTGRES else RAW_HOLDER
    holder = subprocess.Popen(
        [sys.executable, "-c", holding, str(isolated_db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "holding\n"
        procs = [
            start("contact", "count"),
            start("contact", "list", "--format", "ndjson", "--limit", "2"),
            start("db", "check"),
            *([] if ON_POSTGRES else [start("db", "backup", tmp_path / "copy.db")]),
            start("flow", "validate", flow),
            start("log", "--limit", "1"),
        ]
        results = [(p.args[1:], p.wait(timeout=120), p.stderr.read()) for p in procs]
        assert holder.poll() is None  # still holding the lock: nobody got it by waiting
    finally:
        holder.kill()
        holder.wait()
    # Only `db check` fails: it reports the erasure still pending (the writer kept it so).
    # Any reader that waited for the lock would have given up after 30 s with exit 1 too.
    if ON_POSTGRES:  # no erasure is ever pending: deleted rows are vacuumed after the commit
        assert [(r[0], r[1], r[2]) for r in results if r[1] != 0] == []
        return
    assert [(r[0], r[1]) for r in results if r[1] != 0] == [(["db", "check"], 1)]
    assert "an erasure is pending" in results[2][2]


DOWNGRADE = """
    DROP TABLE suppressions;
    DELETE FROM meta WHERE key = 'suppression_key';
    DELETE FROM _sqlite_migrations WHERE name = 'm003_suppressions';
"""


@pytest.mark.sqlite_only(reason="downgrades an SQLite file by hand")
def test_processes_opening_an_old_database_at_once_migrate_it_once(isolated_db):
    for _ in range(2):  # the race is lost in most rounds without the lock
        isolated_db.unlink(missing_ok=True)
        with open_db(isolated_db, create=True) as db:
            db.conn.executescript(textwrap.dedent(DOWNGRADE))
        procs = [start("contact", "count") for _ in range(5)]
        results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
        assert results == [(0, "")] * 5
        with sqlite3.connect(isolated_db) as db:
            assert db.execute("SELECT count(*) FROM meta WHERE key = 'suppression_key'").fetchone()[0] == 1


# Writes one note command after another: at least MIN of them, and on until its stdin is closed.
WRITER = textwrap.dedent("""
    import select, sys
    from pathlib import Path
    from crmctl import actions, selection
    from crmctl.store import open_db, transaction
    db = open_db(Path(sys.argv[1]))
    n = 0
    while n < int(sys.argv[2]) or not select.select([sys.stdin], [], [], 0)[0]:
        with transaction(db):
            spec = selection.SelectionSpec(where=[f"score == {n % 100}"])
            actions.note(db, selection.resolve(db, spec).scope, f"pass {n}", actions.Context("writer", "2026-11-01T12:00:00Z"))
        n += 1
        if n == 1:
            print("writing", flush=True)
    print(n)
""")


@pytest.mark.sqlite_only(reason="db backup is SQLite's (pg_dump for PostgreSQL)")
def test_backup_while_others_write_is_a_consistent_copy(db, isolated_db, tmp_path):
    add_bulk_contacts(db, 12000)  # over 1024 pages: more than one backup step's worth, if it took steps
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(isolated_db), "10"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    copies = []
    try:
        assert [w.stdout.readline() for w in writers] == ["writing\n"] * 2
        for number in range(2):
            copy = tmp_path / f"copy{number}.db"
            result = subprocess.run(
                [crmctl_executable(), "db", "backup", copy, "-q"], capture_output=True, text=True, timeout=60
            )
            assert (result.returncode, result.stderr) == (0, "")
            copies.append(copy)
    finally:
        commits = [int(w.communicate(timeout=120)[0]) for w in writers]  # closes stdin: they stop
    assert min(commits) >= 10
    for copy in copies:
        with sqlite3.connect(copy) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
            # Every note command is one transaction with one audit entry counting its notes.
            notes, audited = conn.execute(
                "SELECT (SELECT count(*) FROM notes), (SELECT coalesce(sum(contacts), 0) FROM audit "
                "WHERE action = 'note')"
            ).fetchone()
            assert notes == audited and notes > 0
        result = subprocess.run([crmctl_executable(), "--db", copy, "db", "check"], capture_output=True, text=True)
        assert (result.returncode, result.stderr) == (0, "ok: integrity and foreign keys checked\n")
