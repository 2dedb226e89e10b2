"""Durable flows: waits, exit_when, catching up, edits while parked (issue 5). Time is CRMCTL_NOW."""

from __future__ import annotations

import json

import pytest
from conftest import set_value
from flowkit import note_count, run_json, tag_holders, write_flow

NURTURE = """
    name: nurture
    match: 'plan == "trial"'
    exit_when: 'plan == "paid"'
    steps:
      - tag_add: churned
      - id: first
        wait: 3d
      - if: 'score < 50'
        then:
          - note: "quiet"
          - id: second
            wait: 1w
          - tag_add: at-risk
        else:
          - tag_add: winback
"""

T0 = "2026-11-01T12:00:00Z"


@pytest.fixture
def nurture(tmp_path, people):
    people.execute("INSERT INTO tags(name, created_at) VALUES ('winback', 'x'), ('at-risk', 'x')")
    set_value(people, 2, "score", 70)
    set_value(people, 3, "score", 10)
    people.conn.commit()
    return write_flow(tmp_path, NURTURE)


def at(monkeypatch, moment):
    monkeypatch.setenv("CRMCTL_NOW", moment)


def status(cli, flow):
    return json.loads(cli("flow", "status", flow, "--format", "json").stdout)


def test_enrolment_parks_at_first_wait(cli, people, nurture):
    _, [report] = run_json(cli, nurture)
    assert (report["matched"], report["parked"], report["resumed"], report["completed"]) == (2, 2, 0, 0)
    assert tag_holders(people, "churned") == [2, 3]
    assert status(cli, nurture) == {
        "flow": "nurture",
        "in_progress": 2,
        "completed": 0,
        "exited": 0,
        "waiting": [
            {
                "step": "first",
                "path": "steps[1]",
                "id": "first",
                "contacts": 2,
                "next_due": "2026-11-04T12:00:00Z",
                "last_due": "2026-11-04T12:00:00Z",
            }
        ],
        "branches": [],
    }


def test_not_early_not_late(cli, people, nurture, monkeypatch):
    run_json(cli, nurture)
    at(monkeypatch, "2026-11-04T11:59:59Z")
    _, [early] = run_json(cli, nurture)
    assert (early["matched"], early["resumed"]) == (0, 0)
    at(monkeypatch, "2026-11-04T12:00:00Z")
    _, [due] = run_json(cli, nurture)
    assert due["resumed"] == 2 and due["parked"] == 1 and due["completed"] == 1
    assert tag_holders(people, "winback") == [2]
    assert note_count(people, 3) == 1
    assert status(cli, nurture)["waiting"] == [
        {
            "step": "second",
            "path": "steps[2].then[1]",
            "id": "second",
            "contacts": 1,
            "next_due": "2026-11-11T12:00:00Z",
            "last_due": "2026-11-11T12:00:00Z",
        }
    ]
    at(monkeypatch, "2026-11-11T12:00:00Z")
    _, [last] = run_json(cli, nurture)
    assert last["resumed"] == 1 and last["completed"] == 1
    assert tag_holders(people, "at-risk") == [3]
    assert status(cli, nurture)["completed"] == 2


def test_catching_up_moves_one_wait_per_run(cli, people, nurture, monkeypatch):
    run_json(cli, nurture)
    at(monkeypatch, "2026-12-30T00:00:00Z")  # weeks late
    _, [late] = run_json(cli, nurture)
    assert late["resumed"] == 2 and late["parked"] == 1
    assert status(cli, nurture)["waiting"][0]["next_due"] == "2027-01-06T00:00:00Z"
    assert tag_holders(people, "at-risk") == []


def test_in_progress_contacts_are_not_enrolled_again(cli, people, nurture, tmp_path):
    again = write_flow(tmp_path, NURTURE.replace("exit_when", "reentry: true\n    exit_when"), "again.yaml")
    run_json(cli, again)
    _, [second] = run_json(cli, again)
    assert second["matched"] == 0
    assert len(tag_holders(people, "churned")) == 2


def test_exit_when_removes_in_progress_contacts(cli, people, nurture, monkeypatch):
    run_json(cli, nurture)
    set_value(people, 3, "plan", "paid")
    people.conn.commit()
    at(monkeypatch, "2026-11-04T12:00:00Z")
    _, [report] = run_json(cli, nurture)
    assert report["exited"] == 1 and report["resumed"] == 1
    assert note_count(people, 3) == 0
    state = status(cli, nurture)
    assert (state["exited"], state["completed"], state["in_progress"]) == (1, 1, 0)
    actions = [r[0] for r in people.execute("SELECT action FROM audit WHERE actor = 'flow:nurture'")]
    assert "flow_exit" in actions


