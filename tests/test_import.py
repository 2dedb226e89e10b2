"""`contact import` as a library call: formats, spreadsheet files, numbers, upserts,
idempotency, bad rows with exact line numbers, all-or-nothing, conversations, audit."""

from __future__ import annotations

import io
import json

import pytest
from conftest import NOW
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from valuekit import typed, typeof

from crmctl.errors import InvalidInput
from crmctl.importer import ImportReport, import_contacts, readers, run
from crmctl.store import open_db, transaction

TABLES = ("contacts", "tags", "contact_tags", "property_values", "conversations", "messages", "audit", "audit_contacts")


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "t.db", create=True)
    yield database
    database.close()


def load(db, data: bytes | str, filename: str = "people.csv", **options) -> ImportReport:
    """Import `data`; columns that are not properties yet are declared (tests of the catalog
    rules themselves pass create_properties=False)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    options.setdefault("create_properties", True)
    with transaction(db):
        return import_contacts(db, io.BytesIO(data), filename=filename, actor="tester", **options)


def refusal(db, data: bytes | str, filename: str = "people.csv", **options) -> str:
    before = dump(db)
    with pytest.raises(InvalidInput) as caught:
        load(db, data, filename, **options)
    assert dump(db) == before, "a refused import must change nothing"
    return str(caught.value)


def counts(report: dict) -> dict:
    """The report without its description of the input (format, dialect, columns)."""
    return {k: v for k, v in report.items() if k not in ("format", "dialect", "columns", "mapping", "dry_run")}


def dump(db, tables=TABLES) -> dict:
    return {table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in tables}


def contact(db, email: str) -> dict:
    row = db.execute(
        "SELECT id, email, name, phone, user_id, created_at, last_seen_at, blocked_at FROM contacts WHERE email = ?",
        [email],
    ).fetchone()
    assert row is not None, f"no contact {email}"
    keys = ("id", "email", "name", "phone", "user_id", "created_at", "last_seen_at", "blocked_at")
    return dict(zip(keys, row, strict=True))


def attributes(db, email: str) -> dict:
    return {
        key: (value, typeof(value))
        for key, value in db.execute(
            "SELECT p.name, a.value FROM property_values a JOIN contacts c ON c.id = a.contact_id "
            "JOIN properties p ON p.id = a.property_id WHERE c.email = ?",
            [email],
        )
    }


def tags(db, email: str) -> list[str]:
    return sorted(
        r[0]
        for r in db.execute(
            "SELECT t.name FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id JOIN contacts c ON c.id = ct.contact_id "
            "WHERE c.email = ?",
            [email],
        )
    )


def ndjson(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# Formats ----------------------------------------------------------------------------------

CSV_PEOPLE = (
    "email,name,phone,user_id,created_at,last_seen_at,tags,plan,score\n"
    "ada@example.com,Ada,+44 20 7946 0000,u1,2024-03-01,2026-10-01T08:30:00+02:00,vip;beta,pro,80\n"
    "bob@example.org,Bob,,,,,,trial,\n"
)
JSON_PEOPLE = [
    {
        "email": "ada@example.com",
        "name": "Ada",
        "phone": "+44 20 7946 0000",
        "user_id": "u1",
        "created_at": "2024-03-01",
        "last_seen_at": "2026-10-01T08:30:00+02:00",
        "tags": ["vip", "beta"],
        "plan": "pro",
        "score": 80,
    },
    {"email": "bob@example.org", "name": "Bob", "plan": "trial"},
]


@pytest.mark.parametrize(
    "filename, data",
    [
        ("people.csv", CSV_PEOPLE),
        ("people.json", json.dumps(JSON_PEOPLE, indent=2)),
        ("people.ndjson", ndjson(*JSON_PEOPLE)),
    ],
)
def test_each_format_imports_the_same_contacts(db, filename, data):
    report = load(db, data, filename)
    assert counts(report.to_dict()) == {
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "problems": [],
        "tags_created": ["beta", "vip"],
        "properties_created": [{"name": "plan", "type": "text"}, {"name": "score", "type": "number"}],
    }
    assert contact(db, "ada@example.com") == {
        "id": 1,
        "email": "ada@example.com",
        "name": "Ada",
        "phone": "+44 20 7946 0000",
        "user_id": "u1",
        "created_at": "2024-03-01T00:00:00Z",
        "last_seen_at": "2026-10-01T06:30:00Z",
        "blocked_at": None,
    }
    assert contact(db, "bob@example.org")["created_at"] == NOW  # missing created_at: the import time
    assert attributes(db, "ada@example.com") == {"plan": ("pro", "text"), "score": (80, "integer")}
    assert attributes(db, "bob@example.org") == {"plan": ("trial", "text")}
    assert tags(db, "ada@example.com") == ["beta", "vip"]


@pytest.mark.parametrize(
    "filename, fmt, data",
    [
        ("x.CSV", None, CSV_PEOPLE),
        ("x.jsonl", None, ndjson(*JSON_PEOPLE)),
        ("x.json", None, json.dumps(JSON_PEOPLE)),
        ("-", "ndjson", ndjson(*JSON_PEOPLE)),
        ("x.txt", "csv", CSV_PEOPLE),
        ("x.csv", "json", json.dumps(JSON_PEOPLE)),  # --format wins over the extension
    ],
)
def test_format_from_extension_or_option(db, filename, fmt, data):
    assert load(db, data, filename, fmt=fmt).inserted == 2


@pytest.mark.parametrize(
    "filename, fmt, message",
    [
        ("-", None, "cannot tell the format of stdin: pass --input-format"),
        ("people.txt", None, "cannot tell the format of people.txt: pass --input-format csv, json or ndjson"),
        ("people.csv", "xml", "unknown format 'xml': use csv, json or ndjson"),
    ],
)
def test_unknown_format_is_refused(db, filename, fmt, message):
    assert refusal(db, CSV_PEOPLE, filename, fmt=fmt) == message


def test_spreadsheet_csv_with_bom_crlf_and_embedded_newlines(db):
    data = (
        "\ufeffEmail,Name,Notes,Company\r\n"
        'ada@example.com,"Lovelace, Ada","line one\r\nline two",Acme\r\n'
        '"bob@example.org",Bob,"say ""hi""",\r\n'
        "\r\n"
        "not-an-email,Cy,,\r\n"
    ).encode("utf-8")
    report = load(db, data, skip_invalid=True)
    assert (report.inserted, report.rejected) == (2, 1)
    assert report.problems == ["line 6: invalid email 'not-an-email'"]  # the physical line, after the 2-line record
    assert contact(db, "ada@example.com")["name"] == "Lovelace, Ada"
    assert attributes(db, "ada@example.com") == {"Notes": ("line one\nline two", "text"), "Company": ("Acme", "text")}
    assert attributes(db, "bob@example.org") == {"Notes": ('say "hi"', "text")}


