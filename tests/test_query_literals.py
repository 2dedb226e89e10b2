"""Hostile text in values and attribute keys is matched literally and never executed."""

from __future__ import annotations

import unicodedata

import pytest
from conftest import set_value

from crmctl.query import compile_filter, value_expression

NOW = "2026-11-01T12:00:00Z"

HOSTILE = [
    "'; DROP TABLE contacts; --",
    "Robert'); DROP TABLE tags;--",
    '" OR 1=1 --',
    "x' OR 'x'='x",
    ") OR (1=1",
    "*/ SELECT 1 /*",
    "%",
    "_",
    "a%b_c",
    "100%",
    "\\",
    "C:\\temp\\new",
    "\\%",
    "it's",
    'say "hi"',
    "?",
    ":name",
    "$1",
    "NULL",
    "tab\there",
    "new\nline",
    "Ümlaut Ω 漢字 🙂",
    "Ǆemal",
]


def literal(text: str, quote: str = '"') -> str:
    escaped = text.replace("\\", "\\\\").replace(quote, "\\" + quote).replace("\n", "\\n").replace("\t", "\\t")
    return quote + escaped + quote


def fold(text: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


@pytest.fixture
def hostile_db(db):
    for number, text in enumerate(HOSTILE, start=1):
        db.execute("INSERT INTO contacts(id, email, name) VALUES (?, ?, ?)", [number, f"c{number}@x", text])
        set_value(db, number, text, text, "text")
        set_value(db, number, "note", text, "text")
        db.execute("INSERT INTO tags(name, created_at) VALUES (?, ?)", [text, NOW])
        db.execute(
            "INSERT INTO contact_tags(tag_id, contact_id, added_at) SELECT id, ?, ? FROM tags WHERE name = ?",
            [number, NOW, text],
        )
    db.conn.commit()
    return db


def selected(db, text: str) -> list[int]:
    condition = compile_filter(db, text)
    rows = db.execute(f"SELECT c.id FROM contacts AS c WHERE {condition.sql} ORDER BY c.id", condition.params)
    return [row[0] for row in rows]


def intact(db) -> None:
    assert db.execute("SELECT count(*) FROM contacts").fetchone()[0] == len(HOSTILE)
    assert db.execute("SELECT count(*) FROM tags").fetchone()[0] == len(HOSTILE)
    assert {"contacts", "tags", "property_values", "contact_tags"} <= set(db.table_names())


@pytest.mark.parametrize("number, text", list(enumerate(HOSTILE, start=1)))
@pytest.mark.parametrize("quote", ['"', "'"])
def test_hostile_values_and_keys_match_literally(hostile_db, number, text, quote):
    db = hostile_db
    value = literal(text, quote)
    names = dict(enumerate(HOSTILE, start=1))
    containing = [i for i, name in names.items() if fold(text) in fold(name)]
    starting = [i for i, name in names.items() if fold(name).startswith(fold(text))]
    assert selected(db, f"name == {value}") == [number]
    assert selected(db, f"note == {value}") == [number]
    assert selected(db, f"note != {value}") == [i for i in names if i != number]
    assert selected(db, f"note in [{value}, {value}]") == [number]
    assert selected(db, f"attr({value}) == {value}") == [number]
    # Property names match without regard to case: "x' OR …" and "x' or …" are one property.
    assert selected(db, f"attr({value}) exists") == [i for i, name in names.items() if fold(name) == fold(text)]
    assert selected(db, f"tags contains {value}") == [number]
    assert selected(db, f"name contains {value}") == containing
    assert selected(db, f"note contains {value}") == containing
    assert selected(db, f"name startswith {value}") == starting
    condition = compile_filter(db, f"attr({value}) == {value} or name contains {value}")
    (property_id,) = db.execute("SELECT id FROM properties WHERE folded = ?", [fold(text)]).fetchone()
    assert condition.params == [property_id, text, fold(text)]
    sql, params = value_expression(db, f"attr({value})")
    assert params == [property_id]
    assert db.execute(f"SELECT {sql} FROM contacts AS c WHERE c.id = ?", [*params, number]).fetchone()[0] == text
    intact(db)


def test_hostile_text_is_only_ever_a_parameter(hostile_db):
    everything = " or ".join(f"name == {literal(t)} or tags contains {literal(t)}" for t in HOSTILE)
    condition = compile_filter(hostile_db, everything)
    # Nothing but identifiers, operators and placeholders: no quote, no comment, no semicolon.
    assert set(condition.sql) <= set("abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ.,()?= ")
    assert condition.params.count("'; DROP TABLE contacts; --") == 1
    assert selected(hostile_db, everything) == list(range(1, len(HOSTILE) + 1))
    intact(hostile_db)


def test_long_lists_are_parameters_too(hostile_db):
    values = ", ".join(literal(f"v{i}") for i in range(2000))
    assert selected(hostile_db, f"note in [{values}, {literal('%')}]") == [HOSTILE.index("%") + 1]
