"""Exports that lose nothing: full NDJSON/JSON records, exact CSV, --keep-ids, the formula
guard, and property-based round trips (export → import → export finds 0 differences)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from conftest import NOW, add_contacts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmctl import csvcells, export
from crmctl.importer import import_contacts
from crmctl.store import open_db, transaction

DATA = ("contacts", "tags", "contact_tags", "attributes", "notes", "conversations", "messages")


def dump(db) -> dict:
    """Every row that describes contacts, without surrogate ids of notes/conversations/messages."""
    return {
        "contacts": db.execute("SELECT * FROM contacts ORDER BY id").fetchall(),
        "tags": db.execute("SELECT name FROM tags ORDER BY name").fetchall(),
        "links": db.execute(
            "SELECT ct.contact_id, t.name FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id ORDER BY 1, 2"
        ).fetchall(),
        "attributes": db.execute(
            "SELECT contact_id, key, value, typeof(value) FROM attributes ORDER BY 1, 2"
        ).fetchall(),
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
                "attributes": {"Name": "prop", "EMAIL": "x@y", "id": 3, "ltv": 0.1, "big": 1e300, "tiny": 5e-324},
                "notes": ["first\r\nline", "  padded  "],
                "conversations": [
                    {"subject": "Hello", "messages": [{"body": "hi\rthere", "sender": "ada"}, {"body": "b"}]}
                ],
            },
            {"email": "bob@example.org", "blocked_at": "2026-01-01T00:00:00Z", "last_seen_at": "2026-02-02T00:00:00Z"},
        ],
    )
    db.execute("INSERT INTO tags(name, created_at) VALUES ('unused', ?)", [NOW])
    db.conn.commit()
    return db


def test_full_export_record(crm):
    lines = exported(crm, "ndjson").splitlines()
    assert json.loads(lines[0]) == {"crmctl_export": 1, "tags": ["a,b", "c;d", "unused", "vip"]}
    ada = json.loads(lines[1])
    assert list(ada) == [
        *("id", "email", "name", "phone", "user_id", "created_at", "last_seen_at", "blocked", "tags", "attributes"),
        *("blocked_at", "notes", "conversations"),
    ]
    assert ada["attributes"] == {"EMAIL": "x@y", "Name": "prop", "big": 1e300, "id": 3, "ltv": 0.1, "tiny": 5e-324}
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
    copy = imported(tmp_path / "copy.db", text, fmt)
    if fmt == "csv":  # contacts, properties and tags only
        keep = ("contacts", "links", "attributes")
        assert {k: dump(copy)[k] for k in keep} == {k: dump(crm)[k] for k in keep}
    else:
        assert dump(copy) == dump(crm)
    assert exported(copy, fmt) == text
    again = imported(tmp_path / "copy.db", text, fmt)  # re-import: nothing changes, nothing doubles
    assert dump(again) == dump(copy)


def test_keep_ids(crm, tmp_path):
    crm.execute("DELETE FROM contacts WHERE id = 1")
    crm.conn.commit()
    text = exported(crm, "ndjson")
    copy = imported(tmp_path / "plain.db", text, "ndjson")
    assert copy.execute("SELECT id, email FROM contacts").fetchall() == [(1, "bob@example.org")]
    kept = imported(tmp_path / "kept.db", text, "ndjson", keep_ids=True)
    assert kept.execute("SELECT id, email FROM contacts").fetchall() == [(2, "bob@example.org")]
    imported(tmp_path / "kept.db", text, "ndjson", keep_ids=True)  # the same ids again: fine


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
        "Error: --keep-ids: 2 records clash with contacts already here; nothing was imported:\n"
        "  line 1: id 1 belongs to another contact\n"
        "  line 2: this email has id 2, not 9\n"
    )
    assert dump(crm) == before


def test_csv_export_quotes_guards_and_names_colliding_properties(crm):
    text = exported(crm, "csv")
    header, ada, bob = list(csv.reader(io.StringIO(text, newline="")))
    assert header == [
        *("id", "email", "name", "phone", "user_id", "created_at", "last_seen_at", "blocked", "blocked_at", "tags"),
        *("property:EMAIL", "property:Name", "big", "property:id", "ltv", "tiny"),
    ]
    assert ada[2:4] == ["' Ada ", "'=1+1"]
    assert ada[9] == '["a,b","c;d","vip"]'
    assert ada[10:] == ["x@y", "prop", "1e+300", "3", "0.1", "5e-324"]
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
    assert (record["attributes"]["ltv"], record["attributes"]["tiny"]) == (0.1, 5e-324)


# Property-based round trips ---------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1, max_size=12)
_keys = st.one_of(st.sampled_from(["Name", "EMAIL", "id ", "Tags", "property:x", " pad", "E-mail", "=k"]), _text)
_values = st.one_of(
    _text.filter(str.strip),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**63), 2**63 - 1),
)
_tag = _text.map(str.strip).filter(lambda t: t and len(t) <= 100)
_contact = st.fixed_dictionaries(
    {
        "name": st.one_of(st.none(), _text.filter(str.strip)),
        "phone": st.one_of(st.none(), _text.filter(str.strip)),
        "attributes": st.dictionaries(
            _keys.map(str.strip).filter(
                lambda k: (
                    k
                    and k.lower()
                    not in (
                        "email",
                        "name",
                        "phone",
                        "user_id",
                        "created_at",
                        "last_seen_at",
                        "blocked",
                        "blocked_at",
                        "tags",
                        "id",
                        "conversations",
                        "attributes",
                        "notes",
                        "properties",
                    )
                )
            ),
            _values,
            max_size=4,
        ),
        "tags": st.lists(_tag, max_size=3, unique_by=str.casefold),
        "notes": st.lists(_text.filter(str.strip), max_size=2),
        "blocked_at": st.sampled_from([None, "2026-01-01T00:00:00Z"]),
    }
)


def _fill(db, people: list[dict]) -> None:
    rows = [{"email": f"p{i}@example.com", **person} for i, person in enumerate(people)]
    for row in rows:
        row["attributes"] = {k: v for k, v in row["attributes"].items()}
        if row["name"] is None:
            del row["name"]
    add_contacts(db, rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=st.lists(_contact, min_size=1, max_size=4), fmt=st.sampled_from(["ndjson", "json", "csv"]))
def test_export_import_export_finds_no_difference(tmp_path_factory, people, fmt):
    folder = tmp_path_factory.mktemp("rt")
    source = open_db(folder / "source.db", create=True)
    _fill(source, people)
    first = exported(source, fmt)
    copy = imported(folder / "copy.db", first, fmt)
    assert exported(copy, fmt) == first