def test_csv_numbers_and_text(db):
    values = {
        "a": ("007", "text"),
        "b": ("+4420", "text"),
        "c": ("0.5", "real"),
        "d": ("0", "integer"),
        "e": ("-12", "integer"),
        "f": ("1.50", "real"),
        "g": ("1e5", "real"),
        "h": ("1,000", "text"),
        "i": ("12345678901234567890123", "text"),
        "j": ("42", "integer"),
        "k": ("-0.25", "real"),
        "l": (" 9 ", "integer"),
        "m": ("00.5", "text"),
        "n": ("5.", "text"),
    }
    header = "email," + ",".join(values)
    row = "ada@example.com," + ",".join(f'"{text}"' for text, _ in values.values())
    load(db, f"{header}\n{row}\n")
    stored = attributes(db, "ada@example.com")
    assert {key: kind for key, (_, kind) in stored.items()} == {key: kind for key, (_, kind) in values.items()}
    assert stored["a"][0] == "007" and stored["c"][0] == 0.5 and stored["f"][0] == 1.5 and stored["l"][0] == 9


def test_json_values_keep_their_types(db):
    load(
        db,
        ndjson(
            {
                "email": "ada@example.com",
                "zip": "007",
                "n": 7,
                "r": 0.5,
                "yes": True,
                "no": False,
                "empty": "",
                "none": None,
            }
        ),
        "x.ndjson",
    )
    assert attributes(db, "ada@example.com") == {
        "zip": ("007", "text"),
        "n": (7, "integer"),
        "r": (0.5, "real"),
        "yes": (1, "integer"),
        "no": (0, "integer"),
    }


