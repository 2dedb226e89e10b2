"""SQL for flow runs, definitions and enrolments (where each contact stands in a flow)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from crmctl.store.pg import is_postgres
from crmctl.store.scopes import _checked
from crmctl.store.script import insert_returning_id

if TYPE_CHECKING:
    from sqlite_utils import Database


def _join(db: Database) -> str:
    """SQLite's CROSS JOIN keeps the scope (a temp table without statistics) first; PostgreSQL
    plans the order itself and takes no ON after CROSS JOIN."""
    return "JOIN" if is_postgres(db) else "CROSS JOIN"


def _json(value: Any, empty: str) -> Any:
    """A JSON text column's value (a jsonb one would arrive decoded)."""
    return json.loads(value or empty) if value is None or isinstance(value, str) else value


def remember_definition(db: Database, flow: str, digest: str, text: str, now: str) -> None:
    db.execute(
        "INSERT OR IGNORE INTO flow_definitions(digest, flow, text, first_seen) VALUES (?, ?, ?, ?)",
        [digest, flow, text, now],
    )


def checked_flow(db: Database, text_sha256: str, checker: str) -> tuple[str, str] | None:
    """(digest, structure JSON) of a text this checker passed before, or None."""
    return db.execute(
        "SELECT digest, structure FROM flow_checked WHERE text_sha256 = ? AND checker = ?", [text_sha256, checker]
    ).fetchone()


def remember_checked(
    db: Database, text_sha256: str, checker: str, flow: str, digest: str, structure: str, now: str
) -> None:
    """Keep this text as the flow's checked one, replacing any earlier text of the same flow."""
    db.execute(
        "DELETE FROM flow_checked WHERE flow = ? AND NOT (text_sha256 = ? AND checker = ?)",
        [flow, text_sha256, checker],
    )
    db.execute(
        "INSERT OR IGNORE INTO flow_checked(text_sha256, checker, flow, digest, structure, checked_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [text_sha256, checker, flow, digest, structure, now],
    )


def start_run(db: Database, flow: str, digest: str, source: str, now: str, dry_run: bool) -> int:
    return insert_returning_id(
        db,
        "INSERT INTO flow_runs(flow, digest, source, started_at, dry_run, status) VALUES (?, ?, ?, ?, ?, 'running')",
        [flow, digest, source, now, int(dry_run)],
    )


def finish_run(db: Database, run_id: int, summary: dict, duration_ms: int) -> None:
    db.execute(
        "UPDATE flow_runs SET status = ?, matched = ?, resumed = ?, parked = ?, exited = ?, completed = ?, "
        "changed = ?, steps = ?, error = ?, duration_ms = ? WHERE id = ?",
        [
            summary["status"],
            summary.get("matched", 0),
            summary.get("resumed", 0),
            summary.get("parked", 0),
            summary.get("exited", 0),
            summary.get("completed", 0),
            json.dumps(summary.get("changed", {})),
            json.dumps(summary.get("steps", [])),
            summary.get("error"),
            duration_ms,
            run_id,
        ],
    )


def record_unfinished_run(
    db: Database, flow: str, digest: str, source: str, now: str, status: str, error: str, duration_ms: int
) -> int:
    """A run that failed or was refused: its own row, written after the run's rollback."""
    return insert_returning_id(
        db,
        "INSERT INTO flow_runs(flow, digest, source, started_at, duration_ms, dry_run, status, changed, steps, error) "
        "VALUES (?, ?, ?, ?, ?, 0, ?, '{}', '[]', ?)",
        [flow, digest, source, now, duration_ms, status, error],
    )


def last_source(db: Database, flow: str) -> str | None:
    """The file the flow's latest recorded run came from."""
    row = db.execute("SELECT source FROM flow_runs WHERE flow = ? ORDER BY id DESC LIMIT 1", [flow]).fetchone()
    return row[0] if row else None


