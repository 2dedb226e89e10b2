"""Exports that lose nothing: full NDJSON/JSON records, exact CSV, --keep-ids, the formula
guard, and property-based round trips (export → import → export finds 0 differences)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from conftest import NOW, add_contacts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from valuekit import ON_POSTGRES, param, typed

from crmctl import clock, csvcells, export, value_types
from crmctl.errors import InvalidInput, Refused
from crmctl.importer import import_contacts
from crmctl.properties import RESERVED
from crmctl.query.folding import fold
from crmctl.store import open_db, transaction


def dump(db) -> dict:
    """Every row that describes contacts and the catalogs, without surrogate ids of
    notes/conversations/messages."""
    return {
        "contacts": db.execute("SELECT * FROM contacts ORDER BY id").fetchall(),
        "tags": db.execute("SELECT name FROM tags ORDER BY name").fetchall(),
        "links": db.execute(
            "SELECT ct.contact_id, t.name FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id ORDER BY 1, 2"
        ).fetchall(),
        "properties": db.execute("SELECT name, folded, type, description FROM properties ORDER BY folded").fetchall(),
        "values": typed(
            db.execute(
                "SELECT v.contact_id, p.name, v.value FROM property_values v "
                "JOIN properties p ON p.id = v.property_id ORDER BY 1, 2"
            ).fetchall()
        ),
        "notes": db.execute("SELECT contact_id, body, author, created_at FROM notes ORDER BY id").fetchall(),
        "conversations": db.execute(
            "SELECT c.contact_id, c.subject, c.created_at, m.body, m.sender, m.sent_at FROM conversations c "
            "LEFT JOIN messages m ON m.conversation_id = c.id ORDER BY c.id, m.id"
        ).fetchall(),
    }


def imported(path, text: str, fmt: str, **options):
    database = open_db(path, create=True)
    with transaction(database):
        import_contacts(database, io.BytesIO(text.encode("utf-8")), fmt=fmt, actor="t", **options)
    return database


def exported(db, fmt: str) -> str:
    if fmt == "csv":
        return "".join(export.csv_lines(db))
    lines = [line for batch in export.full_batches(db) for line in batch]
    return "".join(line + "\n" for line in lines) if fmt == "ndjson" else "[" + ",\n".join(lines) + "]\n"


@pytest.fixture
def crm(db):
    add_contacts(
        db,
        [
            {
                "email": "ada@example.com",
                "name": " Ada ",
                "phone": "=1+1",
                "tags": ["vip", "a,b", "c;d"],
                "attributes": {
                    "E-mail": "x@y",
                    "Phone Number": "007",
                    "User ID": 3,
                    "ltv": 0.1,
                    "big": 1e300,
                    "tiny": 5e-324,
                    "renewal": "2027-01-31T00:00:00Z",
                },
                "notes": ["first\r\nline", "  padded  "],
                "conversations": [
                    {"subject": "Hello", "messages": [{"body": "hi\rthere", "sender": "ada"}, {"body": "b"}]}
                ],
            },
            {"email": "bob@example.org", "blocked_at": "2026-01-01T00:00:00Z", "last_seen_at": "2026-02-02T00:00:00Z"},
        ],
    )
    db.execute("INSERT INTO tags(name, name_key, created_at) VALUES ('unused', 'unused', ?)", [NOW])
    db.execute(
        "INSERT INTO properties(name, folded, type, description, created_at) VALUES ('vip', 'vip', 'boolean', 'Very important', ?)",
        [NOW],
    )
    db.conn.commit()
    return db


def test_full_export_record(crm):
    lines = exported(crm, "ndjson").splitlines()
    assert json.loads(lines[0]) == {
        "crmctl_export": 1,
        "tags": ["a,b", "c;d", "unused", "vip"],
        "properties": [
            {"name": "big", "type": "number", "description": None},
            {"name": "E-mail", "type": "text", "description": None},
            {"name": "ltv", "type": "number", "description": None},
            {"name": "Phone Number", "type": "text", "description": None},
            {"name": "renewal", "type": "date", "description": None},
            {"name": "tiny", "type": "number", "description": None},
            {"name": "User ID", "type": "number", "description": None},
            {"name": "vip", "type": "boolean", "description": "Very important"},
        ],
    }
    ada = json.loads(lines[1])
    assert list(ada) == [
        *("id", "email", "name", "phone", "user_id", "created_at", "last_seen_at", "blocked", "tags", "properties"),
        *("blocked_at", "notes", "conversations"),
    ]
    assert ada["properties"] == {
        "big": 1e300,
        "E-mail": "x@y",
        "ltv": 0.1,
        "Phone Number": "007",
        "renewal": "2027-01-31T00:00:00Z",
        "tiny": 5e-324,
        "User ID": 3,
    }
    assert '"ltv":0.1,' in lines[1] and '"tiny":5e-324' in lines[1]
    assert ada["notes"] == [
        {"body": "first\r\nline", "author": "seed", "created_at": NOW},
        {"body": "  padded  ", "author": "seed", "created_at": NOW},
    ]
    assert ada["conversations"][0]["messages"][0] == {"body": "hi\rthere", "sender": "ada", "sent_at": NOW}
    bob = json.loads(lines[2])
    assert (bob["blocked"], bob["blocked_at"]) == (True, "2026-01-01T00:00:00Z")


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
def test_export_into_an_empty_database_reproduces_every_contact(crm, tmp_path, fmt):
    text = exported(crm, fmt)
    path = tmp_path / "copy.db"
    if fmt == "csv":  # contacts, property values and tags; the catalog from the NDJSON export's first record
        imported(path, exported(crm, "ndjson").split("\n")[0] + "\n", "ndjson")
        copy = imported(path, text, fmt)
        keep = ("contacts", "links", "properties", "values")
        assert {k: dump(copy)[k] for k in keep} == {k: dump(crm)[k] for k in keep}
    else:
        copy = imported(path, text, fmt)
        assert dump(copy) == dump(crm)
    assert exported(copy, fmt) == text
    again = imported(path, text, fmt)  # re-import: nothing changes, nothing doubles
    assert dump(again) == dump(copy)


def test_the_catalog_record_declares_properties_and_refuses_another_type(crm, tmp_path):
    text = exported(crm, "ndjson")
    database = open_db(tmp_path / "other.db", create=True)
    with transaction(database):
        database.execute(
            "INSERT INTO properties(name, folded, type, created_at) VALUES ('LTV', 'ltv', 'text', ?)", [NOW]
        )
    with pytest.raises(InvalidInput) as caught:
        imported(tmp_path / "other.db", text, "ndjson")
    assert str(caught.value) == (
        "record 1: crmctl_export: properties: ltv is a number property in the export but a text property here; "
        "nothing was imported (retype it first: crmctl property retype LTV --type number)"
    )
    fresh = open_db(tmp_path / "fresh.db", create=True)
    with transaction(fresh):
        report = import_contacts(fresh, io.BytesIO(text.encode()), fmt="ndjson", actor="t")
    assert report.properties_created[-1] == {"name": "vip", "type": "boolean"}
    assert len(report.properties_created) == 8
    assert fresh.execute("SELECT description FROM properties WHERE name = 'vip'").fetchone() == ("Very important",)


def test_keep_ids(crm, tmp_path):
    crm.execute("DELETE FROM contacts WHERE id = 1")
    crm.conn.commit()
    text = exported(crm, "ndjson")
    copy = imported(tmp_path / "plain.db", text, "ndjson")
    assert copy.execute("SELECT id, email FROM contacts").fetchall() == [(1, "bob@example.org")]
    kept = imported(tmp_path / "kept.db", text, "ndjson", keep_ids=True)
    assert kept.execute("SELECT id, email FROM contacts").fetchall() == [(2, "bob@example.org")]
    imported(tmp_path / "kept.db", text, "ndjson", keep_ids=True)  # the same ids again: fine
    with transaction(kept):
        import_contacts(kept, io.BytesIO(b'{"email": "new@example.com"}\n'), fmt="ndjson", actor="t")
    assert kept.execute("SELECT id FROM contacts WHERE email = 'new@example.com'").fetchone() == (3,)


def test_keep_ids_never_reuses_an_id_the_database_gave_out(tmp_path):
    """Ids are never reused: an id at or below the sequence is refused, even if no contact holds it now."""
    database = imported(tmp_path / "t.db", '{"email": "a@example.com"}\n{"email": "b@example.com"}\n', "ndjson")
    with transaction(database):
        database.execute("DELETE FROM contacts WHERE id = 2")
    before = dump(database)
    records = '{"id": 2, "email": "c@example.com"}\n{"id": 1, "email": "A@example.com"}\n{"id": 7, "email": "d@example.com"}\n'
    with pytest.raises(Refused) as caught:
        imported(tmp_path / "t.db", records, "ndjson", keep_ids=True)
    assert str(caught.value) == (
        "--keep-ids: 1 record clashes with contacts or ids already here; nothing was imported:\n"
        "  line 1: id 2 is at or below the highest id this database has given out (2); ids are never reused"
    )
    assert dump(database) == before
    imported(tmp_path / "t.db", records.split("\n", 1)[1], "ndjson", keep_ids=True)
    assert database.execute("SELECT id, email FROM contacts ORDER BY id").fetchall() == [
        (1, "a@example.com"),
        (7, "d@example.com"),
    ]


def test_keep_ids_refuses_ids_taken_by_other_contacts(cli, crm, tmp_path):
    path = tmp_path / "x.ndjson"
    path.write_text(
        '{"id": 1, "email": "zed@example.com"}\n{"id": 9, "email": "BOB@example.org"}\n{"email": "n@x.io"}\n'
    )
    before = dump(crm)
    result = cli("contact", "import", path, "--keep-ids")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: 1 invalid record; nothing was imported (pass --skip-invalid to import the valid ones):\n"
        "  line 3: --keep-ids needs an id, a positive whole number\n"
    )
    result = cli("contact", "import", path, "--keep-ids", "--skip-invalid")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: --keep-ids: 2 records clash with contacts or ids already here; nothing was imported:\n"
        "  line 1: id 1 belongs to another contact\n"
        "  line 2: this email has id 2, not 9\n"
    )
    assert dump(crm) == before


def test_csv_export_quotes_guards_and_names_colliding_properties(crm):
    text = exported(crm, "csv")
    header, ada, bob = list(csv.reader(io.StringIO(text, newline="")))
    assert header == [
        *("id", "email", "name", "phone", "user_id", "created_at", "last_seen_at", "blocked", "blocked_at", "tags"),
        *("big", "property:E-mail", "ltv", "property:Phone Number", "renewal", "tiny", "property:User ID", "vip"),
    ]
    assert ada[2:4] == ["' Ada ", "'=1+1"]
    assert ada[9] == '["a,b","c;d","vip"]'
    assert ada[10:] == ["1e+300", "x@y", "0.1", "007", "2027-01-31T00:00:00Z", "5e-324", "3", ""]
    assert bob[7:9] == ["true", "2026-01-01T00:00:00Z"]


def test_csv_raw_turns_the_guard_off(cli, crm):
    raw = cli("contact", "list", "-f", "csv", "--raw").stdout
    assert "\n1,ada@example.com, Ada ,=1+1," in raw
    assert "\n1,ada@example.com,' Ada ,'=1+1," in cli("contact", "export", "-f", "csv").stdout


def test_guard_rules():
    for value in ["=SUM(A1)", "+44", "-x", "@me", "\tx", "\rx", "'quoted", " pad", "pad "]:
        assert csvcells.unguard(csvcells.guard(value)) == value
    for value in ["plain", "O'Brien", "a=b"]:
        assert csvcells.guard(value) == value and csvcells.unguard(value) is None
    assert csvcells.line(["a\rb", 'q"', "x,y", "ok"]) == '"a\rb","q""",' + '"x,y",ok\n'


