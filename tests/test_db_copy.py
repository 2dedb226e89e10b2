"""`crmctl db copy SRC DST`: a whole CRM, ids included, between any two databases.

The SQLite ↔ PostgreSQL round trip runs when CRMCTL_TEST_PG names a server (as
`.ci/with-postgres` sets it); each PostgreSQL database here is a fresh schema of that server.
A copy is compared with its source byte for byte: `contact export -f ndjson`, and every row
of every table (tags, flows, audit, suppressions, outboxes, …), plus the id counters.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from crmctl.store import open_db
from crmctl.store.copy import IDENTITIES, TABLES, copy_crm

ROOT = Path(__file__).resolve().parent.parent
FLOWS = [ROOT / "sample_data" / "flows" / f"{name}.yaml" for name in ("winback-trials", "vip-tagging", "trial-welcome")]
PG = os.environ.get("CRMCTL_TEST_PG")
needs_pg = pytest.mark.skipif(not PG, reason="CRMCTL_TEST_PG is not set: no PostgreSQL server to copy to")


def crm(cli, path: Path | str) -> str:
    """The sample CRM, with flow history, enrolments, split branches, outbox records, a
    changed tag, deleted contacts (so id counters run ahead of the highest id) and suppressions.
    Returns the address of one contact erased with --suppress."""
    erased = ""
    for args in (
        ["init", "--sample", "-q"],
        ["flow", "run", *FLOWS, "--yes", "-q"],
        ["tag", "add", "copied-é", "-w", "id <= 40", "--create", "-q"],
        ["note", "Ünïcode nöte ☃", "-w", "id <= 3", "-q"],
        ["contact", "show", "1195", "-f", "json"],
        ["delete", "-w", "id > 1190", "--suppress", "--yes", "-q"],
        ["outbox", "ack", "welcome", "--through", "5", "-q"],
    ):
        result = cli("--db", path, *args)
        assert result.exit_code == 0, (args, result.output)
        if args[0] == "contact":
            erased = json.loads(result.stdout)["email"]
    return erased


def export(cli, path: Path | str) -> str:
    result = cli("--db", path, "contact", "export", "-f", "ndjson")
    assert result.exit_code == 0, result.output
    return result.stdout


def dump(location: Path | str) -> dict[str, list[tuple]]:
    """Every row of every table in key order, and the highest id each table ever gave out."""
    from crmctl.store.copy import _highest_ids

    db = open_db(location if isinstance(location, Path) else _resolve(location))
    try:
        rows = {
            table: [tuple(row) for row in db.execute(f"SELECT * FROM {table} ORDER BY {key}")] for table, key in TABLES
        }
        columns = {
            table: sorted([d[0] for d in db.execute(f"SELECT * FROM {table} LIMIT 0").description])
            for table, _ in TABLES
        }
        # Columns in one order whatever each backend's declaration order.
        for table, _ in TABLES:
            order = [d[0] for d in db.execute(f"SELECT * FROM {table} LIMIT 0").description]
            rows[table] = [tuple(row[order.index(c)] for c in columns[table]) for row in rows[table]]
        rows["highest ids"] = sorted(_highest_ids(db).items())
        return rows
    finally:
        db.close()


def _resolve(location: str):
    from crmctl.store import resolve_path

    return resolve_path(location)


def copy(cli, source, target, *more):
    return cli("db", "copy", source, target, *more)


# SQLite to SQLite --------------------------------------------------------------------------


def test_sqlite_to_sqlite_is_identical(cli, tmp_path):
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    erased = crm(cli, source)
    result = copy(cli, source, target, "-f", "json")
    assert result.exit_code == 0, result.output
    assert export(cli, target) == export(cli, source)
    assert dump(target) == dump(source)
    assert '"contacts":1190' in result.stdout
    # The copy goes on where the source would: past the deleted ids, the same suppression key.
    added = cli("--db", target, "contact", "add", "new@example.com", "-f", "json")
    assert '"id":1201' in added.stdout.replace(" ", "")
    suppressed = cli("--db", target, "contact", "add", erased)
    assert suppressed.exit_code == 1 and "suppress" in suppressed.stderr, suppressed.output


def test_small_batches_copy_everything(cli, tmp_path):
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    crm(cli, source)
    src = open_db(source)
    with _created(target) as dst:
        counts = copy_crm(src, dst, target_name=str(target), batch=7)
    src.close()
    assert counts["contacts"] == 1190 and counts["meta"] == 2
    assert dump(target) == dump(source)


def test_refuses_a_target_that_holds_rows(cli, tmp_path):
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    crm(cli, source)
    assert cli("--db", target, "init", "-q").exit_code == 0
    assert cli("--db", target, "tag", "create", "mine", "-q").exit_code == 0
    before = dump(target)
    result = copy(cli, source, target)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {target} is not empty (it has rows in tags, audit): db copy only fills a new or empty database\n"
    )
    assert dump(target) == before


def test_an_initialised_empty_target_is_filled(cli, tmp_path):
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    crm(cli, source)
    assert cli("--db", target, "init", "-q").exit_code == 0
    assert copy(cli, source, target, "-q").exit_code == 0
    assert dump(target) == dump(source)


def test_refusals(cli, tmp_path):
    source = tmp_path / "a.db"
    crm(cli, source)
    same = copy(cli, source, source)
    assert (same.exit_code, same.stderr) == (2, f"Error: SRC and DST are the same database ({source})\n")
    missing = copy(cli, tmp_path / "none.db", tmp_path / "b.db")
    assert missing.exit_code == 1 and "no database at" in missing.stderr
    assert not (tmp_path / "b.db").exists()
    foreign = tmp_path / "foreign.db"
    import sqlite3

    sqlite3.connect(foreign).execute("CREATE TABLE t(x)").connection.close()
    refused = copy(cli, source, foreign)
    assert refused.exit_code == 1 and "is not a crmctl database" in refused.stderr


def test_a_failed_copy_leaves_no_target(cli, tmp_path, monkeypatch):
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    crm(cli, source)
    import crmctl.store.copy as copying

    def broken(*args, **kwargs):
        raise copying.DatabaseError("interrupted")

    monkeypatch.setattr(copying, "_advance_identities", broken)
    result = copy(cli, source, target)
    assert (result.exit_code, result.stderr) == (1, "Error: interrupted\n")
    assert not target.exists() and not Path(f"{target}-wal").exists()


def test_every_table_is_copied(tmp_path):
    """A migration that adds a table must add it to db copy's list too."""
    from crmctl.store.connection import initialised

    assert set(IDENTITIES) <= {t for t, _ in TABLES}
    with initialised(tmp_path / "scratch.db") as db:
        tables = set(db.table_names())
    assert {t for t, _ in TABLES} == tables - {"sqlite_sequence", "_sqlite_migrations"}