# A run changed nothing when it enrolled, moved and ended no contact and no action changed one.
_DID_SOMETHING = (
    "(status != 'ok' OR matched + resumed + exited + parked + completed > 0 "
    "OR EXISTS (SELECT 1 FROM json_each(flow_runs.changed) WHERE value > 0))"
)
_DID_SOMETHING_PG = (
    "(status != 'ok' OR matched + resumed + exited + parked + completed > 0 "
    "OR EXISTS (SELECT 1 FROM jsonb_each(flow_runs.changed::jsonb) AS j WHERE (j.value)::numeric > 0))"
)


def runs(db: Database, flow: str | None, limit: int | None, *, include_noop: bool = True) -> Iterator[dict]:
    sql = (
        "SELECT id, flow, started_at, duration_ms, dry_run, status, matched, resumed, parked, exited, "
        "completed, changed, steps, error FROM flow_runs"
    )
    tests: list[str] = []
    params: list = []
    if flow:
        tests.append("flow = ?")
        params.append(flow)
    if not include_noop:
        tests.append(_DID_SOMETHING_PG if is_postgres(db) else _DID_SOMETHING)
    if tests:
        sql += " WHERE " + " AND ".join(tests)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    for row in db.execute(sql, params):
        yield {
            "run_id": row[0],
            "flow": row[1],
            "started_at": row[2],
            "duration_ms": row[3],
            "dry_run": bool(row[4]),
            "status": row[5],
            "matched": row[6],
            "resumed": row[7],
            "parked": row[8],
            "exited": row[9],
            "completed": row[10],
            "changed": _json(row[11], "{}"),
            "steps": _json(row[12], "[]"),
            "error": row[13],
        }


def last_run_steps(db: Database, flow: str) -> list[dict]:
    row = db.execute(
        "SELECT steps FROM flow_runs WHERE flow = ? AND status = 'ok' ORDER BY id DESC LIMIT 1", [flow]
    ).fetchone()
    return _json(row[0], "[]") if row else []


# Enrolments -------------------------------------------------------------------------------


def candidates(
    db: Database,
    target: str,
    flow: str,
    condition_sql: str,
    params: Sequence,
    *,
    include_blocked: bool,
    reentry: bool | int,
    cutoff: str | None,
    run_id: int,
    ids: tuple | None = None,
) -> None:
    """target := contacts matching the condition that the flow may enrol now.

    Never a contact in progress, nor one this same run already moved (no second pass
    in one run, whatever `reentry` says). With `ids` (the condition as a SELECT of ids from
    the indexes) the enrolled are taken away as a set first, and only the contacts left are
    read: a second run of a finished flow reads none.
    """
    blocked = "" if include_blocked else "AND c.blocked_at IS NULL"
    extra: list[Any]
    if reentry is False:
        history, extra = "", []
    elif reentry is True:
        history, extra = "AND (e.state = 'active' OR e.run_id = ?)", [run_id]
    else:
        history, extra = "AND (e.state = 'active' OR e.run_id = ? OR e.finished_at > ?)", [run_id, cutoff]
    if ids is not None:
        ids_sql, ids_params = ids
        db.execute(
            f"INSERT INTO temp.{_checked(target)}(id) SELECT c.id FROM (SELECT * FROM ({ids_sql}) AS i "
            f"EXCEPT SELECT e.contact_id FROM flow_enrolments AS e WHERE e.flow = ? {history}) AS x "
            f"{_join(db)} contacts AS c ON c.id = x.contact_id WHERE true {blocked} ORDER BY c.id",
            [*ids_params, flow, *extra],
        )
        return
    db.execute(
        f"INSERT INTO temp.{_checked(target)}(id) SELECT c.id FROM contacts AS c "
        f"WHERE ({condition_sql}) {blocked} AND NOT EXISTS (SELECT 1 FROM flow_enrolments AS e "
        f"WHERE e.flow = ? AND e.contact_id = c.id {history}) ORDER BY c.id",
        [*params, flow, *extra],
    )