def test_empty_csv_cells_mean_no_value(db):
    load(db, "email,name,plan\nada@example.com,Ada,pro\n")
    report = load(db, "email,name,plan,country\nADA@example.com,,,DE\n")
    assert report.updated == 1
    assert contact(db, "ada@example.com")["name"] == "Ada"
    assert attributes(db, "ada@example.com") == {"plan": ("pro", "text"), "country": ("DE", "text")}


def test_tags_split_on_semicolons_or_commas_and_reuse_the_catalog(db):
    load(db, "email,tags\nold@example.com,VIP\n")
    report = load(db, 'email,tags\nada@example.com,"vip; beta,Newsletter;;beta"\nbob@example.org,NEWSLETTER\n')
    assert report.tags_created == ["beta", "Newsletter"]
    assert tags(db, "ada@example.com") == ["Newsletter", "VIP", "beta"]
    assert tags(db, "bob@example.org") == ["Newsletter"]
    assert db.execute("SELECT count(*) FROM tags").fetchone()[0] == 3


# Upserts ----------------------------------------------------------------------------------


def test_upsert_by_email_ignores_case_and_follows_update_rules(db):
    load(db, "email,name,phone,tags,plan,score\nAda@Example.com,Ada,0123,vip,pro,80\n")
    report = load(
        db,
        ndjson({"email": "ada@EXAMPLE.com", "name": "Ada L.", "tags": ["beta"], "score": 90, "country": "GB"}),
        "x.ndjson",
    )
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 0)
    stored = contact(db, "ada@example.com")
    assert stored["email"] == "Ada@Example.com"  # the key keeps its stored spelling
    assert (stored["name"], stored["phone"]) == ("Ada L.", "0123")  # given overwrites, missing leaves
    assert tags(db, "ada@example.com") == ["beta", "vip"]  # added, never removed
    assert attributes(db, "ada@example.com") == {
        "plan": ("pro", "text"),
        "score": (90, "integer"),
        "country": ("GB", "text"),
    }
    assert db.execute("SELECT count(*) FROM contacts").fetchone()[0] == 1


def test_reimporting_the_same_file_changes_nothing(db):
    data = ndjson(
        {
            "email": "ada@example.com",
            "name": "Ada",
            "tags": ["vip"],
            "score": 1.5,
            "blocked": True,
            "conversations": [
                {
                    "subject": "Hi",
                    "messages": [
                        {"body": "hello", "sender": "contact", "sent_at": "2026-01-02T10:00:00Z"},
                        {"body": "hi!", "sender": "agent", "sent_at": "2026-01-02T11:00:00Z"},
                    ],
                }
            ],
        },
        {
            "email": "bob@example.org",
            "created_at": "2025-05-05",
            "blocked": "2026-02-02T00:00:00Z",
            "conversations": [{"subject": None, "messages": []}],
        },
    )
    first = load(db, data, "x.ndjson")
    assert (first.inserted, first.updated) == (2, 0)
    before = dump(db, TABLES[:6])
    again = load(db, data, "x.ndjson")
    assert counts(again.to_dict()) == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 2,
        "rejected": 0,
        "problems": [],
        "tags_created": [],
        "properties_created": [],
    }
    assert dump(db, TABLES[:6]) == before


def test_repeated_email_in_one_file_is_a_bad_row(db):
    data = "email,name\nada@example.com,Ada\nbob@example.org,Bob\nADA@example.com,Ada again\n"
    assert refusal(db, data).splitlines()[1:] == ["  line 4: same email as line 2"]
    report = load(db, data, skip_invalid=True)
    assert (report.inserted, report.rejected, report.problems) == (2, 1, ["line 4: same email as line 2"])
    assert contact(db, "ada@example.com")["name"] == "Ada"


