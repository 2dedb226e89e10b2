"""SIGKILL mid-command: shared by tests/test_crash.py and benchmarks/stress_crash.py.

A scenario is one crmctl command over a copy of a template database. A reference run,
uninterrupted, gives the database after it (and how long it takes). Each trial copies the
template, starts the command and kills it with SIGKILL, then checks the file:
integrity_check is ok, foreign_key_check is empty, and the contents are exactly the
template's (absent) or exactly the reference's (present). Nothing in between.

Where the kill lands:
- `kill_at(point)`: exactly at a named point inside the command (the test-only hook
  CRMCTL_TEST_PAUSE_AT, crmctl/testhook.py), so the outcome is known in advance. The tests
  use these: nothing races a timer.
- `kill_once(moment)`: at a random moment — anywhere in the process's life, inside its write
  transaction (after the lock-holder file appears), or late in that transaction — also
  mid-statement, where no pause point can be. Only the stress script uses these.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import selectors
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

NOW = "2026-11-01T12:00:00Z"

FLOW = """
    name: big
    match: 'plan == "trial"'
    steps:
      - tag_add: churned
      - note: "hello {{ contact.name }}"
      - set: {stage: one}
      - if: 'score > 50'
        then: [{tag_add: vip}]
        else: [{tag_add: winback}]
"""

SCENARIOS = {
    "flow run": ["flow", "run", "{dir}/big.yaml", "-q"],
    "contact import": ["contact", "import", "{dir}/incoming.ndjson", "-q"],
    "delete": ["delete", "-w", 'plan == "trial"', "--yes", "--suppress", "-q"],
}


def crmctl() -> str:
    found = shutil.which("crmctl", path=str(Path(sys.executable).parent)) or shutil.which("crmctl")
    assert found, "the crmctl console script is not installed"
    return found


def build_template(directory: Path, contacts: int = 4000) -> Path:
    """Contacts with data points, tags, notes, conversations and messages; a flow; an import file
    that inserts as many new contacts as it updates old ones."""
    from bulk import add_bulk_contacts

    from crmctl.store import open_db

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "template.db"
    db = open_db(path, create=True)
    add_bulk_contacts(db, contacts)
    for sql in (
        "INSERT INTO notes(contact_id, body, author, created_at) SELECT id, 'note for ' || name, 'seed', "
        "'2025-01-01T00:00:00Z' FROM contacts",
        "INSERT INTO conversations(contact_id, subject, created_at) SELECT id, 'subject ' || id, '2025-01-01T00:00:00Z' "
        "FROM contacts",
        "INSERT INTO messages(conversation_id, body, sender, sent_at) SELECT id, 'message ' || id, 'contact', "
        "'2025-01-01T00:00:00Z' FROM conversations",
        "INSERT INTO contact_tags(tag_id, contact_id, added_at) SELECT 1, id, '2025-01-01T00:00:00Z' FROM contacts "
        "WHERE id % 5 = 0",
    ):
        db.execute(sql)
    db.conn.commit()
    db.close()  # the last connection: checkpointed, the WAL removed
    (directory / "big.yaml").write_text(textwrap.dedent(FLOW).lstrip())
    with open(directory / "incoming.ndjson", "w") as out:
        for i in range(1, contacts // 2 + 1):
            email = f"user{i}@bulk.example" if i % 2 else f"new{i}@import.example"
            out.write(
                json.dumps(
                    {
                        "email": email,
                        "name": f"Imported {i}",
                        "plan": "imported",
                        "tags": ["imported"],
                        "conversations": [
                            {
                                "subject": "import",
                                "messages": [{"body": f"imported message {i}", "sent_at": "2026-01-01T00:00:00Z"}],
                            }
                        ],
                    }
                )
                + "\n"
            )
    return path


def fingerprint(path: Path) -> dict[str, str]:
    """A digest of every table's rows; what differs between identical runs (a run's duration,
    a pending-erasure mark) is left out."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        result = {}
        for table in tables:
            cursor = conn.execute(f"SELECT * FROM [{table}]")
            columns = [d[0] for d in cursor.description]
            rows = []
            for row in cursor:
                record = dict(zip(columns, row, strict=True))
                if table == "flow_runs":
                    record.pop("duration_ms")
                if table == "meta" and record["key"] == "erase_pending":
                    continue
                rows.append(repr(sorted(record.items())))
            result[table] = hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()
        return result
    finally:
        conn.close()


def health(path: Path) -> tuple[str, list]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0], conn.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        conn.close()


@dataclass
class Reference:
    args: list[str]
    before: dict[str, str]
    after: dict[str, str]
    start_s: float  # seconds from launch until the write transaction began
    end_s: float  # seconds from launch until the process exited


