"""Flows and the property catalog: `set` values checked as written against their type,
`set` of editable built-ins, `unset`, note placeholders by name and with a fallback, and
the sample flows on a database that has the sample catalog and no contacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import declare
from flowkit import run_json, write_flow
from valuekit import VALUE, param, typeof

from crmctl.flows.template import compile_template

SAMPLE_FLOWS = sorted(
    p
    for p in (Path(__file__).parent.parent / "sample_data" / "flows").glob("*.yaml")
    if p.name != "invalid-example.yaml"
)


@pytest.fixture
def typed(people):
    for name, kind in (("country", "text"), ("code", "text"), ("vip", "boolean"), ("renewal", "date")):
        declare(people, name, kind)
    declare(people, "First Name", "text")
    people.conn.commit()
    return people


def flow_with(tmp_path, step: str) -> Path:
    return write_flow(tmp_path, f"name: typed\nmatch: 'plan == \"trial\"'\nsteps:\n  - {step}\n")


def problems(cli, path) -> list[str]:
    result = cli("flow", "validate", path)
    return result.stderr.splitlines() if result.exit_code else []


@pytest.mark.parametrize(
    "step, message",
    [
        (
            "set: {country: NO}",
            "4:20: steps[0].set.country: country is a text property: YAML reads NO as false; "
            "quote it to store the text: 'NO'",
        ),
        (
            "set: {country: on}",
            "4:20: steps[0].set.country: country is a text property: YAML reads on as true; "
            "quote it to store the text: 'on'",
        ),
        (
            "set: {code: 12:30:00}",
            "4:17: steps[0].set.code: code is a text property: YAML reads 12:30:00 as the number 45000; "
            "quote it to store the text: '12:30:00'",
        ),
        (
            "set: {score: 12:30:00}",
            "4:18: steps[0].set.score: score is a number property: write a number, not 12:30:00",
        ),
        ('set: {score: "50"}', '4:18: steps[0].set.score: score is a number property: write 50, not "50"'),
        ("set: {score: 007}", "4:18: steps[0].set.score: score is a number property: write 7, not 007"),
        ("set: {score: 0x1F}", "4:18: steps[0].set.score: score is a number property: write a number, not 0x1F"),
        ("set: {score: true}", "4:18: steps[0].set.score: score is a number property: write a number, not true"),
        ("set: {vip: on}", "4:16: steps[0].set.vip: vip is a boolean property: write true or false, not on"),
        ('set: {vip: "true"}', '4:16: steps[0].set.vip: vip is a boolean property: write true, not "true"'),
        ("set: {vip: 2}", "4:16: steps[0].set.vip: vip is a boolean property: write true or false, not 2"),
        (
            "set: {renewal: soon}",
            "4:20: steps[0].set.renewal: renewal is a date property: 'soon' is not an ISO-8601 date or time "
            "(such as 2027-01-31 or 2027-01-31T09:30:00Z)",
        ),
        (
            "set: {renewal: 5}",
            "4:20: steps[0].set.renewal: renewal is a date property: write a date such as 2027-01-31, not 5",
        ),
        (
            'set: {country: ""}',
            "4:20: steps[0].set.country: country is a text property: an empty value stores nothing (use null, or an unset step, to remove it)",
        ),
        (
            "set: {contry: DE}",
            "4:11: steps[0].set: unknown property 'contry' (did you mean 'country'?): "
            "declare it with `crmctl property create contry --type TYPE`",
        ),
        (
            "set: {last_seen_at: null}",
            "4:11: steps[0].set: last_seen_at cannot be cleared: set it to another time instead",
        ),
        (
            "set: {last_seen_at: yesterday}",
            "4:25: steps[0].set.last_seen_at: last_seen_at is a built-in date field: 'yesterday' is not an ISO-8601 date or time (such as 2027-01-31 or 2027-01-31T09:30:00Z)",
        ),
        (
            "set: {tags: vip}",
            "4:11: steps[0].set: 'tags' is a built-in field that cannot be set: use `crmctl tag add` or `crmctl tag remove`",
        ),
        (
            "unset: [phone, zzz]",
            "4:20: steps[0].unset: unknown property 'zzz': declare it with `crmctl property create zzz --type TYPE`",
        ),
        (
            "unset: created_at",
            "4:12: steps[0].unset: 'created_at' is a built-in field that cannot be cleared: created_at records when the contact was added",
        ),
    ],
)
def test_set_values_must_fit_their_type_as_written(cli, typed, tmp_path, step, message):
    path = flow_with(tmp_path, step)
    assert problems(cli, path) == [f"{path}:{message}"]
    result, _ = run_json(cli, path)
    assert result.exit_code == 2


def test_set_stores_values_as_written_for_their_type(cli, typed, tmp_path):
    path = flow_with(
        tmp_path,
        "set: {country: 'NO', code: 007, score: 2.5e1, vip: yes, renewal: 2027-01-31T10:00:00+02:00, "
        'name: Trial user, First Name: "  Ada "}',
    )
    assert problems(cli, path) == []
    result, [report] = run_json(cli, path)
    assert result.exit_code == 0, result.stderr
    assert report["changed"] == {"set": 2}
    listed = json.loads(cli("contact", "list", "-w", 'plan == "trial"', "--format", "json").stdout)
    assert [(r["name"], r["properties"]) for r in listed] == [
        (
            "Trial user",
            {
                "First Name": "  Ada ",
                "code": "007",
                "country": "NO",
                "plan": "trial",
                "renewal": "2027-01-31T08:00:00Z",
                "score": 25.0,
                "vip": True,
            },
        )
    ] * 2


def test_unset_and_set_null_remove_values(cli, typed, tmp_path):
    path = write_flow(
        tmp_path,
        """
        name: clear
        match: 'score exists'
        steps:
          - unset: [score, phone]
          - set: {plan: null, name: null}
        """,
    )
    assert problems(cli, path) == []
    result, [report] = run_json(cli, path)
    assert result.exit_code == 0, result.stderr
    assert [(s["action"], s["changed"]) for s in report["steps"]] == [("unset", 2), ("set", 2)]
    rows = typed.execute("SELECT name FROM contacts WHERE id IN (1, 2)").fetchall()
    assert rows == [(None,), (None,)]
    assert cli("contact", "count", "-w", "score exists").stdout == "0\n"
    entries = json.loads(cli("log", "--format", "json", "--limit", "2").stdout)
    assert [(e["action"], e["detail"]) for e in entries] == [
        ("set", "keys: name, plan"),
        ("unset", "keys: phone, score"),
    ]


def test_a_retyped_property_makes_a_remembered_flow_check_again(cli, typed, tmp_path):
    path = flow_with(tmp_path, "set: {code: 42}")
    assert run_json(cli, path)[0].exit_code == 0  # remembered, with code as the text "42"
    assert cli("property", "retype", "code", "--type", "number", "-q").exit_code == 0
    result, [report] = run_json(cli, path)
    assert result.exit_code == 0, result.stderr
    values = [value for (value,) in typed.execute("SELECT value FROM property_values").fetchall()]
    assert [(value, typeof(value)) for value in values if value == 42] == [(42, "integer")] * 2


def test_note_placeholders_by_name_with_a_fallback(cli, typed, tmp_path):
    typed.execute("UPDATE contacts SET name = NULL WHERE id = 2")
    typed.execute(
        "INSERT INTO property_values(contact_id, property_id, value) "
        f"SELECT 1, id, {VALUE} FROM properties WHERE name = 'First Name'",
        [param("Augusta")],
    )
    typed.execute(
        "INSERT INTO property_values(contact_id, property_id, value) "
        f"SELECT 1, id, {VALUE} FROM properties WHERE name = 'renewal'",
        [param("2027-01-31T08:00:00Z")],
    )
    typed.conn.commit()
    path = write_flow(
        tmp_path,
        """
        name: greet
        match: 'score exists'
        steps:
          - note: |-
              Hi {{ contact["First Name"] | default("there") }} / {{ contact.name | default("friend") }}, renewal {{ contact.renewal | default('n/a') }}, {{ contact['in'] }}
        """,
    )
    declare(typed, "in", "number")
    typed.conn.commit()
    assert problems(cli, path) == []
    assert run_json(cli, path)[0].exit_code == 0
    bodies = [r[0] for r in typed.execute("SELECT body FROM notes WHERE author = 'flow:greet' ORDER BY contact_id")]
    assert bodies == [
        "Hi Augusta / Ada, renewal 2027-01-31T08:00:00Z, ",
        "Hi there / friend, renewal n/a, ",
    ]


def test_a_template_is_one_sql_expression(typed):
    body = compile_template(typed, 'Hi {{ contact["First Name"] | default("there") }} {{ contact.score }}')
    assert body.sql.count("coalesce") == 2 and "nullif" in body.sql
    assert body.params[-1] == "" or "there" in body.params
    rendered = typed.execute(f"SELECT {body.sql} FROM contacts AS c WHERE c.id = 1", body.params).fetchone()[0]
    assert rendered == "Hi there 80"


def test_unknown_placeholder_by_name(cli, typed, tmp_path):
    path = flow_with(tmp_path, """note: 'Hi {{ contact["Frist Name"] }}'""")
    assert problems(cli, path) == [
        f'{path}:4:15: steps[0].note: unknown placeholder {{{{ contact["Frist Name"] }}}}: '
        "no field or property 'Frist Name' (did you mean attr(\"First Name\")?)"
    ]


# The sample flows --------------------------------------------------------------------------


def test_sample_flows_validate_with_the_sample_catalog_and_no_contacts(run):
    assert run("init", "--sample", "-q").returncode == 0
    assert run("delete", "--all", "--yes", "-q").returncode == 0
    assert run("contact", "count").stdout == "0\n"
    result = run("flow", "validate", *SAMPLE_FLOWS)
    assert (result.returncode, result.stderr) == (0, "".join(f"{p}: ok\n" for p in SAMPLE_FLOWS))
    runs = run("flow", "run", *SAMPLE_FLOWS, "--yes", "--format", "json")
    assert runs.returncode == 0, runs.stderr


def test_sample_flows_name_properties_a_bare_init_does_not_declare(run):
    assert run("init", "-q").returncode == 0
    vip = next(p for p in SAMPLE_FLOWS if p.name == "vip-tagging.yaml")
    result = run("flow", "validate", vip)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"{vip}:4:9: match: unknown field 'score' (declare it with `crmctl property create`)"
    )
