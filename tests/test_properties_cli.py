"""The property catalog, `set`, `unset` and `contact add` through crmctl's command line:
every refusal with its exact message and exit code, and what each command changes.

In process (Typer's runner), so the ~150 commands here do not each pay an interpreter's
start-up, twice over in CI (SQLite, then PostgreSQL); test_contract_errors.py and the process
tests check the installed `crmctl`'s exit codes and messages as a real process."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Ran:
    """What a command did, named as subprocess.run names it."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def crm(cli, isolated_db):
    """A database with typed properties and three contacts, and a function that runs crmctl
    on it: crm("property", "list") → Ran."""

    def run(*args, input=None) -> Ran:
        result = cli(*args, input=input)
        return Ran(result.exit_code, result.stdout, result.stderr)

    def setup(*args, input=None) -> None:
        assert run(*args, input=input).returncode == 0

    setup("init", "-q")
    for name, kind in (("score", "number"), ("plan", "text"), ("vip", "boolean"), ("renewal", "date")):
        setup("property", "create", name, "--type", kind, "-q")
    setup("tag", "create", "gold", "-q")
    people = "".join(
        json.dumps(record) + "\n"
        for record in (
            {"email": "ada@example.com", "name": "Ada", "score": 80, "plan": "paid", "vip": True},
            {"email": "bob@example.com", "name": "Bob", "score": 20, "plan": "trial"},
            {"email": "cy@example.com", "plan": "paid", "renewal": "2027-01-01"},
        )
    )
    setup("contact", "import", "-", "--input-format", "ndjson", "-q", input=people)
    return run


def ok(result, stdout: str | None = None):
    assert result.returncode == 0, result.stderr
    if stdout is not None:
        assert result.stdout == stdout
    return result


def refused(result, code: int, message: str) -> None:
    assert (result.returncode, result.stderr) == (code, message)
    assert result.stdout == ""


def properties(run) -> dict:
    return {row["name"]: row for row in json.loads(ok(run("property", "list", "--format", "json")).stdout)}


def record(run, email: str) -> dict:
    return json.loads(ok(run("contact", "show", email, "--format", "json")).stdout)


# The catalog ------------------------------------------------------------------------------


def test_create_list_show(crm):
    ok(crm("property", "create", "Lifetime Value", "--type", "number", "--description", "EUR, to date"))
    listed = properties(crm)
    assert list(listed) == ["Lifetime Value", "plan", "renewal", "score", "vip"]
    assert {name: (row["type"], row["contacts"]) for name, row in listed.items()} == {
        "Lifetime Value": ("number", 0),
        "plan": ("text", 3),
        "renewal": ("date", 1),
        "score": ("number", 2),
        "vip": ("boolean", 1),
    }
    shown = json.loads(ok(crm("property", "show", "LIFETIME value", "--format", "json")).stdout)
    assert shown == {
        "name": "Lifetime Value",
        "type": "number",
        "description": "EUR, to date",
        "contacts": 0,
        "created_at": "2026-11-01T12:00:00Z",
    }
    csv = ok(crm("property", "list", "--format", "csv")).stdout
    assert csv.splitlines()[:2] == ["name,type,description,contacts", 'Lifetime Value,number,"EUR, to date",0']


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["create", "x", "--type", "int"], 2, "Error: unknown type 'int': use text, number, boolean, date\n"),
        (
            ["create", "Email", "--type", "text"],
            2,
            "Error: 'Email' is a built-in field: a property needs another name\n",
        ),
        (["create", "tags", "--type", "text"], 2, "Error: 'tags' is a built-in field: a property needs another name\n"),
        (["create", "  ", "--type", "text"], 2, "Error: a property name must not be empty\n"),
        (["create", "SCORE", "--type", "text"], 1, "Error: property 'score' already exists (number)\n"),
        (["show", "scor"], 1, "Error: unknown property 'scor' (did you mean 'score'?)\n"),
        (["rename", "scor", "points"], 1, "Error: unknown property 'scor' (did you mean 'score'?)\n"),
        (["rename", "score", "Plan"], 1, "Error: property 'plan' already exists\n"),
        (["rename", "score", "name"], 2, "Error: 'name' is a built-in field: a property needs another name\n"),
        (
            ["delete", "score"],
            1,
            "Error: refusing to delete property 'score' (held by 2 contacts) without confirmation: pass --yes\n",
        ),
        (["retype", "plan", "--type", "bool"], 2, "Error: unknown type 'bool': use text, number, boolean, date\n"),
    ],
)
def test_catalog_refusals(crm, args, code, message):
    before = properties(crm)
    refused(crm("property", *args), code, message)
    assert properties(crm) == before