def fresh_copy(template: Path, target: Path) -> Path:
    for suffix in ("", "-wal", "-shm", "-holder"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, target)
    os.chmod(target, 0o600)
    return target


def launch(args: list[str], db: Path, *, pause_at: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "CRMCTL_DB": str(db), "CRMCTL_NOW": NOW}
    env.pop("CRMCTL_TEST_PAUSE_AT", None)
    if pause_at:
        env["CRMCTL_TEST_PAUSE_AT"] = pause_at
    return subprocess.Popen([crmctl(), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_pause(proc: subprocess.Popen, point: str, limit: float = 120) -> str:
    """Wait until `proc` says it paused at `point`; its stderr so far. Fails when the process
    ends (or `limit` seconds pass) without reaching it."""
    marker = f"crmctl: paused at {point}\n".encode()
    seen = b""
    end = time.monotonic() + limit
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while marker not in seen:
            left = end - time.monotonic()
            assert left > 0 and selector.select(left), f"{point}: not reached in {limit:g} s"
            chunk = os.read(proc.stderr.fileno(), 65536)
            assert chunk, f"{point}: never reached; the command ended: {seen.decode(errors='replace')}"
            seen += chunk
    return seen.decode(errors="replace")


def wait_for_holder(proc: subprocess.Popen, db: Path, limit: float) -> bool:
    holder = Path(f"{db}-holder")
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if holder.exists():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    return False


def reference(name: str, template: Path, workdir: Path) -> Reference:
    args = [a.format(dir=template.parent) for a in SCENARIOS[name]]
    db = fresh_copy(template, workdir / "reference.db")
    began = time.monotonic()
    proc = launch(args, db)
    assert wait_for_holder(proc, db, 60), f"{name}: the write transaction never began"
    start_s = time.monotonic() - began
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"{name}: {err.decode()}"
    end_s = time.monotonic() - began
    before, after = fingerprint(template), fingerprint(db)
    assert before != after
    return Reference(args, before, after, start_s, end_s)


# Where each scenario is killed, with the outcome that must follow: before the commit the
# command's effects are wholly absent, after it wholly present.
POINTS = {
    "flow run": ["transaction:begin", "action:tag_add", "action:note", "transaction:commit", "transaction:committed"],
    "contact import": ["transaction:begin", "import:contacts", "transaction:commit", "transaction:committed"],
    "delete": ["transaction:begin", "action:delete", "transaction:commit", "transaction:committed"],
}


def expected_outcome(point: str) -> str:
    return "present" if point == "transaction:committed" else "absent"


def kill_at(ref: Reference, template: Path, workdir: Path, point: str) -> str:
    """One trial, killed when the command pauses at `point`. Returns 'absent' or 'present'.
    Raises AssertionError when the point is not reached, or the file is damaged or half-changed."""
    db = fresh_copy(template, workdir / "trial.db")
    proc = launch(ref.args, db, pause_at=point)
    try:
        wait_for_pause(proc, point)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.returncode
    return outcome_of(ref, db)


def outcome_of(ref: Reference, db: Path) -> str:
    """'absent' or 'present', after checking the killed command's database."""
    integrity, orphans = health(db)
    assert integrity == "ok", f"integrity_check after a kill: {integrity}"
    assert orphans == [], f"foreign_key_check after a kill: {orphans[:5]}"
    now = fingerprint(db)
    if now == ref.before:
        return "absent"
    changed = sorted(t for t in now if now[t] != ref.after.get(t))
    assert now == ref.after, f"half-done after a kill: tables {changed} are neither before nor after"
    return "present"


MOMENTS = ("any", "transaction", "late")


def kill_once(ref: Reference, template: Path, workdir: Path, rng: random.Random, *, moment: str) -> str:
    """One trial, killed at a random moment of its whole life ('any'), of its write transaction
    ('transaction'), or of the last third of that, where the writing happens ('late').
    Returns 'absent' or 'present' after a kill, 'finished' if the command ended first.
    Raises AssertionError when the file is damaged or half-changed."""
    db = fresh_copy(template, workdir / "trial.db")
    proc = launch(ref.args, db)
    if moment == "any":
        time.sleep(rng.uniform(0, ref.end_s))
    else:
        wait_for_holder(proc, db, 60)
        span = max(ref.end_s - ref.start_s, 0.01)
        time.sleep(rng.uniform(span * 2 / 3 if moment == "late" else 0, span))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    finished = proc.returncode == 0
    assert finished or proc.returncode == -signal.SIGKILL, proc.returncode
    outcome = outcome_of(ref, db)
    return "finished" if finished else outcome