def enter(
    db: Database,
    scope: str,
    flow: str,
    digest: str,
    now: str,
    run_id: int,
    *,
    state: str,
    position: str | None = None,
    due_at: str | None = None,
) -> None:
    """Enrolments of contacts this run enrolled, written where they ended up: parked at a wait
    (`active`, with position and due time) or `completed`. A finished enrolment from an
    earlier run (re-entry) is replaced."""
    finished_at = None if state == "active" else now
    db.execute(
        "INSERT INTO flow_enrolments(flow, contact_id, state, position, due_at, digest, entered_at, finished_at, "
        f"run_id) SELECT ?, id, ?, ?, ?, ?, ?, ?, ? FROM temp.{_checked(scope)} WHERE true "
        "ON CONFLICT(flow, contact_id) DO UPDATE SET state = excluded.state, position = excluded.position, "
        "due_at = excluded.due_at, digest = excluded.digest, entered_at = excluded.entered_at, "
        "finished_at = excluded.finished_at, run_id = excluded.run_id",
        [flow, state, position, due_at, digest, now, finished_at, run_id],
    )


def park(db: Database, scope: str, flow: str, position: str, due_at: str, digest: str, run_id: int) -> None:
    db.execute(
        "UPDATE flow_enrolments SET position = ?, due_at = ?, digest = ?, run_id = ? "
        f"WHERE flow = ? AND contact_id IN (SELECT id FROM temp.{_checked(scope)})",
        [position, due_at, digest, run_id, flow],
    )


def finish(db: Database, scope: str, flow: str, state: str, now: str, run_id: int) -> None:
    db.execute(
        "UPDATE flow_enrolments SET state = ?, position = NULL, due_at = NULL, finished_at = ?, run_id = ? "
        f"WHERE flow = ? AND contact_id IN (SELECT id FROM temp.{_checked(scope)})",
        [state, now, run_id, flow],
    )


def exiting(db: Database, target: str, flow: str, condition_sql: str, params: Sequence) -> None:
    db.execute(
        f"INSERT INTO temp.{_checked(target)}(id) SELECT e.contact_id FROM flow_enrolments AS e "
        f"JOIN contacts AS c ON c.id = e.contact_id WHERE e.flow = ? AND e.state = 'active' AND ({condition_sql})",
        [flow, *params],
    )


def parked_at(db: Database, target: str, flow: str, positions: Sequence[str]) -> None:
    marks = ",".join("?" * len(positions))
    db.execute(
        f"INSERT INTO temp.{_checked(target)}(id) SELECT contact_id FROM flow_enrolments "
        f"WHERE flow = ? AND state = 'active' AND position IN ({marks})",
        [flow, *positions],
    )


def due(db: Database, target: str, flow: str, position: str, now: str, *, include_blocked: bool) -> None:
    blocked = (
        ""
        if include_blocked
        else ("AND NOT EXISTS (SELECT 1 FROM contacts AS c WHERE c.id = e.contact_id AND c.blocked_at IS NOT NULL)")
    )
    db.execute(
        f"INSERT INTO temp.{_checked(target)}(id) SELECT e.contact_id FROM flow_enrolments AS e "
        f"WHERE e.flow = ? AND e.state = 'active' AND e.position = ? AND e.due_at <= ? {blocked} "
        "ORDER BY e.contact_id",
        [flow, position, now],
    )


def positions(db: Database, flow: str) -> list[tuple[str, int, str, str]]:
    """(position, contacts, earliest due, latest due) of the active enrolments."""
    return db.execute(
        "SELECT position, count(*), min(due_at), max(due_at) FROM flow_enrolments "
        "WHERE flow = ? AND state = 'active' GROUP BY position ORDER BY position",
        [flow],
    ).fetchall()


def known(db: Database, flow: str) -> bool:
    """Has this flow ever run (or left enrolments) in this database?"""
    return bool(
        db.execute("SELECT 1 FROM flow_runs WHERE flow = ? LIMIT 1", [flow]).fetchone()
        or db.execute("SELECT 1 FROM flow_enrolments WHERE flow = ? LIMIT 1", [flow]).fetchone()
    )


