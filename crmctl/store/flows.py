"""SQL for flow runs, definitions and enrolments (where each contact stands in a flow)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlite_utils import Database

from crmctl.store.scopes import _checked
from crmctl.store.script import inserted_id


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
    cursor = db.execute(
        "INSERT INTO flow_runs(flow, digest, source, started_at, dry_run, status) VALUES (?, ?, ?, ?, ?, 'running')",
        [flow, digest, source, now, int(dry_run)],
    )
    return inserted_id(cursor)


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


def runs(db: Database, flow: str | None, limit: int | None) -> Iterator[dict]:
    sql = (
        "SELECT id, flow, started_at, duration_ms, dry_run, status, matched, resumed, parked, exited, "
        "completed, changed, steps, error FROM flow_runs"
    )
    params: list = []
    if flow:
        sql += " WHERE flow = ?"
        params.append(flow)
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
            "changed": json.loads(row[11] or "{}"),
            "steps": json.loads(row[12] or "[]"),
            "error": row[13],
        }


def last_run_steps(db: Database, flow: str) -> list[dict]:
    row = db.execute(
        "SELECT steps FROM flow_runs WHERE flow = ? AND status = 'ok' ORDER BY id DESC LIMIT 1", [flow]
    ).fetchone()
    return json.loads(row[0]) if row and row[0] else []


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
            f"INSERT INTO temp.{_checked(target)}(id) SELECT c.id FROM (SELECT * FROM ({ids_sql}) "
            f"EXCEPT SELECT e.contact_id FROM flow_enrolments AS e WHERE e.flow = ? {history}) AS x "
            f"CROSS JOIN contacts AS c ON c.id = x.contact_id WHERE true {blocked} ORDER BY c.id",
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