@pytest.mark.parametrize(
    "blocked, expected",
    [
        ("true", NOW),
        ("yes", NOW),
        ("2026-02-03T04:05:06+01:00", "2026-02-03T03:05:06Z"),
        ("false", None),
        ("", None),
    ],
)
def test_blocked_column_on_insert(db, blocked, expected):
    load(db, f"email,blocked\nada@example.com,{blocked}\n")
    assert contact(db, "ada@example.com")["blocked_at"] == expected


def test_blocked_on_update(db):
    load(db, "email,blocked\na@example.com,2026-01-01\nb@example.com,2026-01-01\nc@example.com,2026-01-01\n")
    report = load(db, "email,blocked\na@example.com,true\nb@example.com,false\nc@example.com,\n")
    assert (report.updated, report.unchanged) == (1, 2)
    assert contact(db, "a@example.com")["blocked_at"] == "2026-01-01T00:00:00Z"  # true keeps an earlier block
    assert contact(db, "b@example.com")["blocked_at"] is None  # false unblocks
    assert contact(db, "c@example.com")["blocked_at"] == "2026-01-01T00:00:00Z"  # empty leaves it


# Bad rows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filename, data, problem",
    [
        ("x.csv", "email,name\nada@example.com,Ada\n,Nobody\n", "line 3: no email"),
        ("x.csv", "email\nada@example.com\nnot an email\n", "line 3: invalid email 'not an email'"),
        (
            "x.csv",
            "email,created_at\nada@example.com,yesterday\n",
            "line 2: created_at: 'yesterday' is not an ISO-8601 date or time: pass --date-format (strftime, or unix)",
        ),
        (
            "x.csv",
            "email,last_seen_at\nada@example.com,2026-02-30\n",
            "line 2: last_seen_at: '2026-02-30' is not an ISO-8601 date or time: pass --date-format (strftime, or unix)",
        ),
        (
            "x.csv",
            "email,created_at\nada@example.com,0005-01-01\n",
            "line 2: created_at: year out of range: '0005-01-01'",
        ),
        (
            "x.csv",
            'email,name\n"ada@example.com","Ada\nLovelace"\nb@example.com,B,extra\n',
            "line 4: 3 fields, but the header names 2",
        ),
        (
            "x.csv",
            "email,,name\nada@example.com,oops,Ada\n",
            "line 2: a value in column 2, which has no name in the header",
        ),
        (
            "x.csv",
            "email,blocked\nada@example.com,maybe\n",
            "line 2: blocked must be true, false or an ISO-8601 time, not 'maybe'",
        ),
        (
            "x.csv",
            "email,blocked,blocked_at\nada@example.com,false,2026-01-01\n",
            "line 2: blocked is false but blocked_at is given",
        ),
        (
            "x.ndjson",
            '{"email": "ada@example.com"}\n\n{"email": "b@example.com", "name": 5}\n',
            "line 3: name must be text, not a number",
        ),
        (
            "x.ndjson",
            '{"email": "ada@example.com"}\n{"email": oops}\n',
            "line 2: invalid JSON at column 11: Expecting value",
        ),
        ("x.ndjson", '["ada@example.com"]\n', "line 1: expected an object, not a list"),
        (
            "x.ndjson",
            '{"email": "ada@example.com", "name": "\\ud800"}\n',
            "line 1: text with an unpaired surrogate escape (\\ud800-\\udfff) is not valid Unicode",
        ),
        (
            "x.json",
            '[{"email": "ada@example.com", "\\uDFFF": 1}]',
            "record 1: text with an unpaired surrogate escape (\\ud800-\\udfff) is not valid Unicode",
        ),
        ("x.ndjson", '{"email": "ada@example.com", "tags": "vip", "TAGS": "x"}\n', "line 1: 'tags' is given twice"),
        ("x.json", '[{"email": "ada@example.com"}, 7]', "record 2: expected an object, not a number"),
        ("x.json", '[{"email": 7}]', "record 1: email must be text, not a number"),
        (
            "x.json",
            '[{"email": "a@example.com", "tags": [1]}]',
            "record 1: tags must be a list of text, not of a number",
        ),
        (
            "x.json",
            '[{"email": "a@example.com", "plan": {"x": 1}}]',
            "record 1: plan must be text, a number or a boolean, not an object",
        ),
        ("x.json", '[{"email": "a@example.com", "score": NaN}]', "record 1: score: nan is not a finite number"),
        (
            "x.json",
            '[{"email": "a@example.com", "n": 99999999999999999999}]',
            "record 1: n: 99999999999999999999 is out of the 64-bit integer range",
        ),
        (
            "x.json",
            '[{"email": "a@example.com", "blocked": 1}]',
            "record 1: blocked must be true, false or an ISO-8601 time, not a number",
        ),
        (
            "x.json",
            '[{"email": "a@example.com", "conversations": [{"subject": "Hi", "messages": [{"text": "x"}]}]}]',
            "record 1: conversations[0].messages[0]: unknown key 'text' (expected body, sender, sent_at)",
        ),
        (
            "x.json",
            '[{"email": "a@example.com", "conversations": [{"messages": [{"sent_at": "soon"}]}]}]',
            "record 1: conversations[0].messages[0].sent_at: 'soon' is not an ISO-8601 date or time: pass --date-format (strftime, or unix)",
        ),
    ],
)
def test_bad_row_messages(db, filename, data, problem):
    message = refusal(db, data, filename)
    assert message.splitlines() == [
        "1 invalid record; nothing was imported (pass --skip-invalid to import the valid ones):",
        f"  {problem}",
    ]
    report = load(db, data, filename, skip_invalid=True)
    assert (report.rejected, report.problems) == (1, [problem])


