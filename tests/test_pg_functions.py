"""The PostgreSQL schema and SQL functions (crmctl.store.pg) against their Python twins.

Runs only with CRMCTL_TEST_PG set (a PostgreSQL URL): each module run works in a schema of
its own, dropped afterwards."""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import sqlite3
import sys
from types import SimpleNamespace

import pytest

URL = os.environ.get("CRMCTL_TEST_PG")
if not URL:
    pytest.skip("CRMCTL_TEST_PG is not set", allow_module_level=True)

psycopg = pytest.importorskip("psycopg")

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from crmctl.errors import DatabaseError  # noqa: E402
from crmctl.folding import fold  # noqa: E402
from crmctl.store import suppressions  # noqa: E402
from crmctl.store.flows import register_split_bucket  # noqa: E402
from crmctl.store.pg import functions, schema  # noqa: E402
from crmctl.store.pg.values import to_jsonb_text  # noqa: E402
from crmctl.value_types import INT64, number_text  # noqa: E402

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


class Handle:
    """The part of PgDatabase the schema uses."""

    dialect = "postgresql"

    def __init__(self, conn):
        self.conn = conn

    def execute(self, sql, params=None):
        return self.conn.execute(sql.replace("?", "%s"), params)


def _fresh(conn, name: str) -> Handle:
    conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    conn.execute(f"CREATE SCHEMA {name}")
    conn.execute(f"SET search_path = {name}")
    handle = Handle(conn)
    schema.migrate(handle)
    conn.commit()
    return handle


@pytest.fixture(scope="module")
def pg():
    conn = psycopg.connect(URL)
    name = f"s_fn_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        yield _fresh(conn, name)
    finally:
        conn.rollback()
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.commit()
        conn.close()


@pytest.fixture
def scratch():
    """A schema of its own for tests that write, migrated, dropped afterwards."""
    conn = psycopg.connect(URL)
    name = f"s_scratch_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        yield _fresh(conn, name)
    finally:
        conn.rollback()
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.commit()
        conn.close()


def one(pg, sql, *params):
    return pg.conn.execute(sql, list(params)).fetchone()[0]


# Text PostgreSQL can hold: no NUL (surrogates are never generated).
characters = st.characters(codec="utf-8", exclude_characters="\x00")
pg_text = st.text(characters)
# The code points where the rule is most likely to go wrong.
_TRICKY = sorted(functions._python_candidates() | set("ΣσςΟΔİıßẞﬁǅǈ\u0345\u0307\u0301eEΐÅåKk \t\u3000"))
tricky_text = st.text(st.sampled_from(_TRICKY) | characters)


# crmctl_fold -------------------------------------------------------------------------------


@SETTINGS
@given(pg_text | tricky_text)
@example("ΟΔΟΣ ΟΔΟΣ.")
@example("ΑΣ\u0301")
@example("STRAẞE")
@example("ꭰꭱ Ꭰ")
@example("e\u0301 É")
def test_fold_matches_python(pg, text):
    assert one(pg, "SELECT crmctl_fold(%s)", text) == fold(text)


