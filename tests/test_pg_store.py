"""The PostgreSQL store: opening, init, the write lock, passwords kept out of messages.

The tests that need a server run only under CRMCTL_TEST_PG (see conftest.py)."""

from __future__ import annotations

import os
import sys

import pytest
from conftest import ON_POSTGRES, TEST_PG, drop_schema, pg_url

from crmctl.errors import DatabaseError, LockTimeout
from crmctl.store import open_db, transaction
from crmctl.store.connection import initialised, resolve_path
from crmctl.store.pg.connection import MISSING_DRIVER
from crmctl.store.script import insert_returning_id

needs_server = pytest.mark.skipif(not ON_POSTGRES, reason="needs CRMCTL_TEST_PG")


def test_a_url_selects_postgresql_and_a_path_stays_a_path(tmp_path):
    assert str(resolve_path("postgresql://u:pw@/crm")) == "postgresql://u:***@/crm"
    assert resolve_path(str(tmp_path / "crm.db")) == tmp_path / "crm.db"


def test_without_psycopg_one_error_line(monkeypatch):
    with monkeypatch.context() as patched, pytest.raises(DatabaseError) as caught:
        patched.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
        open_db(resolve_path("postgresql://u@/crm"))
    assert str(caught.value) == MISSING_DRIVER == "PostgreSQL support needs psycopg: pip install 'crmctl[postgres]'"


def test_without_psycopg_the_cli_says_so(cli, monkeypatch):
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "psycopg", None)
        result = cli("--db", "postgresql://u:hunter2@/crm", "contact", "list")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {MISSING_DRIVER}\n"


def test_insert_returning_id(db):
    first = insert_returning_id(db, "INSERT INTO tags(name, created_at) VALUES (?, ?)", ["a", "x"])
    second = insert_returning_id(db, "INSERT INTO tags(name, created_at) VALUES (?, ?);", ["b", "x"])
    assert second == first + 1
    assert db.execute("SELECT name FROM tags WHERE id = ?", [second]).fetchone()[0] == "b"


@needs_server
def test_init_creates_the_schema_and_a_second_init_finds_it(cli, isolated_db):
    result = cli("init")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"database ready at {isolated_db}\n"
    assert cli("init").exit_code == 0
    db = open_db(isolated_db)
    assert {"contacts", "meta", "tags"} <= set(db.table_names())
    db.close()


@needs_server
def test_a_missing_schema_asks_for_init(cli, isolated_db):
    result = cli("contact", "list")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: no schema '{isolated_db.schema}' in {isolated_db} (run `crmctl init` first)\n")


@needs_server
def test_a_failed_init_leaves_no_schema_behind(isolated_db, db):
    db.close()
    drop_schema(isolated_db.schema)
    with pytest.raises(RuntimeError), initialised(isolated_db):
        raise RuntimeError("boom")
    with pytest.raises(DatabaseError, match="no schema"):
        open_db(isolated_db)