def test_all_or_nothing_lists_the_first_twenty_problems(db):
    load(db, "email,name\nkeep@example.com,Keep\n")
    rows = "".join(f"bad{i},x\n" for i in range(25))
    message = refusal(db, "email,name\nnew@example.com,New\nkeep@example.com,Changed\n" + rows)
    lines = message.splitlines()
    assert lines[0] == "25 invalid records; nothing was imported (pass --skip-invalid to import the valid ones):"
    assert lines[1] == "  line 4: invalid email 'bad0'"
    assert lines[20] == "  line 23: invalid email 'bad19'"
    assert lines[21:] == ["  and 5 more"]
    assert contact(db, "keep@example.com")["name"] == "Keep"


def test_skip_invalid_imports_the_good_rows(db):
    report = load(db, "email,name\nnew@example.com,New\nbad,x\n,y\n", skip_invalid=True)
    assert counts(report.to_dict()) == {
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 2,
        "problems": ["line 3: invalid email 'bad'", "line 4: no email"],
        "tags_created": [],
        "properties_created": [],
    }
    assert db.execute("SELECT count(*) FROM contacts").fetchone()[0] == 1


@pytest.mark.parametrize(
    "filename, data, message",
    [
        (
            "x.csv",
            b"email,name\na@example.com,A\nb@example.com,B\xe9\n",
            "line 3: not valid UTF-8 text; save the file as UTF-8, or pass --encoding cp1252 (or latin-1) for a Windows export",
        ),
        ("x.csv", "email\n".encode("utf-16"), "line 1: the file is UTF-16; save it as UTF-8"),
        ("x.json", "[]".encode("utf-16"), "line 1: the file is UTF-16; save it as UTF-8"),
        (
            "x.ndjson",
            b'{"email": "a@example.com"}\n\n{"email": "\xe9"}\n',
            "line 3: not valid UTF-8 text; save the file as UTF-8, or pass --encoding cp1252 (or latin-1) for a Windows export",
        ),
        (
            "x.json",
            b'[\n{"email": "a@example.com"},\n{"email": "\xe9"}]',
            "line 3: not valid UTF-8 text; save the file as UTF-8, or pass --encoding cp1252 (or latin-1) for a Windows export",
        ),
        (
            "x.json",
            b'[\n  {"email": "a@example.com"},\n  {"email": "b@example.com",}\n]',
            "line 3, column 29: invalid JSON: Expecting property name enclosed in double quotes",
        ),
        (
            "x.json",
            b'[{"email": "a@example.com"}',
            "line 1, column 28: invalid JSON: expected ',' or ']' after a record",
        ),
        (
            "x.json",
            b'{"email": "a@example.com"}',
            "line 1, column 1: invalid JSON: expected a JSON array of contacts (for one object per line, use --input-format ndjson)",
        ),
        ("x.json", b"[]\n[]", "line 2, column 1: invalid JSON: extra data after the array"),
        ("x.json", b"  \n", "the input is empty: expected a JSON array of contacts"),
        ("x.json", b"[" * 100000, "line 1, column 2: invalid JSON: nested too deeply"),
        ("x.csv", b"", "the CSV file is empty: expected a header row naming the columns"),
        (
            "x.csv",
            b"name,phone\nAda,1\n",
            "line 1: no 'email' column (columns: 'name', 'phone'; map one with --map 'COLUMN=email')",
        ),
        ("x.csv", b"email,name,name\n", "line 1: column 'name' appears twice"),
        (
            "x.csv",
            b"email,Name,name\n",
            "line 1: columns 'Name' and 'name' both go to name: keep one, e.g. --map name=-",
        ),
        (
            "x.csv",
            b"Email,E-mail\n",
            "line 1: columns 'Email' and 'E-mail' both go to email: keep one, e.g. --map E-mail=-",
        ),
        ("x.csv", b"email,conversations\n", "line 1: conversations cannot be imported from CSV (use JSON or NDJSON)"),
        (
            "x.csv",
            b'email,name\na@example.com,"Ada\n',
            "line 2: unexpected end of data (a quoted field is never closed)",
        ),
    ],
)
def test_unreadable_input_is_refused_even_with_skip_invalid(db, filename, data, message):
    assert refusal(db, data, filename, skip_invalid=True) == message


