"""Helpers for flow tests: write a flow file, run it through the CLI, read back state."""

from __future__ import annotations

import json
import textwrap


def write_flow(tmp_path, text: str, name: str = "flow.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def run_json(cli, *args):
    result = cli("flow", "run", *map(str, args), "--format", "json")
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result, lines


def steps_by_path(report: dict) -> dict:
    return {s["path"]: (s["contacts"], s["changed"]) for s in report["steps"]}


def tag_holders(db, tag: str) -> list[int]:
    return [
        r[0]
        for r in db.execute(
            "SELECT ct.contact_id FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id WHERE t.name = ? "
            "ORDER BY ct.contact_id",
            [tag],
        )
    ]


def note_count(db, contact_id: int | None = None) -> int:
    if contact_id is None:
        return db.execute("SELECT count(*) FROM notes").fetchone()[0]
    return db.execute("SELECT count(*) FROM notes WHERE contact_id = ?", [contact_id]).fetchone()[0]


def dump(db) -> list[str]:
    """Every row of every table, for comparing whole databases."""
    if getattr(db, "dialect", "sqlite") == "postgresql":
        tables = sorted(db.table_names())
        return [f"{t}:{row}" for t in tables for row in db.execute(f'SELECT * FROM "{t}" ORDER BY "{t}"::text')]
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return [f"{t}:{row}" for t in tables for row in db.execute(f"SELECT * FROM [{t}] ORDER BY 1")]


def find_step(flow, key: str):
    """The step whose id, or else path, is `key` (None if there is none)."""
    steps = flow.all_steps()
    return next((s for s in steps if s.id == key), None) or next((s for s in steps if s.path == key), None)