def test_nul_in_a_name_is_refused(cli, db):  # in-process: a process argument cannot hold a NUL
    result = cli("property", "create", "a\x00b", "--type", "text")
    assert (result.exit_code, result.stderr) == (2, "Error: a property name must not contain NUL\n")


def test_rename_keeps_values_and_filters_use_the_new_name(crm):
    ok(crm("property", "rename", "Score", "points"))
    assert ok(crm("contact", "count", "-w", "points > 50")).stdout == "1\n"
    refused(
        crm("contact", "count", "-w", "score > 50"),
        2,
        "Error: unknown field 'score' (declare it with `crmctl property create`)\n  score > 50\n  ^\n",
    )
    ok(crm("property", "rename", "points", "Points"))  # a change of case is a rename too
    assert "Points" in properties(crm)


def test_delete_removes_the_values_and_is_audited(crm):
    ok(crm("property", "delete", "score", "--yes"))
    assert "score" not in properties(crm)
    assert record(crm, "ada@example.com")["properties"] == {"plan": "paid", "vip": True}
    entry = json.loads(ok(crm("log", "--format", "json", "--limit", "1")).stdout)[0]
    assert (entry["action"], entry["contacts"], entry["detail"]) == ("property_delete", 2, "score (number)")
    ok(crm("property", "create", "score", "--type", "number", "-q"))  # declared again: no old values return
    assert properties(crm)["score"]["contacts"] == 0


def test_retype_refuses_values_that_do_not_convert(crm):
    ok(crm("set", "plan=42", "-c", "bob@example.com", "-q"))
    result = crm("property", "retype", "plan", "--type", "number")
    refused(
        result,
        1,
        "Error: 2 values of plan cannot become a number; nothing was changed (pass --drop-invalid to remove them):\n"
        "  1 ada@example.com: 'paid'\n"
        "  3 cy@example.com: 'paid'\n",
    )
    dry = json.loads(
        ok(
            crm("property", "retype", "plan", "--type", "number", "--drop-invalid", "--dry-run", "--format", "json")
        ).stdout
    )
    assert dry == {"property": "plan", "from": "text", "to": "number", "converted": 1, "dropped": 2, "dry_run": True}
    assert properties(crm)["plan"]["type"] == "text"
    real = ok(crm("property", "retype", "plan", "--type", "number", "--drop-invalid"))
    assert real.stderr == "retyped plan: text -> number; 1 value converted, 2 dropped\n"
    assert record(crm, "bob@example.com")["properties"]["plan"] == 42
    assert "plan" not in record(crm, "ada@example.com")["properties"]


def test_retype_converts_every_value(crm):
    ok(crm("property", "retype", "vip", "--type", "text", "-q"))
    assert record(crm, "ada@example.com")["properties"]["vip"] == "true"
    ok(crm("property", "retype", "vip", "--type", "boolean", "-q"))
    assert record(crm, "ada@example.com")["properties"]["vip"] is True
    ok(crm("property", "retype", "renewal", "--type", "text", "-q"))
    assert record(crm, "cy@example.com")["properties"]["renewal"] == "2027-01-01T00:00:00Z"
    ok(crm("property", "retype", "score", "--type", "text", "-q"))
    assert ok(crm("contact", "count", "-w", 'score == "80"')).stdout == "1\n"