def test_fold_of_every_cased_code_point(pg):
    """Every code point of planes 0 and 1 on its own, and after a letter (Σ at a word's end)."""
    chars = [chr(c) for c in range(1, 0x20000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(chars), 20000):
        part = chars[start : start + 20000]
        for prefix in ("", "A"):
            folded = pg.conn.execute(
                "SELECT crmctl_fold(%s || c) FROM unnest(%s::text[]) WITH ORDINALITY AS t(c, i) ORDER BY i",
                [prefix, part],
            ).fetchall()
            wrong = [(c, f) for c, (f,) in zip(part, folded, strict=True) if f != fold(prefix + c)]
            assert wrong[:5] == []


def test_fold_of_null_is_null(pg):
    assert one(pg, "SELECT crmctl_fold(NULL)") is None


def test_fold_exceptions_cover_sigma_and_sharp_s(pg):
    found = functions.fold_exceptions(pg)
    assert found["Σ"] == "σ" and found["ß"] == "ss" and found["ς"] == "σ"


# crmctl_split_bucket ---------------------------------------------------------------------


def _python_bucket():
    conn = sqlite3.connect(":memory:")
    register_split_bucket(SimpleNamespace(conn=conn))  # type: ignore[arg-type]
    return lambda seed, contact_id: conn.execute("SELECT crmctl_split_bucket(?, ?)", [seed, contact_id]).fetchone()[0]


@SETTINGS
@given(pg_text, st.integers(INT64[0], INT64[1]))
@example("", 0)
@example("flow\x1fsplit", 1)
def test_split_bucket_matches_python(pg, seed, contact_id):
    expected = int.from_bytes(hashlib.sha256(f"{seed}\x1f{contact_id}".encode()).digest()[:8], "big") % 100
    assert one(pg, "SELECT crmctl_split_bucket(%s, %s)", seed, contact_id) == expected


def test_split_bucket_is_the_registered_function(pg):
    bucket = _python_bucket()
    for contact_id in range(1, 200):
        assert one(pg, "SELECT crmctl_split_bucket('seed', %s)", contact_id) == bucket("seed", contact_id)


# crmctl_suppression_digest --------------------------------------------------------------


@SETTINGS
@given(st.binary(min_size=32, max_size=32), pg_text | tricky_text)
@example(bytes(32), "  Müller@Example.COM\u3000")
@example(bytes(32), "\x1c\x85STRASSE@x\u2029")
def test_suppression_digest_matches_python(pg, key, email):
    ipad, opad = functions.suppression_pads(key.hex())
    got = one(pg, "SELECT crmctl_suppression_digest(%s, %s, %s)", ipad, opad, email)
    assert got == suppressions.digest(key, email)


def test_suppression_key_is_in_meta(pg):
    key = one(pg, "SELECT value FROM meta WHERE key = %s", suppressions.KEY)
    assert len(bytes.fromhex(key)) == 32


# crmctl_number_text ------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
SPECIAL = [1e300, 5e-324, -0.0, 0.0, 3.0, 0.1, 1e16, 1e15, 1e-4, 1e-5, 123456789.125, sys.float_info.max,
           sys.float_info.min, -2.5e-310, 1e22, 9007199254740993.0]  # fmt: skip


@pytest.mark.parametrize("value", SPECIAL)
def test_number_text_of_special_floats(pg, value):
    assert one(pg, "SELECT crmctl_number_text(%s::double precision)", value) == number_text(value)


@SETTINGS
@given(finite)
def test_number_text_of_a_float(pg, value):
    assert one(pg, "SELECT crmctl_number_text(%s::double precision)", value) == number_text(value)


@SETTINGS
@given(finite | st.integers(INT64[0], INT64[1]))
def test_number_text_of_a_stored_value(pg, value):
    expected = number_text(0.0 if value == 0 and isinstance(value, float) else value)  # jsonb has no -0
    assert one(pg, "SELECT crmctl_number_text(%s::jsonb)", to_jsonb_text(value)) == expected


def test_number_text_of_a_stored_string(pg):
    assert one(pg, "SELECT crmctl_number_text(%s::jsonb)", to_jsonb_text("007 'x'")) == "007 'x'"


# to_jsonb_text: the stored value reads back as itself --------------------------------------


def _round_trip(pg, values):
    pg.conn.execute("CREATE TEMP TABLE IF NOT EXISTS round_trip (i integer, v jsonb NOT NULL)")
    pg.conn.execute("DELETE FROM round_trip")
    with pg.conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO round_trip VALUES (%s, %s::jsonb)", [(i, to_jsonb_text(v)) for i, v in enumerate(values)]
        )
    return [row[0] for row in pg.conn.execute("SELECT v FROM round_trip ORDER BY i")]


def _same(a, b) -> bool:
    if isinstance(a, float) and a == 0:
        return isinstance(b, float) and b == 0  # -0.0 comes back as 0.0
    return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))


def test_round_trip_of_special_numbers(pg):
    values = [*SPECIAL, INT64[0], INT64[1], 0, -1, 1, 2**53 + 1]
    back = _round_trip(pg, values)
    assert all(_same(v, b) for v, b in zip(values, back, strict=True)), list(zip(values, back, strict=True))
    assert back[SPECIAL.index(-0.0)] == 0.0


@SETTINGS
@given(st.lists(finite | st.integers(INT64[0], INT64[1]) | pg_text, min_size=1, max_size=20))
def test_round_trip(pg, values):
    back = _round_trip(pg, values)
    assert all(_same(v, b) for v, b in zip(values, back, strict=True))