def state_counts(db: Database, flow: str) -> dict[str, int]:
    rows = db.execute("SELECT state, count(*) FROM flow_enrolments WHERE flow = ? GROUP BY state", [flow])
    counts = {"active": 0, "completed": 0, "exited": 0}
    counts.update(dict(rows.fetchall()))
    return counts


def record_branch(db: Database, scope: str, flow: str, step: str, branch: str, run_id: int | None) -> None:
    """The branch the contacts of scope took at split `step` (replacing an earlier enrolment's)."""
    db.execute(
        "INSERT INTO flow_branches(flow, step, contact_id, branch, run_id) "
        f"SELECT ?, ?, id, ?, ? FROM temp.{_checked(scope)} WHERE true "
        "ON CONFLICT(flow, step, contact_id) DO UPDATE SET branch = excluded.branch, run_id = excluded.run_id",
        [flow, step, branch, run_id],
    )


def branch_counts(db: Database, flow: str) -> list[tuple[str, str, int]]:
    """(split step, branch, contacts) for the flow."""
    return db.execute(
        "SELECT step, branch, count(*) FROM flow_branches WHERE flow = ? GROUP BY step, branch ORDER BY step, branch",
        [flow],
    ).fetchall()


SPLIT_FUNCTION = "crmctl_split_bucket"


