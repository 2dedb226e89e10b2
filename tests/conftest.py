"""Every test gets its own database: nothing ever touches a real user's file.

CRMCTL_TEST_PG=postgresql://… runs the suite on PostgreSQL: each test gets a fresh schema
(CRMCTL_DB is the URL with `options=-csearch_path=t_…`, created by `crmctl init` or the `db`
fixture, dropped afterwards), and tests marked `sqlite_only` are skipped.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmctl.store import open_db
from crmctl.store.script import insert_returning_id

NOW = "2026-11-01T12:00:00Z"
TEST_PG = os.environ.get("CRMCTL_TEST_PG", "")
ON_POSTGRES = bool(TEST_PG)
_schemas = itertools.count(1)


def pytest_collection_modifyitems(config, items):
    if not ON_POSTGRES:
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "SQLite only")
            item.add_marker(pytest.mark.skip(reason=f"sqlite_only: {reason}"))


def pg_url(schema: str) -> str:
    """CRMCTL_TEST_PG with the schema `schema` selected."""
    from urllib.parse import quote

    separator = "&" if "?" in TEST_PG else "?"
    return f"{TEST_PG}{separator}options={quote(f'-csearch_path={schema}', safe='')}"


def integrity_errors() -> tuple[type[Exception], ...]:
    """The exceptions a constraint violation raises on the backend under test."""
    import sqlite3

    if ON_POSTGRES:
        import psycopg

        return (psycopg.IntegrityError,)
    return (sqlite3.IntegrityError,)


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(TEST_PG, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '5s'")
        try:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except psycopg.Error:  # a process the test left behind still holds it: leave it
            pass


@pytest.fixture(autouse=True)
def isolated_db(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("CRMCTL_NOW", NOW)
    monkeypatch.delenv("NO_COLOR", raising=False)
    if not ON_POSTGRES:
        path = tmp_path / "crm.db"
        monkeypatch.setenv("CRMCTL_DB", str(path))
        yield path
        return
    from crmctl.store.connection import resolve_path

    schema = f"t_{os.getpid()}_{next(_schemas)}_{secrets.token_hex(3)}"
    url = pg_url(schema)
    monkeypatch.setenv("CRMCTL_DB", url)
    yield resolve_path(url)
    drop_schema(schema)


@pytest.fixture
def db(isolated_db):
    database = open_db(isolated_db, create=True)
    yield database
    database.close()


def declare(db, name: str, kind: str) -> tuple[int, str]:
    """Declare a property (if missing); (id, type) of the property with that name."""
    from crmctl.query.folding import fold

    db.execute(
        "INSERT OR IGNORE INTO properties(name, folded, type, created_at) VALUES (?, ?, ?, ?)",
        [name, fold(name), kind, NOW],
    )
    return tuple(db.execute("SELECT id, type FROM properties WHERE folded = ?", [fold(name)]).fetchone())


def set_value(db, contact_id: int, name: str, value, kind: str | None = None) -> None:
    """Store one property value, declaring the property (typed from the value) when needed."""
    from crmctl import value_types

    if value is None:
        return
    if kind is None:
        kind = value_types.Inference("stored").extend([value]).kind
    property_id, declared = declare(db, name, kind)
    stored = value_types.parse(declared, value)
    if ON_POSTGRES:
        from crmctl.store.pg.values import to_jsonb_text

        stored = to_jsonb_text(stored)
    db.execute(
        "INSERT INTO property_values(contact_id, property_id, value) VALUES (?, ?, ?) "
        "ON CONFLICT(contact_id, property_id) DO UPDATE SET value = excluded.value",
        [contact_id, property_id, stored],
    )


def add_contacts(db, rows):
    """rows: dicts with email and optional name/tags/attributes/blocked_at/last_seen_at/created_at.

    Attributes are property values; each property is declared with the type all of its values
    in `rows` fit (0 and 1 alone make a boolean, as imports would)."""
    from crmctl import value_types

    kinds: dict[str, value_types.Inference] = {}
    for row in rows:
        for key, value in row.get("attributes", {}).items():
            kinds.setdefault(key, value_types.Inference("stored")).add(value)
    for key, inference in kinds.items():
        declare(db, key, inference.kind)
    for row in rows:
        contact_id = insert_returning_id(
            db,
            "INSERT INTO contacts(email, name, phone, user_id, created_at, last_seen_at, blocked_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                row["email"],
                row.get("name"),
                row.get("phone"),
                row.get("user_id"),
                row.get("created_at", "2025-01-01T00:00:00Z"),
                row.get("last_seen_at"),
                row.get("blocked_at"),
            ],
        )
        for key, value in row.get("attributes", {}).items():
            set_value(db, contact_id, key, value, kinds[key].kind)
        for tag in row.get("tags", []):
            db.execute("INSERT OR IGNORE INTO tags(name, created_at) VALUES (?, ?)", [tag, NOW])
            db.execute(
                "INSERT INTO contact_tags(tag_id, contact_id, added_at) SELECT id, ?, ? FROM tags WHERE name = ?",
                [contact_id, NOW, tag],
            )
        for body in row.get("notes", []):
            db.execute(
                "INSERT INTO notes(contact_id, body, author, created_at) VALUES (?, ?, 'seed', ?)",
                [contact_id, body, NOW],
            )
        for conv in row.get("conversations", []):
            conv_id = insert_returning_id(
                db,
                "INSERT INTO conversations(contact_id, subject, created_at) VALUES (?, ?, ?)",
                [contact_id, conv["subject"], NOW],
            )
            for message in conv.get("messages", []):
                db.execute(
                    "INSERT INTO messages(conversation_id, body, sender, sent_at) VALUES (?, ?, ?, ?)",
                    [conv_id, message["body"], message.get("sender"), NOW],
                )
    db.conn.commit()


@pytest.fixture
def people(db):
    """Five contacts with tags, data points, notes and a conversation."""
    add_contacts(
        db,
        [
            {
                "email": "ada@example.com",
                "name": "Ada",
                "tags": ["vip"],
                "attributes": {"plan": "pro", "country": "DE", "score": 80},
                "conversations": [{"subject": "Hello", "messages": [{"body": "hi", "sender": "ada"}]}],
                "notes": ["first"],
            },
            {"email": "Bob@Example.com", "name": "Bob", "attributes": {"plan": "trial", "score": 20}},
            {"email": "cy@example.org", "name": "Cy", "tags": ["vip", "churned"], "attributes": {"plan": "trial"}},
            {"email": "di@example.org", "name": "Di", "blocked_at": "2026-01-01T00:00:00Z"},
            {"email": "ed@example.net", "name": "Ed"},
        ],
    )
    return db


class Cli:
    def __init__(self):
        from crmctl.cli.app import app

        self.app = app
        self.runner = CliRunner()

    def __call__(self, *args, input=None):
        result = self.runner.invoke(self.app, [str(a) for a in args], input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result


@pytest.fixture
def cli():
    return Cli()


def crmctl_executable() -> str:
    found = shutil.which("crmctl", path=str(Path(sys.executable).parent)) or shutil.which("crmctl")
    assert found, "the crmctl console script is not installed"
    return found


@pytest.fixture
def run():
    """Run the installed `crmctl` as a real process."""

    def _run(*args, input=None, env=None, timeout=60):
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [crmctl_executable(), *map(str, args)],
            input=input,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
        )

    return _run


def lines_json(text: str) -> list:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# CRMCTL_TEST_REPORT=FILE (with CRMCTL_TEST_PG): one JSON line per failing test, naming the crmctl
# source line the failure came from (for sorting a port's failures by area). crmctl's guard turns
# exceptions into exit 70, so the ones it catches are recorded on the way.
_REPORT = os.environ.get("CRMCTL_TEST_REPORT", "")
_caught: list[BaseException] = []
_PLUMBING = ("crmctl/store/pg/database.py", "crmctl/store/pg/translate.py", "crmctl/cli/guard.py", "crmctl/testhook.py")


@pytest.fixture(autouse=True)
def _record_internal_errors(monkeypatch):
    if not _REPORT:
        yield
        return
    from crmctl.cli import guard

    original = guard._internal_error

    def recording(exc, **kwargs):
        _caught.append(exc)
        return original(exc, **kwargs)

    monkeypatch.setattr(guard, "_internal_error", recording)
    _caught.clear()
    yield


def _origin(exc: BaseException) -> str:
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/crmctl/" in f.filename]
    frames = [f for f in frames if not f.filename.endswith(_PLUMBING)] or frames
    if not frames:
        return ""
    last = frames[-1]
    return f"{last.filename.split('/crmctl/', 1)[1] if '/crmctl/' in last.filename else last.filename}:{last.lineno}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not _REPORT or not report.failed:
        return
    errors = list(_caught)
    if call.excinfo is not None:
        errors.append(call.excinfo.value)
    origins = [o for o in (_origin(e) for e in errors) if o]
    first = errors[0] if errors else None
    message = f"{type(first).__name__}: {' '.join(str(first).split())[:300]}" if first else ""
    with open(_REPORT, "a") as out:
        out.write(json.dumps({"test": item.nodeid, "when": report.when, "origins": origins, "error": message}) + "\n")