# set and unset ----------------------------------------------------------------------------


def test_set_parses_values_by_type_and_counts_real_changes(crm):
    result = ok(
        crm(
            "set",
            "score=90",
            "vip=yes",
            "renewal=2027-01-01T10:00:00+02:00",
            "-w",
            'plan == "paid"',
            "--format",
            "json",
        )
    )
    assert json.loads(result.stdout) == {
        "action": "set",
        "selected": 2,
        "changed": 2,
        "keys": ["renewal", "score", "vip"],
        "dry_run": False,
    }
    assert record(crm, "cy@example.com")["properties"] == {
        "plan": "paid",
        "renewal": "2027-01-01T08:00:00Z",
        "score": 90,
        "vip": True,
    }
    again = json.loads(ok(crm("set", "score=90", "-w", 'plan == "paid"', "--format", "json")).stdout)
    assert (again["selected"], again["changed"]) == (2, 0)
    # A number given for a text property is kept as its text.
    ok(crm("set", "plan=007", "name=  Bobby ", "phone=+44 20 7946 0000", "-c", "bob@example.com", "-q"))
    bob = record(crm, "bob@example.com")
    assert (bob["properties"]["plan"], bob["name"], bob["phone"]) == ("007", "Bobby", "+44 20 7946 0000")
    assert ok(crm("contact", "count", "-w", 'plan == "007"')).stdout == "1\n"


def test_set_dry_run_changes_nothing(crm):
    result = ok(crm("set", "score=1", "--all", "--dry-run", "--format", "json"))
    assert json.loads(result.stdout) == {
        "action": "set",
        "selected": 3,
        "changed": 3,
        "keys": ["score"],
        "dry_run": True,
    }
    assert record(crm, "ada@example.com")["properties"]["score"] == 80


def test_set_and_unset_are_audited_with_keys_never_values(crm):
    ok(crm("set", "name=Secret Name", "phone=555-0100", "score=3", "-c", "ada@example.com", "-q"))
    ok(crm("unset", "phone", "vip", "-c", "ada@example.com", "-q"))
    entries = json.loads(ok(crm("log", "--format", "json", "--limit", "2")).stdout)
    assert [(e["action"], e["contacts"], e["detail"]) for e in entries] == [
        ("unset", 1, "keys: phone, vip"),
        ("set", 1, "keys: name, phone, score"),
    ]
    assert "Secret" not in json.dumps(entries) and "555" not in json.dumps(entries)


def test_unset_clears_properties_and_built_ins(crm):
    result = ok(crm("unset", "score", "name", "-w", "score exists", "--format", "json"))
    assert json.loads(result.stdout) == {
        "action": "unset",
        "selected": 2,
        "changed": 2,
        "keys": ["name", "score"],
        "dry_run": False,
    }
    ada = record(crm, "ada@example.com")
    assert ada["name"] is None and "score" not in ada["properties"]
    assert ok(crm("contact", "count", "-w", "score exists")).stdout == "0\n"  # declared, no values: valid