def test_empty_inputs_import_nothing(db):
    assert load(db, "email,name\n").inserted == 0
    assert load(db, "[ ]", "x.json").inserted == 0
    assert load(db, "\n\n", "x.ndjson").inserted == 0


def test_json_array_is_read_in_pieces(db, monkeypatch):
    """Tiny reads put chunk boundaries inside strings, numbers and between records."""
    monkeypatch.setattr(readers._JsonArray, "READ", 3)
    records = [{"email": f"p{i}@example.com", "score": 10**i, "name": "Zoë " * i} for i in range(1, 8)]
    report = load(db, "\ufeff" + json.dumps(records, ensure_ascii=False, indent=1), "x.json")
    assert report.inserted == 7
    assert attributes(db, "p6@example.com") == {"score": (10**6, "integer")}
    assert contact(db, "p3@example.com")["name"] == "Zoë Zoë Zoë"
    bad = json.dumps(records, indent=1).replace('"p5@example.com"', "p5")
    line = bad[: bad.index("p5,")].count("\n") + 1
    assert refusal(db, bad, "x.json") == f"line {line}, column 12: invalid JSON: Expecting value"


def test_progress_is_reported(db, monkeypatch):
    monkeypatch.setattr(run, "CHUNK", 2)
    seen = []
    load(db, "email\n" + "".join(f"p{i}@example.com\n" for i in range(5)), progress=seen.append)
    assert seen == [2, 4, 5]


# Conversations and audit ------------------------------------------------------------------


