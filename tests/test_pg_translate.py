"""The token-level rewrites that run the store's SQLite statements on PostgreSQL (no server)."""

from __future__ import annotations

import pytest

from crmctl.store.pg.translate import translate
from crmctl.store.pg.url import PgLocation, is_postgres_url, redacted, schema_of


def text(sql: str) -> str:
    return translate(sql).text


def test_placeholders_become_psycopg_ones():
    assert text("SELECT a FROM t WHERE b = ? AND c = ?") == "SELECT a FROM t WHERE b = %s AND c = %s"


def test_numbered_placeholders_reorder_the_parameters():
    translated = translate("INSERT INTO temp.w(id, key, raw) VALUES (?1, f(?2), ?2)")
    assert translated.text == "INSERT INTO pg_temp.w(id, key, raw) VALUES (%s, f(%s), %s)"
    assert translated.arguments((7, "a@b")) == [7, "a@b", "a@b"]


def test_named_placeholders_and_casts():
    assert text("SELECT x::text FROM t WHERE at < :before") == "SELECT x::text FROM t WHERE at < %(before)s"


def test_mixed_placeholder_styles_are_refused():
    with pytest.raises(ValueError, match="mixes"):
        translate("SELECT ?, ?2")


def test_percent_is_doubled_everywhere_when_bound():
    translated = translate("SELECT a % 2, 'x%' FROM t WHERE b LIKE ? -- 5%\n")
    assert translated.text == "SELECT a %% 2, 'x%%' FROM t WHERE b LIKE %s -- 5%%\n"
    assert translated.plain is None


def test_a_statement_without_placeholders_keeps_a_plain_form():
    translated = translate("SELECT 'x%' LIKE 'x%'")
    assert translated.plain == "SELECT 'x%' LIKE 'x%'"
    assert translated.text == "SELECT 'x%%' LIKE 'x%%'"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT '?', 'it''s ?'",
        'SELECT "?col" FROM t',
        "SELECT 1 -- what?\n",
        "SELECT 1 /* ? */",
        "SELECT $$ ? $$",
        "SELECT $body$ ?; temp.x INSERT OR IGNORE $body$",
        "SELECT E'\\' ?'",
    ],
)
def test_literals_identifiers_comments_and_bodies_are_left_alone(sql):
    assert translate(sql).plain == sql


def test_temp_schema():
    assert text("DELETE FROM temp.scope") == "DELETE FROM pg_temp.scope"
    assert text("SELECT s.temp.x, temp FROM temp") == "SELECT s.temp.x, temp FROM temp"
    assert text("DROP TABLE IF EXISTS TEMP.scope") == "DROP TABLE IF EXISTS pg_temp.scope"


def test_insert_or_ignore():
    assert text("INSERT OR IGNORE INTO tags(name) VALUES (?)") == (
        "INSERT INTO tags(name) VALUES (%s) ON CONFLICT DO NOTHING"
    )
    assert text("insert or ignore into t(a) select a from u where b = ?;") == (
        "insert into t(a) select a from u where b = %s ON CONFLICT DO NOTHING;"
    )


def test_insert_or_ignore_goes_before_a_trailing_returning():
    assert text("INSERT OR IGNORE INTO t(a) SELECT (SELECT 1 RETURNING) RETURNING id") == (
        "INSERT INTO t(a) SELECT (SELECT 1 RETURNING) ON CONFLICT DO NOTHING RETURNING id"
    )


def test_insert_or_ignore_keeps_trailing_whitespace_and_comments_after_it():
    assert text("INSERT OR IGNORE INTO t VALUES (1) -- done\n") == (
        "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING -- done\n"
    )


def test_insert_or_replace_is_not_translated():
    assert text("INSERT OR REPLACE INTO t VALUES (1)") == "INSERT OR REPLACE INTO t VALUES (1)"


def test_collate_nocase_and_without_rowid_are_dropped():
    assert text("CREATE TABLE t (a TEXT COLLATE NOCASE UNIQUE) WITHOUT ROWID;") == ("CREATE TABLE t (a TEXT UNIQUE);")
    assert text("SELECT a FROM t ORDER BY a collate nocase") == "SELECT a FROM t ORDER BY a"


def test_integer_is_bigint_in_create_table_only():
    assert text("CREATE TEMP TABLE s (id INTEGER PRIMARY KEY, n integer)") == (
        "CREATE TEMP TABLE s (id BIGINT PRIMARY KEY, n BIGINT)"
    )
    assert text("CREATE TEMPORARY TABLE s (id INTEGER)") == "CREATE TEMPORARY TABLE s (id BIGINT)"
    assert text("SELECT CAST(a AS INTEGER) FROM t") == "SELECT CAST(a AS INTEGER) FROM t"


def test_each_statement_of_a_script_is_rewritten_on_its_own():
    script = "CREATE TABLE a (id INTEGER); INSERT OR IGNORE INTO a VALUES (1); SELECT CAST(1 AS INTEGER)"
    assert translate(script).plain == (
        "CREATE TABLE a (id BIGINT); INSERT INTO a VALUES (1) ON CONFLICT DO NOTHING; SELECT CAST(1 AS INTEGER)"
    )


def test_translations_are_cached():
    assert translate("SELECT ?") is translate("SELECT ?")


# URLs


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("postgresql://u@h/db", True),
        ("postgres://u@h/db", True),
        ("POSTGRESQL://u@h/db", True),
        ("/srv/crm.db", False),
        ("postgresql.db", False),
        ("", False),
        (None, False),
    ],
)
def test_is_postgres_url(value, expected):
    assert is_postgres_url(value) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://crm:s3cr%40t@db.example/crm", "postgresql://crm:***@db.example/crm"),
        ("postgresql://crm@db.example/crm", "postgresql://crm@db.example/crm"),
        ("postgresql://db/crm?password=s3cret&sslmode=require", "postgresql://db/crm?password=***&sslmode=require"),
        ("postgresql://db/crm?sslmode=require&sslpassword=x", "postgresql://db/crm?sslmode=require&sslpassword=***"),
        ("postgres://u:p@h1:5432,h2:5433/crm", "postgres://u:***@h1:5432,h2:5433/crm"),
    ],
)
def test_redacted_never_shows_a_password(url, expected):
    assert redacted(url) == expected


def test_a_location_prints_redacted():
    location = PgLocation("postgresql://u:hunter2@/crm?host=/tmp/pg")
    assert "hunter2" not in str(location) and "hunter2" not in repr(location)


@pytest.mark.parametrize(
    ("url", "schema"),
    [
        ("postgresql:///crm", "public"),
        ("postgresql:///crm?options=-csearch_path%3Dsales", "sales"),
        ("postgresql:///crm?options=-c%20search_path%3Dsales,public", "sales"),
        ("postgresql:///crm?options=--search_path%3DSales", "sales"),
        ("postgresql:///crm?options=-csearch_path%3D%22Sales%22", "Sales"),
        ("postgresql:///crm?host=/tmp&options=-cstatement_timeout%3D5", "public"),
    ],
)
def test_schema_from_the_search_path_option(url, schema):
    assert schema_of(url) == schema