def register_split_bucket(db: Database) -> None:
    """`crmctl_split_bucket(seed, contact_id)`: 0..99, the first 8 bytes of
    sha256("SEED\x1fCONTACT_ID") as an unsigned big-endian number, modulo 100. Deterministic, so
    the same contact always lands in the same bucket of the same split. (PostgreSQL: the schema
    defines the same function in SQL.)"""
    import hashlib

    if is_postgres(db):
        return

    def bucket(seed: str, contact_id: int) -> int:
        digest = hashlib.sha256(f"{seed}\x1f{contact_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % 100

    db.conn.create_function(SPLIT_FUNCTION, 2, bucket, deterministic=True)


def fill_buckets(db: Database, scope: str, target: str, seed: str) -> None:
    """target (id, bucket) := each contact of scope with its split bucket."""
    target = _checked(target)
    db.execute(f"DROP TABLE IF EXISTS temp.{target}")
    db.execute(f"CREATE TEMP TABLE {target} (id INTEGER PRIMARY KEY, bucket INTEGER NOT NULL)")
    db.execute(
        f"INSERT INTO temp.{target}(id, bucket) SELECT id, {SPLIT_FUNCTION}(?, id) FROM temp.{_checked(scope)}",
        [seed],
    )


def take_buckets(db: Database, buckets: str, target: str, low: int, high: int) -> None:
    """target := the ids whose bucket is in [low, high)."""
    db.execute(
        f"INSERT INTO temp.{_checked(target)}(id) SELECT id FROM temp.{_checked(buckets)} "
        "WHERE bucket >= ? AND bucket < ?",
        [low, high],
    )


# Finding flows ------------------------------------------------------------------------------


def listing(db: Database, now: str) -> Iterator[dict]:
    """Every flow the database knows (from its runs or enrolments), by name."""
    rows = db.execute(
        """
        WITH names(flow) AS (
            SELECT DISTINCT flow FROM flow_runs UNION SELECT DISTINCT flow FROM flow_enrolments
        ),
        states AS (
            SELECT flow,
                count(*) FILTER (WHERE state = 'active') AS active,
                count(*) FILTER (WHERE state = 'active' AND due_at > ?) AS parked,
                count(*) FILTER (WHERE state = 'completed') AS completed,
                count(*) FILTER (WHERE state = 'exited') AS exited
            FROM flow_enrolments GROUP BY flow
        )
        SELECT n.flow,
            (SELECT source FROM flow_runs AS r WHERE r.flow = n.flow ORDER BY r.id DESC LIMIT 1),
            (SELECT started_at FROM flow_runs AS r WHERE r.flow = n.flow ORDER BY r.id DESC LIMIT 1),
            (SELECT status FROM flow_runs AS r WHERE r.flow = n.flow ORDER BY r.id DESC LIMIT 1),
            (SELECT count(*) FROM flow_runs AS r WHERE r.flow = n.flow),
            coalesce(s.active, 0), coalesce(s.parked, 0), coalesce(s.completed, 0), coalesce(s.exited, 0)
        FROM names AS n LEFT JOIN states AS s ON s.flow = n.flow
        ORDER BY n.flow
        """,
        [now],
    )
    for flow, source, last_run, status, count, active, parked, completed, exited in rows:
        yield {
            "flow": flow,
            "source": source,
            "last_run_at": last_run,
            "last_status": status,
            "runs": count,
            "in_progress": active,
            "parked": parked,
            "completed": completed,
            "exited": exited,
        }


def stored_definition(db: Database, flow: str) -> tuple[str, str | None] | None:
    """(text, source) of the definition the flow last ran with, else the one its enrolments
    were last written under; None when the database keeps none."""
    row = db.execute(
        "SELECT d.text, r.source FROM flow_runs AS r JOIN flow_definitions AS d ON d.digest = r.digest "
        "WHERE r.flow = ? ORDER BY r.id DESC LIMIT 1",
        [flow],
    ).fetchone()
    if row:
        return row[0], row[1]
    latest = "ctid" if is_postgres(db) else "rowid"  # the later insert, among definitions first seen together
    row = db.execute(
        f"SELECT text FROM flow_definitions WHERE flow = ? ORDER BY first_seen DESC, {latest} DESC LIMIT 1", [flow]
    ).fetchone()
    return (row[0], None) if row else None


# Pruning history ----------------------------------------------------------------------------

# Runs older than the cut that nothing needs: not a flow's latest run, and not the run that
# parked a contact still waiting.
_PRUNABLE_RUNS = """
    SELECT r.id FROM flow_runs AS r
    WHERE r.started_at < ?
      AND r.id != (SELECT max(l.id) FROM flow_runs AS l WHERE l.flow = r.flow)
      AND NOT EXISTS (SELECT 1 FROM flow_enrolments AS e WHERE e.state = 'active' AND e.run_id = r.id)
"""
# Definitions first seen before the cut that no kept run and no waiting contact was enrolled under.
_PRUNABLE_DEFINITIONS = """
    SELECT d.digest FROM flow_definitions AS d
    WHERE d.first_seen < ?
      AND NOT EXISTS (SELECT 1 FROM flow_runs AS r WHERE r.digest = d.digest
                      AND r.id NOT IN (SELECT id FROM temp.prunable_runs))
      AND NOT EXISTS (SELECT 1 FROM flow_enrolments AS e WHERE e.state = 'active' AND e.digest = d.digest)
"""


def prune_history(db: Database, before: str, *, dry_run: bool) -> dict[str, int]:
    """Delete (or, for a dry run, count) flow history older than `before`."""
    db.execute("DROP TABLE IF EXISTS temp.prunable_runs")
    db.execute("CREATE TEMP TABLE prunable_runs (id INTEGER PRIMARY KEY)")
    db.execute(f"INSERT INTO temp.prunable_runs(id) {_PRUNABLE_RUNS}", [before])
    runs = db.execute("SELECT count(*) FROM temp.prunable_runs").fetchone()[0]
    definitions = db.execute(f"SELECT count(*) FROM ({_PRUNABLE_DEFINITIONS}) AS d", [before]).fetchone()[0]
    if not dry_run:
        db.execute(f"DELETE FROM flow_definitions WHERE digest IN ({_PRUNABLE_DEFINITIONS})", [before])
        db.execute("DELETE FROM flow_runs WHERE id IN (SELECT id FROM temp.prunable_runs)")
    db.execute("DROP TABLE temp.prunable_runs")
    return {"runs": runs, "definitions": definitions}