@needs_server
def test_a_foreign_schema_is_refused(isolated_db):
    import psycopg

    with psycopg.connect(TEST_PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{isolated_db.schema}"')
        conn.execute(f'CREATE TABLE "{isolated_db.schema}".orders (id int)')
    with pytest.raises(DatabaseError, match=r"^schema '.*' in .* is not a crmctl database$"):
        open_db(isolated_db, create=True)


@needs_server
def test_a_password_in_the_url_is_never_printed(cli, isolated_db):
    url = pg_url(isolated_db.schema).replace("postgresql://postgres@", "postgresql://postgres:hunter2@")
    result = cli("--db", url, "contact", "list")
    assert result.exit_code == 1
    assert "hunter2" not in result.stderr and "***" in result.stderr


@needs_server
def test_second_writer_times_out_naming_the_holder(db, isolated_db):
    holder = open_db(isolated_db)
    with transaction(holder):
        waiting = open_db(isolated_db, lock_timeout=0.1)
        with pytest.raises(LockTimeout) as caught, transaction(waiting):
            pass
    message = str(caught.value)
    assert message.startswith("the database is locked (held by crmctl")
    assert message.endswith("); gave up waiting after 0.1 s")
    assert f", pid {os.getpid()}, host " in message  # the holder's crmctl process, from its application_name
    with transaction(waiting):  # free again
        pass
    holder.close()
    waiting.close()


@needs_server
def test_writers_of_different_schemas_do_not_wait_for_each_other(db, isolated_db):
    other_schema = isolated_db.schema + "_b"
    other = open_db(resolve_path(pg_url(other_schema)), create=True, lock_timeout=0.1)
    try:
        with transaction(db), transaction(other):
            pass
    finally:
        other.close()
        drop_schema(other_schema)


@needs_server
def test_a_dry_run_rolls_back_and_a_failure_too(db):
    with transaction(db, dry_run=True):
        db.execute("INSERT INTO tags(name, created_at) VALUES ('x', 'y')")
    with pytest.raises(RuntimeError), transaction(db):
        db.execute("INSERT INTO tags(name, created_at) VALUES ('x', 'y')")
        raise RuntimeError("boom")
    assert db.execute("SELECT count(*) FROM tags").fetchone()[0] == 0


@needs_server
def test_ids_given_in_a_dry_run_or_a_failed_run_are_given_again(db):
    from crmctl.store.pg.schema import advance_identities

    def new_tag() -> int:
        return insert_returning_id(db, "INSERT INTO tags(name, created_at) VALUES ('t', 'y')")

    with transaction(db, dry_run=True):
        assert new_tag() == 1
        db.execute("INSERT INTO contacts(id, email, email_key) VALUES (40, 'a@x', 'a@x')")
        assert advance_identities(db, ["contacts"]) == {"contacts": 41}
    with pytest.raises(RuntimeError), transaction(db):
        assert new_tag() == 1
        raise RuntimeError("boom")
    with transaction(db):
        assert new_tag() == 1
        assert insert_returning_id(db, "INSERT INTO contacts(email, email_key) VALUES ('b@x', 'b@x')") == 1


@needs_server
def test_moving_an_identity_on_waits_for_no_reader(db, isolated_db):
    """A reader's open transaction on contacts (a long export) must not block an import that
    gives explicit ids: setval() locks no table, ALTER TABLE … RESTART would."""
    from crmctl.store.pg.schema import advance_identities

    reader = open_db(isolated_db)
    try:
        reader.conn.execute("BEGIN")
        reader.conn.execute("SELECT count(*) FROM contacts").fetchone()
        db.lock_timeout = 0.2
        with transaction(db):
            db.execute("INSERT INTO contacts(id, email, email_key) VALUES (9, 'a@x', 'a@x')")
            assert advance_identities(db, ["contacts"]) == {"contacts": 10}
    finally:
        reader.close()
    assert insert_returning_id(db, "INSERT INTO contacts(email, email_key) VALUES ('b@x', 'b@x')") == 10


@needs_server
def test_sessions_search_only_the_crm_schema_and_compile_nothing_just_in_time(db):
    assert db.execute("SELECT current_setting('search_path'), current_setting('jit')").fetchone() == (
        f'"{db.schema}"',
        "off",
    )


@needs_server
def test_atomic_is_a_savepoint_inside_a_transaction(db):
    with transaction(db):
        db.execute("INSERT INTO tags(name, created_at) VALUES ('kept', 'y')")
        with pytest.raises(RuntimeError), db.atomic():
            db.execute("INSERT INTO tags(name, created_at) VALUES ('dropped', 'y')")
            raise RuntimeError("boom")
    assert [r[0] for r in db.execute("SELECT name FROM tags")] == ["kept"]


@needs_server
def test_vacuum_after_commit(db):
    from crmctl.store.pg.connection import vacuum_after_commit

    db.execute("INSERT INTO tags(name, created_at) VALUES ('x', 'y')")
    db.execute("DELETE FROM tags")
    vacuum_after_commit(db, ["tags", "contact_tags"])


@needs_server
def test_values_cross_as_with_sqlite(db):
    assert db.execute("SELECT 1 = 1, 1 = 2, ?", [True]).fetchone() == (1, 0, 1)
    assert db.execute("SELECT sum(x), 2.50::numeric, (-3)::numeric FROM (VALUES (1), (2)) v(x)").fetchone() == (
        3,
        2.5,
        -3,
    )
    assert [type(v) for v in db.execute("SELECT sum(x), 1 = 1 FROM (VALUES (1)) v(x)").fetchone()] == [int, int]