def test_blocked_contact_stays_parked(cli, people, nurture, monkeypatch):
    run_json(cli, nurture)
    cli("block", "-c", "3")
    at(monkeypatch, "2026-11-05T00:00:00Z")
    _, [report] = run_json(cli, nurture)
    assert report["resumed"] == 1
    assert status(cli, nurture)["waiting"][0] == {
        "step": "first",
        "path": "steps[1]",
        "id": "first",
        "contacts": 1,
        "next_due": "2026-11-04T12:00:00Z",
        "last_due": "2026-11-04T12:00:00Z",
    }
    cli("unblock", "-c", "3")
    _, [later] = run_json(cli, nurture)
    assert later["resumed"] == 1


def test_deleted_contact_leaves_its_enrolment(cli, people, nurture):
    run_json(cli, nurture)
    cli("delete", "-c", "3", "--yes")
    assert status(cli, nurture)["in_progress"] == 1


def test_edit_keeping_wait_ids_keeps_positions(cli, people, nurture, monkeypatch):
    run_json(cli, nurture)
    nurture.write_text(nurture.read_text().replace("steps:\n", 'steps:\n  - note: "new first step"\n', 1))
    at(monkeypatch, "2026-11-04T12:00:00Z")
    result, [report] = run_json(cli, nurture)
    assert result.exit_code == 0 and report["resumed"] == 2
    assert note_count(people, 2) == 0  # resumed contacts do not repeat earlier steps


def test_removed_wait_refuses_until_told_what_to_do(cli, people, nurture, monkeypatch):
    run_json(cli, nurture)
    nurture.write_text(nurture.read_text().replace("  - id: first\n    wait: 3d\n", ""))
    at(monkeypatch, "2026-11-04T12:00:00Z")
    result = cli("flow", "run", nurture)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: nurture: flow 'nurture' changed while contacts were parked at waits it no longer has "
        "(2 at first); rerun with --on-missing-wait end to end their enrolment\n"
    )
    result, [report] = run_json(cli, nurture, "--on-missing-wait", "end")
    assert result.exit_code == 0 and report["exited"] == 2 and report["matched"] == 0
    detail = people.execute("SELECT detail FROM audit WHERE action = 'flow_missing_wait'").fetchone()[0]
    assert detail == "ended enrolment: 2 at first"


def test_on_missing_wait_takes_only_known_values(cli, people, nurture):
    result = cli("flow", "run", nurture, "--on-missing-wait", "skip")
    assert result.exit_code == 2
    assert result.stderr == "Error: --on-missing-wait must be 'end', not 'skip'\n"


def test_dry_run_of_resume_equals_real(cli, people, nurture, monkeypatch):
    run_json(cli, nurture)
    at(monkeypatch, "2026-11-04T12:00:00Z")
    _, [dry] = run_json(cli, nurture, "--dry-run")
    _, [real] = run_json(cli, nurture)
    for key in ("matched", "resumed", "parked", "exited", "completed", "steps"):
        assert dry[key] == real[key], key


def test_show_marks_waits_with_parked_counts(cli, people, nurture):
    run_json(cli, nurture)
    out = cli("flow", "show", nurture).stdout
    assert "wait 3d  [first]  2 parked" in out
    assert "wait 1w  [second]  0 parked" in out


def test_a_declared_property_is_valid_before_any_contact_has_it(cli, people, tmp_path):
    assert cli("property", "create", "stage", "--type", "text").exit_code == 0
    flow = write_flow(
        tmp_path,
        """
        name: staged
        match: 'plan == "trial"'
        exit_when: 'stage == "done"'
        steps:
          - set: {stage: started}
          - if: 'stage == "started"'
            then:
              - note: "stage {{ contact.stage }}"
    """,
    )
    assert cli("flow", "validate", flow).exit_code == 0
    result, [report] = run_json(cli, flow)
    assert result.exit_code == 0, result.stderr
    assert report["steps"][2]["changed"] == 2
    assert [r[0] for r in people.execute("SELECT DISTINCT body FROM notes WHERE author = 'flow:staged'")] == [
        "stage started"
    ]


def test_a_property_the_flow_sets_must_be_declared(cli, people, tmp_path):
    flow = write_flow(tmp_path, "name: staged\nmatch: 'plan == \"trial\"'\nsteps:\n  - set: {stage: started}\n")
    result = cli("flow", "validate", flow)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{flow}:4:11: steps[0].set: unknown property 'stage' (did you mean 'tags'?): "
        "declare it with `crmctl property create stage --type TYPE`\n"
    )


def test_status_of_an_unknown_flow_name_is_an_error(cli, people):
    result = cli("flow", "status", "nurtur")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: no flow named 'nurtur' has run in this database (give its file to see an empty status)\n"
    )


def test_status_of_a_file_that_never_ran(cli, people, nurture):
    assert status(cli, nurture) == {
        "flow": "nurture",
        "in_progress": 0,
        "completed": 0,
        "exited": 0,
        "waiting": [],
        "branches": [],
    }