@pytest.mark.parametrize(
    "args, message",
    [
        (["set", "score=", "--all"], "Error: score= has no value: to remove a value, use `crmctl unset score`\n"),
        (["set", "score", "--all"], "Error: expected KEY=VALUE, not 'score'\n"),
        (["set", "score=abc", "--all"], "Error: score is a number property: 'abc' is not a number\n"),
        (["set", "score=1e999", "--all"], "Error: score is a number property: '1e999' is out of the double range\n"),
        (
            ["set", "vip=maybe", "--all"],
            "Error: vip is a boolean property: 'maybe' is not true, false, yes, no, 1 or 0\n",
        ),
        (
            ["set", "renewal=31/01/2027", "--all"],
            "Error: renewal is a date property: '31/01/2027' is not an ISO-8601 date or time "
            "(such as 2027-01-31 or 2027-01-31T09:30:00Z)\n",
        ),
        (
            ["set", "last_seen_at=yesterday", "--all"],
            "Error: last_seen_at is a built-in date field: 'yesterday' is not an ISO-8601 date or time (such as 2027-01-31 or 2027-01-31T09:30:00Z)\n",
        ),
        (
            ["set", "scor=1", "--all"],
            "Error: unknown property 'scor' (did you mean 'score'?): declare it with `crmctl property create scor --type TYPE`\n",
        ),
        (
            ["set", "email=x@example.com", "--all"],
            "Error: 'email' is a built-in field that cannot be set: the email is how contacts are matched: it cannot be changed\n",
        ),
        (
            ["set", "tags=vip", "--all"],
            "Error: 'tags' is a built-in field that cannot be set: use `crmctl tag add` or `crmctl tag remove`\n",
        ),
        (["set", "score=1", "Score=2", "--all"], "Error: score is given twice ('score' and 'Score')\n"),
        (["set", "score=1"], "Error: no contacts selected: give -c/--contact, -w/--where or --all\n"),
        (["unset", "last_seen_at", "--all"], "Error: last_seen_at cannot be cleared: set it to another time instead\n"),
        (
            ["unset", "created_at", "--all"],
            "Error: 'created_at' is a built-in field that cannot be cleared: created_at records when the contact was added\n",
        ),
        (
            ["unset", "zzz", "--all"],
            "Error: unknown property 'zzz': declare it with `crmctl property create zzz --type TYPE`\n",
        ),
    ],
)
def test_set_and_unset_refusals(crm, args, message):
    before = ok(crm("contact", "list", "--format", "ndjson")).stdout
    refused(crm(*args), 2, message)
    assert ok(crm("contact", "list", "--format", "ndjson")).stdout == before


# contact add ------------------------------------------------------------------------------


def test_contact_add_prints_the_id_or_the_record(crm):
    assert (
        ok(crm("contact", "add", "dee@example.com", "--name", "Dee", "--tag", "gold", "score=5", "vip=no")).stdout
        == "4\n"
    )
    shown = record(crm, "dee@example.com")
    assert (shown["name"], shown["tags"], shown["properties"]) == ("Dee", ["gold"], {"score": 5, "vip": False})
    added = json.loads(ok(crm("contact", "add", "eve@example.com", "--phone", "123", "--format", "json")).stdout)
    assert added == {
        "id": 5,
        "email": "eve@example.com",
        "name": None,
        "phone": "123",
        "user_id": None,
        "created_at": "2026-11-01T12:00:00Z",
        "last_seen_at": None,
        "blocked": False,
        "tags": [],
        "properties": {},
    }
    entry = json.loads(ok(crm("log", "--format", "json", "--limit", "2")).stdout)[1]
    assert (entry["action"], entry["contacts"], entry["detail"]) == (
        "contact_add",
        1,
        "keys: name, score, vip; tags: gold",
    )


@pytest.mark.parametrize(
    "args, code, message",
    [
        (
            ["ADA@example.com"],
            1,
            "Error: a contact with email ADA@example.com already exists (id 1): "
            "change it with `crmctl set KEY=VALUE -c ADA@example.com`\n",
        ),
        (["not-an-email"], 2, "Error: invalid email 'not-an-email'\n"),
        (
            ["dee@example.com", "--tag", "platinum"],
            1,
            "Error: unknown tag 'platinum': create with `crmctl tag create platinum`\n",
        ),
        (["dee@example.com", "score=high"], 2, "Error: score is a number property: 'high' is not a number\n"),
        (["dee@example.com", "--name", "Dee", "name=Dee"], 2, "Error: name is given twice ('name' and 'name')\n"),
    ],
)
def test_contact_add_refusals(crm, args, code, message):
    refused(crm("contact", "add", *args), code, message)
    assert ok(crm("contact", "count")).stdout == "3\n"