def test_conversations_are_appended_once(db):
    first = {
        "subject": "Invoice",
        "messages": [
            {"body": "Where is it?", "sender": "contact", "sent_at": "2026-03-01T09:00:00Z"},
            {"body": "Attached.", "sender": "agent", "sent_at": "2026-03-01T10:00:00+01:00"},
        ],
    }
    load(db, ndjson({"email": "ada@example.com", "conversations": [first]}), "x.ndjson")
    second = {"subject": "Login", "created_at": "2026-04-01", "messages": [{"body": "Locked out"}]}
    report = load(db, ndjson({"email": "ADA@example.com", "conversations": [first, second]}), "x.ndjson")
    assert report.updated == 1
    rows = db.execute(
        "SELECT v.subject, v.created_at, m.body, m.sender, m.sent_at FROM conversations v "
        "JOIN messages m ON m.conversation_id = v.id ORDER BY v.id, m.id"
    ).fetchall()
    assert rows == [
        ("Invoice", "2026-03-01T09:00:00Z", "Where is it?", "contact", "2026-03-01T09:00:00Z"),
        ("Invoice", "2026-03-01T09:00:00Z", "Attached.", "agent", "2026-03-01T09:00:00Z"),
        ("Login", "2026-04-01T00:00:00Z", "Locked out", None, None),
    ]


def test_audit_has_counts_and_ids_but_no_personal_data(db):
    load(db, "email,name\nkeep@example.com,Keep\n")
    report = load(
        db,
        "email,name,tags\nkeep@example.com,Kept Person,fresh\nnew@example.com,New Person,\nbad,x,\n",
        skip_invalid=True,
    )
    assert (report.inserted, report.updated, report.rejected) == (1, 1, 1)
    entries = db.execute("SELECT id, actor, action, contacts, detail FROM audit ORDER BY id").fetchall()
    assert [e[1:] for e in entries] == [
        ("tester", "import", 1, "inserted 1, updated 0, unchanged 0, rejected 0"),
        ("tester", "tag_create", 0, "fresh"),
        ("tester", "import", 2, "inserted 1, updated 1, unchanged 0, rejected 1"),
    ]
    linked = db.execute("SELECT contact_id FROM audit_contacts WHERE audit_id = ? ORDER BY 1", [entries[2][0]])
    assert [r[0] for r in linked] == [1, 2]
    text = json.dumps(dump(db, ("audit", "audit_contacts")))
    for personal in ("keep@", "new@", "Kept", "Person", "bad"):
        assert personal not in text


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "json"])
def test_contact_list_output_imports_back(tmp_path, isolated_db, cli, fmt):
    """`contact list` writes `id` (ignored on import) and, in JSON, an `attributes` object."""
    source = open_db(isolated_db, create=True)
    load(
        source,
        ndjson(
            {
                "email": "Ada@example.com",
                "name": "Ada",
                "phone": "007",
                "created_at": "2025-01-01",
                "tags": ["vip", "b"],
                "plan": "pro",
                "score": 80,
                "ltv": 12.5,
                "zip": "01234",
                "blocked": True,
            },
            {"email": "bob@example.org", "last_seen_at": "2026-10-01T10:00:00Z", "country": "DE"},
        ),
        "x.ndjson",
    )
    exported = cli("contact", "list", "--format", fmt)
    assert exported.exit_code == 0, exported.stderr
    copy = open_db(tmp_path / "copy.db", create=True)
    report = load(copy, exported.stdout, f"contacts.{fmt}")
    assert (report.inserted, report.rejected) == (2, 0)
    tables = ("contacts", "tags", "contact_tags")
    assert dump(copy, tables) == dump(source, tables)
    assert typed_values(copy) == typed_values(source)


def typed_values(db) -> list[tuple]:
    """Every property value with its property's name and type (ids depend on creation order)."""
    return typed(
        db.execute(
            "SELECT v.contact_id, p.name, p.type, v.value FROM property_values AS v "
            "JOIN properties AS p ON p.id = v.property_id ORDER BY 1, 2"
        ).fetchall()
    )


def test_attributes_object_in_json(db):
    load(db, ndjson({"email": "ada@example.com", "attributes": {"plan": "pro", "n": 2}, "x": 1}), "x.ndjson")
    assert attributes(db, "ada@example.com") == {"plan": ("pro", "text"), "n": (2, "integer"), "x": (1, "integer")}
    message = refusal(db, ndjson({"email": "ada@example.com", "attributes": {"x": 2}, "x": 1}), "x.ndjson")
    assert message.splitlines()[1] == "  line 1: 'x' is given twice"