# SQLite ↔ PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture
def pg_schemas() -> Iterator[callable]:
    """Fresh schemas on the test server, dropped afterwards: a URL for each call."""
    import psycopg

    made: list[str] = []

    def make() -> str:
        name = f"copy_{secrets.token_hex(6)}"
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        made.append(name)
        joiner = "&" if "?" in PG else "?"
        return f"{PG}{joiner}options={quote(f'-csearch_path={name}')}"

    yield make
    with psycopg.connect(PG, autocommit=True) as conn:
        for name in made:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@needs_pg
def test_sqlite_to_postgresql_and_back(cli, tmp_path, pg_schemas):
    source, back = tmp_path / "a.db", tmp_path / "back.db"
    crm(cli, source)
    url = pg_schemas()
    there = copy(cli, source, url, "-f", "json")
    assert there.exit_code == 0, there.output
    assert dump(url) == dump(source)
    again = copy(cli, url, back)
    assert again.exit_code == 0, again.output
    assert dump(back) == dump(source)
    assert export(cli, back) == export(cli, source)
    assert export(cli, url) == export(cli, source)
    assert back.read_bytes() != b""  # a real file, with the schema SQLite gives it
    # Ids never reused on PostgreSQL either.
    added = cli("--db", url, "contact", "add", "new@example.com", "-f", "json")
    assert '"id":1201' in added.stdout.replace(" ", ""), added.output


@needs_pg
def test_postgresql_to_postgresql(cli, tmp_path, pg_schemas):
    source = tmp_path / "a.db"
    crm(cli, source)
    first, second = pg_schemas(), pg_schemas()
    assert copy(cli, source, first, "-q").exit_code == 0
    result = copy(cli, first, second, "-q")
    assert result.exit_code == 0, result.output
    assert dump(second) == dump(source)
    refused = copy(cli, source, second)
    assert refused.exit_code == 1
    assert "is not empty" in refused.stderr and "password" not in refused.stderr


@needs_pg
def test_small_batches_through_postgresql(cli, tmp_path, pg_schemas):
    from crmctl.store.connection import initialised

    source, back = tmp_path / "a.db", tmp_path / "back.db"
    crm(cli, source)
    url = pg_schemas()
    src = open_db(source)
    with initialised(_resolve(url)) as dst:
        copy_crm(src, dst, target_name=url, batch=5)
    with initialised(back) as dst, _opened(url) as pg:
        copy_crm(pg, dst, target_name=str(back), batch=3)
    src.close()
    assert dump(back) == dump(source)


# Helpers ---------------------------------------------------------------------------------------


class _created:
    def __init__(self, path: Path):
        from crmctl.store.connection import initialised

        self.context = initialised(path)

    def __enter__(self):
        return self.context.__enter__()

    def __exit__(self, *exc):
        return self.context.__exit__(*exc)


class _opened:
    def __init__(self, location: str):
        self.db = open_db(_resolve(location))

    def __enter__(self):
        return self.db

    def __exit__(self, *exc):
        self.db.close()


@needs_pg
def test_a_failed_copy_to_postgresql_leaves_it_empty(cli, tmp_path, pg_schemas, monkeypatch):
    import crmctl.store.copy as copying

    source = tmp_path / "a.db"
    crm(cli, source)
    url = pg_schemas()
    original = copying._advance_identities

    def broken(*args, **kwargs):
        raise copying.DatabaseError("interrupted")

    monkeypatch.setattr(copying, "_advance_identities", broken)
    result = copy(cli, source, url)
    assert (result.exit_code, result.stderr) == (1, "Error: interrupted\n")
    monkeypatch.setattr(copying, "_advance_identities", original)
    again = copy(cli, source, url, "-q")  # nothing was left behind: the target is still empty
    assert again.exit_code == 0, again.output
    assert dump(url) == dump(source)