def test_text_with_nul_is_refused_clearly():
    from crmctl.errors import InvalidInput

    with pytest.raises(InvalidInput, match="U\\+0000"):
        to_jsonb_text("a\x00b")


def test_numbers_compare_as_numbers(pg):
    back = pg.conn.execute(
        "SELECT (%s::jsonb)::numeric < (%s::jsonb)::numeric, (%s::jsonb)::numeric = 3",
        [to_jsonb_text(INT64[1] * 10.0), to_jsonb_text(1e300), to_jsonb_text(3.0)],
    ).fetchone()
    assert back == (True, True)


# The schema --------------------------------------------------------------------------------


def _sqlite_shape(tmp_path):
    from crmctl.store.connection import open_db

    db = open_db(tmp_path / "shape.db", create=True)
    try:
        tables = {
            # (column, NOT NULL or part of the primary key): PostgreSQL's key columns are NOT NULL
            name: [(row[1], bool(row[3] or row[5])) for row in db.execute(f"PRAGMA table_info({name})")]
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite%' "
                "AND name != '_sqlite_migrations'"
            )
        }
        indexes = {
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name != '_sqlite_migrations'"
            )
        }
        triggers = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        meta = {row[0] for row in db.execute("SELECT key FROM meta")}
    finally:
        db.close()
    return tables, indexes, triggers, meta


def test_same_tables_columns_indexes_and_triggers_as_sqlite(pg, tmp_path):
    tables, indexes, triggers, meta = _sqlite_shape(tmp_path)
    pg_tables: dict[str, list[tuple[str, bool]]] = {}
    for table, column, nullable in pg.conn.execute(
        "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name != %s ORDER BY table_name, ordinal_position",
        [schema.TABLE],
    ):
        pg_tables.setdefault(table, []).append((column, nullable == "NO"))
    tables["audit_contacts"] = [(column, False) for column, _ in tables["audit_contacts"]]  # a view's columns
    assert pg_tables == tables  # in SQLite's order: SELECT * and INSERT … VALUES read the same

    pg_indexes = {
        row[0]
        for row in pg.conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname NOT LIKE %s "
            "AND indexname NOT IN ('tags_name_unique', 'properties_folded_key', 'crmctl_migrations_pkey')",
            ["%pkey"],
        )
    }
    assert pg_indexes == indexes
    pg_triggers = {
        row[0]
        for row in pg.conn.execute(
            "SELECT tgname FROM pg_trigger JOIN pg_class ON pg_class.oid = tgrelid "
            "WHERE relnamespace = current_schema()::regnamespace AND NOT tgisinternal"
        )
    }
    assert pg_triggers == triggers
    assert {row[0] for row in pg.conn.execute("SELECT key FROM meta")} == meta


def test_column_types_follow_sqlite(pg, tmp_path):
    from crmctl.store.connection import open_db

    db = open_db(tmp_path / "types.db", create=True)
    try:
        declared = {
            (table, row[1]): row[2]
            for (table,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '%sqlite%'"
            )
            for row in db.execute(f"PRAGMA table_info({table})")
        }
    finally:
        db.close()
    expected = {"INTEGER": ("bigint", None), "TEXT": ("text", "C"), "": ("jsonb", None)}
    found = {
        (table, column): (kind, collation)
        for table, column, kind, collation in pg.conn.execute(
            "SELECT c.table_name, c.column_name, c.data_type, c.collation_name FROM information_schema.columns AS c "
            "JOIN information_schema.tables AS t USING (table_schema, table_name) "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name != %s",
            [schema.TABLE],
        )
    }
    assert found == {key: expected[kind] for key, kind in declared.items()}


def test_text_is_compared_binary(pg):
    assert one(pg, "SELECT collation_name FROM information_schema.columns WHERE table_schema = current_schema() "
               "AND table_name = 'contacts' AND column_name = 'email'") == "C"  # fmt: skip


def test_migrate_is_idempotent_and_refuses_a_newer_schema(scratch):
    assert schema.applied(scratch) == list(schema.known_migrations())
    assert schema.migrate(scratch) == []
    scratch.conn.execute("INSERT INTO crmctl_migrations(name, applied_at) VALUES ('m999_future', 'x')")
    with pytest.raises(DatabaseError, match="newer schema than this crmctl \\(migration m999_future"):
        schema.migrate(scratch, "postgresql://db.example/crm")