def test_cli_refusal_exits_2_with_the_problems_and_changes_nothing(cli, tmp_path, isolated_db):
    database = open_db(isolated_db, create=True)
    bad = tmp_path / "people.csv"
    bad.write_text("email,created_at\nada@example.com,2026-01-01\nx,1\n")
    result = cli("contact", "import", str(bad))
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (
        "Error: 1 invalid record; nothing was imported (pass --skip-invalid to import the valid ones):\n"
        "  line 3: invalid email 'x'\n"
    )
    assert database.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0
    skipped = cli("contact", "import", str(bad), "--skip-invalid", "-f", "json")
    assert skipped.exit_code == 0
    assert counts(json.loads(skipped.stdout)) == {
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
        "problems": ["line 3: invalid email 'x'"],
        "tags_created": [],
        "properties_created": [],
    }


# Hostile input ----------------------------------------------------------------------------

_cells = st.text(max_size=12)
_csv_texts = st.lists(st.lists(_cells, max_size=5), max_size=6).map(
    lambda rows: "\n".join(",".join(row) for row in [["email", "name", "tags", "blocked", "x"], *rows])
)
_odd_text = st.text(
    st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010, categories=["Cs", "Co", "Lo", "Cn"]), max_size=3
)  # includes lone surrogates, which JSON can escape but SQLite cannot store
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | _odd_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | _odd_text
    | st.sampled_from(
        ["a@b.co", "2026-01-01", "2026-01-01T10:00:00+01:00", "true", "vip;x", "007", "0001-01-01T00:00:00+05:00"]
    )
)
_messages = st.lists(
    st.fixed_dictionaries({}, optional={"body": _leaves, "sender": _leaves, "sent_at": _leaves}), max_size=2
)
_conversation_lists = st.lists(
    st.fixed_dictionaries({}, optional={"subject": _leaves, "created_at": _leaves, "messages": _messages}), max_size=2
)
_records = (
    st.builds(
        lambda email, rest: {"email": email, **rest},
        st.sampled_from(["a@b.co", "A@b.CO", "c@d.example"]) | _leaves,
        st.dictionaries(
            st.sampled_from(["EMAIL", "name", "tags", "created_at", "blocked", "blocked_at", "plan", " x ", ""])
            | st.text(max_size=4),
            _leaves | _json_values,
            max_size=5,
        ),
    )
    | st.fixed_dictionaries({"email": st.just("e@f.co"), "conversations": _conversation_lists | _json_values})
    | (
        st.dictionaries(st.sampled_from(["name", "plan", "tags"]) | _odd_text, _odd_text, max_size=3).map(
            lambda rest: {**rest, "email": "g@h.co"}
        )
    )
)
_ndjson_texts = st.lists(_records | _json_values, max_size=5).map(lambda rs: "\n".join(json.dumps(r) for r in rs))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fmt=st.sampled_from(["csv", "ndjson", "json"]),
    data=st.one_of(
        st.binary(max_size=200),
        _csv_texts.map(str.encode),
        _ndjson_texts.map(str.encode),
        st.lists(_records, max_size=4).map(lambda rs: json.dumps(rs).encode()),
    ),
    skip_invalid=st.booleans(),
)
def test_hostile_input_only_ever_raises_invalid_input(db, fmt, data, skip_invalid):
    before = dump(db)
    try:
        load(db, data, "-", fmt=fmt, skip_invalid=skip_invalid)
    except InvalidInput:
        assert dump(db) == before


def test_reimport_that_changes_nothing_writes_no_audit_entry(tmp_path):
    from crmctl.importer import import_contacts
    from crmctl.store import open_db, transaction

    db = open_db(tmp_path / "again.db", create=True)
    source = tmp_path / "c.csv"
    source.write_text("email,name\nada@example.com,Ada\n")
    for _ in range(2):
        with open(source, "rb") as stream, transaction(db):
            import_contacts(db, stream, filename=str(source), actor="t")
    assert [r[0] for r in db.execute("SELECT action FROM audit")] == ["import"]