def test_export_command(cli, crm):
    result = cli("contact", "export", "-w", "blocked", "-f", "json")
    records = json.loads(result.stdout)
    assert [r.get("email") for r in records] == [None, "bob@example.org"]
    assert len(cli("contact", "export").stdout.splitlines()) == 3  # ndjson by default


def test_contact_list_json_floats_are_exact(cli, crm):
    record = json.loads(cli("contact", "list", "-f", "ndjson").stdout.splitlines()[0])
    assert (record["properties"]["ltv"], record["properties"]["tiny"]) == (0.1, 5e-324)


# Property-based round trips ---------------------------------------------------------------
#
# A source database with properties of every type, named to collide with built-in columns
# (`E-mail`, `Phone Number`, `notes`, `property:x`) or to need quoting and guarding, holding
# hostile text (a lone CR, NUL, quotes, delimiters, formula starts, outer spaces), extreme
# floats and 64-bit integers. A full export imported into an empty database, and a CSV export
# imported into a database that has the catalog, export again to the very same text.

# PostgreSQL text cannot hold NUL, and its jsonb numbers have no -0.0: both are refused or
# read back as 0.0 there, as the README says, so the round trips leave them out on it.
_NOT_ON_POSTGRES = "\x00" if ON_POSTGRES else ""
_hostile = st.text(
    st.one_of(
        st.sampled_from(
            [
                c
                for c in ["\r", "\n", '"', ",", ";", "\t", "=", "+", "-", "@", "'", " ", "[", "\x00", "é"]
                if c != _NOT_ON_POSTGRES
            ]
        ),
        st.characters(blacklist_categories=["Cs"], blacklist_characters=_NOT_ON_POSTGRES),
    ),
    min_size=1,
    max_size=12,
)
_solid = _hostile.filter(str.strip)  # blank text is no value
_COLLIDING = ["E-mail", "Phone Number", "Created", "User-Id", "Tags!", "notes", "property:x", "=k", "'q", "a,b", "x\ry"]
_name = (
    st.one_of(st.sampled_from(_COLLIDING), _hostile)
    .map(str.strip)
    .filter(lambda n: n and "\x00" not in n and fold(n) not in RESERVED)
)
_numbers = st.one_of(
    st.integers(value_types.INT64[0], value_types.INT64[1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([5e-324, -0.0, 1.7976931348623157e308, 0.1 + 0.2, 1e16, -1.5e-07]),
).filter(lambda number: not (ON_POSTGRES and number == 0 and math.copysign(1, number) < 0))
_dates = st.datetimes(datetime(1000, 1, 1), datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda moment: clock.format_time(moment.replace(tzinfo=UTC, microsecond=0))
)
VALUES = {"text": _solid, "number": _numbers, "boolean": st.booleans(), "date": _dates}
_catalog = st.dictionaries(_name, st.sampled_from(list(VALUES)), min_size=1, max_size=5).map(
    lambda named: {fold(name): (name, kind) for name, kind in named.items()}
)


@st.composite
def _crm(draw) -> tuple[dict, list[dict]]:
    catalog = {name: kind for name, kind in draw(_catalog).values()}
    person = st.fixed_dictionaries(
        {
            "name": st.none() | _solid,
            "phone": st.none() | _solid,
            "values": st.fixed_dictionaries({name: st.none() | VALUES[kind] for name, kind in catalog.items()}),
            "tags": st.lists(_solid.map(str.strip).filter(lambda t: "\x00" not in t), max_size=3, unique_by=fold),
            "notes": st.lists(_solid, max_size=2),
            "blocked_at": st.sampled_from([None, "2026-01-01T00:00:00Z"]),
        }
    )
    return catalog, draw(st.lists(person, min_size=1, max_size=4))


def _fill(db, catalog: dict, people: list[dict]) -> None:
    from conftest import declare

    ids = {name: declare(db, name, kind)[0] for name, kind in catalog.items()}
    for i, person in enumerate(people):
        add_contacts(
            db,
            [
                {
                    "email": f"p{i}@example.com",
                    **{k: person[k] for k in ("name", "phone", "blocked_at") if person[k] is not None},
                    "tags": person["tags"],
                    "notes": person["notes"],
                }
            ],
        )
        contact_id = db.execute("SELECT max(id) FROM contacts").fetchone()[0]
        for name, value in person["values"].items():
            if value is not None:
                db.execute(
                    "INSERT INTO property_values(contact_id, property_id, value) VALUES (?, ?, ?)",
                    [contact_id, ids[name], param(value_types.parse(catalog[name], value))],
                )
    db.conn.commit()


ROUND_TRIP = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@contextmanager
def _places(folder):
    """Where a round trip's databases live: files in `folder` on SQLite; on PostgreSQL (with
    CRMCTL_TEST_PG) fresh schemas, dropped afterwards, so the round trip runs on the backend
    under test (a path would open SQLite, fed jsonb-text parameters)."""
    if not ON_POSTGRES:
        yield lambda name: folder / name
        return
    from conftest import drop_schema, pg_url

    from crmctl.store.connection import resolve_path

    schemas: dict[str, str] = {}

    def place(name):
        schema = schemas.setdefault(name, f"t_{os.getpid()}_rt_{secrets.token_hex(4)}")
        return resolve_path(pg_url(schema))

    try:
        yield place
    finally:
        for schema in schemas.values():
            drop_schema(schema)


@ROUND_TRIP
@given(crm=_crm(), fmt=st.sampled_from(["ndjson", "json"]))
def test_full_export_import_export_finds_no_difference(tmp_path_factory, crm, fmt):
    with _places(tmp_path_factory.mktemp("rt")) as place:
        source = open_db(place("source.db"), create=True)
        _fill(source, *crm)
        first = exported(source, fmt)
        copy = imported(place("copy.db"), first, fmt, keep_ids=True)
        assert exported(copy, fmt) == first
        assert dump(copy) == dump(source)
        source.close()
        copy.close()


@ROUND_TRIP
@given(crm=_crm())
def test_csv_export_import_export_finds_no_difference(tmp_path_factory, crm):
    with _places(tmp_path_factory.mktemp("rt")) as place:
        source = open_db(place("source.db"), create=True)
        _fill(source, *crm)
        first = exported(source, "csv")
        catalog = imported(place("copy.db"), exported(source, "ndjson").split("\n")[0] + "\n", "ndjson")
        catalog.close()
        copy = imported(place("copy.db"), first, "csv")
        assert exported(copy, "csv") == first
        keep = ("contacts", "links", "properties", "values")
        assert {k: dump(copy)[k] for k in keep} == {k: dump(source)[k] for k in keep}
        source.close()
        copy.close()