def test_contact_add_refuses_a_suppressed_address(crm):
    ok(crm("delete", "bob@example.com", "--yes", "--suppress", "-q"))
    refused(
        crm("contact", "add", "Bob@Example.com"),
        1,
        "Error: Bob@Example.com was erased with `delete --suppress`: import it with --allow-suppressed to readmit it\n",
    )


# Filters ----------------------------------------------------------------------------------


def test_wrong_typed_literal_has_a_caret(crm):
    refused(
        crm("contact", "count", "-w", 'score > "50"'),
        2,
        'Error: score is a number property: write 50, not "50"\n  score > "50"\n          ^\n',
    )


def test_filters_depend_on_the_catalog_not_the_data(crm):
    ok(crm("delete", "-w", "renewal exists", "--yes", "-q"))
    assert ok(crm("contact", "count", "-w", "renewal exists")).stdout == "0\n"
    assert ok(crm("contact", "count", "-w", "renewal < now + 30d")).stdout == "0\n"
    assert ok(crm("contact", "count", "-w", "vip")).stdout == "1\n"


# Imports ----------------------------------------------------------------------------------


def test_import_refuses_unknown_columns(crm, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("email,First Name,zip,score\ndee@example.com,Dee,007,5\n")
    refused(
        crm("contact", "import", path),
        2,
        "Error: 2 columns are neither a built-in field nor a declared property: 'First Name', 'zip' "
        "(declare them with `crmctl property create NAME --type TYPE`, map them with --map 'COLUMN=TARGET' "
        "or --map 'COLUMN=-', or pass --create-properties)\n",
    )
    many = tmp_path / "many.ndjson"
    many.write_text(json.dumps({"email": "e@example.com", **{f"k{i:02}": i for i in range(25)}}) + "\n")
    result = crm("contact", "import", many)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "Error: 25 keys are neither a built-in field nor a declared property: 'k00', 'k01',"
    )
    assert "'k19' and 5 more (declare them" in result.stderr


def test_import_creates_properties_typed_from_the_whole_file(crm, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(
        textwrap.dedent(
            """\
            email,First Name,zip,seats,optin,since,score
            dee@example.com,Dee,007,3,yes,2026-01-31,5
            eve@example.com,Eve,12345,10,no,2026-02-01T10:00:00+01:00,
            """
        )
    )
    result = ok(crm("contact", "import", path, "--create-properties", "--json"))
    report = json.loads(result.stdout)
    assert report["properties_created"] == [
        {"name": "First Name", "type": "text"},
        {"name": "zip", "type": "text"},
        {"name": "seats", "type": "number"},
        {"name": "optin", "type": "boolean"},
        {"name": "since", "type": "date"},
    ]
    assert (
        "created properties: First Name (text), zip (text), seats (number), optin (boolean), since (date)"
        in result.stderr
    )
    assert record(crm, "eve@example.com")["properties"] == {
        "First Name": "Eve",
        "optin": False,
        "seats": 10,
        "since": "2026-02-01T09:00:00Z",
        "zip": "12345",
    }


def test_a_value_that_does_not_fit_its_type_is_a_bad_row(crm, tmp_path):
    path = tmp_path / "in.ndjson"
    path.write_text(
        json.dumps({"email": "dee@example.com", "score": "high"})
        + "\n"
        + json.dumps({"email": "eve@example.com", "vip": 2, "renewal": "soon"})
        + "\n"
    )
    refused(
        crm("contact", "import", path),
        2,
        "Error: 2 invalid records; nothing was imported (pass --skip-invalid to import the valid ones):\n"
        "  line 1: score is a number property: 'high' is not a number\n"
        "  line 2: vip is a boolean property: 2 is a number, not true or false\n",
    )