def test_key_triggers(scratch):
    conn = scratch.conn
    conn.execute("INSERT INTO contacts(email) VALUES ('STRAẞE@Example.com')")
    conn.execute("INSERT INTO contacts(email, email_key) VALUES ('Given@x', 'given-key')")
    conn.execute("INSERT INTO tags(name, created_at) VALUES ('ΟΔΟΣ', 'now')")
    keys = conn.execute("SELECT email_key FROM contacts ORDER BY id").fetchall()
    assert keys == [("strasse@example.com",), ("given-key",)]
    assert one(scratch, "SELECT name_key FROM tags") == "οδοσ"
    conn.execute("UPDATE contacts SET email = 'New@X' WHERE email_key = 'given-key'")
    conn.execute("UPDATE contacts SET email = 'Other@X', email_key = 'own' WHERE email_key = 'strasse@example.com'")
    conn.execute("UPDATE tags SET name = 'ẞ'")
    assert sorted(conn.execute("SELECT email_key FROM contacts").fetchall()) == [("new@x",), ("own",)]
    assert one(scratch, "SELECT name_key FROM tags") == "ss"
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("INSERT INTO contacts(email) VALUES ('new@X')")


def test_cascades_and_audit_contacts_view(scratch):
    conn = scratch.conn
    contact = one(scratch, "INSERT INTO contacts(email) VALUES ('a@x') RETURNING id")
    conn.execute("INSERT INTO notes(contact_id, body, created_at) VALUES (%s, 'b', 'now')", [contact])
    audit = one(scratch, "INSERT INTO audit(at, actor, action, contacts) VALUES ('t', 'me', 'x', 2) RETURNING id")
    conn.execute("INSERT INTO audit_sets VALUES (%s, 3, %s)", [audit, -(2**63) + 2])  # bits 1 and 63
    assert conn.execute("SELECT contact_id FROM audit_contacts ORDER BY 1").fetchall() == [(193,), (255,)]
    conn.execute("DELETE FROM contacts")
    assert one(scratch, "SELECT count(*) FROM notes") == 0


def test_advance_identities(scratch):
    conn = scratch.conn
    conn.execute("INSERT INTO contacts(id, email) VALUES (40, 'a@x')")
    audit = one(
        scratch,
        "INSERT INTO audit(id, at, actor, action, contacts, run_id) VALUES (7, 't', 'me', 'x', 1, 12) RETURNING id",
    )
    conn.execute("INSERT INTO audit_sets VALUES (%s, 2, %s)", [audit, -(2**63)])  # contact 191
    following = schema.advance_identities(scratch)
    assert following["contacts"] == 192 and following["audit"] == 8 and following["flow_runs"] == 13
    assert following["tags"] == 1
    assert one(scratch, "INSERT INTO contacts(email) VALUES ('b@x') RETURNING id") == 192
    conn.execute("DELETE FROM audit_sets")
    conn.execute("DELETE FROM contacts")
    assert schema.advance_identities(scratch)["contacts"] == 193  # never back
    assert one(scratch, "INSERT INTO contacts(email) VALUES ('c@x') RETURNING id") == 193


def test_identities_restored_after_a_rollback(scratch):
    conn = scratch.conn
    one(scratch, "INSERT INTO audit(at, actor, action, contacts) VALUES ('t', 'me', 'x', 0) RETURNING id")
    conn.commit()
    saved = schema.identity_state(scratch)
    assert saved[f"{one(scratch, 'SELECT current_schema()')}.audit_id_seq"] == 1
    one(scratch, "INSERT INTO audit(at, actor, action, contacts) VALUES ('t', 'me', 'x', 0) RETURNING id")
    one(scratch, "INSERT INTO tags(name, created_at) VALUES ('a', 'now') RETURNING id")
    conn.rollback()
    schema.restore_identities(scratch, saved)
    assert one(scratch, "INSERT INTO audit(at, actor, action, contacts) VALUES ('t', 'me', 'x', 0) RETURNING id") == 2
    assert one(scratch, "INSERT INTO tags(name, created_at) VALUES ('b', 'now') RETURNING id") == 1
