"""Batch mode: flow runs through the CLI, pinned rule by rule (issue 4)."""

from __future__ import annotations

import pytest
from conftest import declare
from flowkit import dump, note_count, run_json, steps_by_path, tag_holders, write_flow

BASIC = """
    name: sorter
    match: 'plan == "trial" or plan == "pro"'
    steps:
      - tag_add: churned
      - note: "Plan {{ contact.plan }} for {{ contact.name }}{{ contact.missing_key }}"
      - set: {lifecycle: dormant, score: null}
      - if: 'tags contains "vip"'
        then:
          - tag_remove: vip
        else:
          - tag_add: [winback]
"""


@pytest.fixture
def basic(tmp_path, people):
    people.execute("INSERT INTO tags(name, created_at) VALUES ('winback', 'x')")
    declare(people, "missing_key", "text")
    declare(people, "lifecycle", "text")
    people.conn.commit()
    return write_flow(tmp_path, BASIC)


def test_run_applies_steps_in_order_with_counts(cli, people, basic):
    result, [report] = run_json(cli, basic)
    assert result.exit_code == 0, result.stderr
    assert report["flow"] == "sorter" and report["status"] == "ok" and report["dry_run"] is False
    assert report["matched"] == 3
    assert steps_by_path(report) == {
        "steps[0]": (3, 2),
        "steps[1]": (3, 3),
        "steps[2]": (3, 3),
        "steps[3]": (3, 0),
        "steps[3].then[0]": (2, 2),
        "steps[3].else[0]": (1, 1),
    }
    assert tag_holders(people, "vip") == []
    assert tag_holders(people, "winback") == [2]
    assert tag_holders(people, "churned") == [1, 2, 3]
    bodies = [r[0] for r in people.execute("SELECT body FROM notes WHERE author = 'flow:sorter' ORDER BY contact_id")]
    assert bodies == ["Plan pro for Ada", "Plan trial for Bob", "Plan trial for Cy"]
    assert (
        people.execute(
            "SELECT count(*) FROM property_values AS v JOIN properties AS p ON p.id = v.property_id WHERE p.name = 'score'"
        ).fetchone()[0]
        == 0
    )


def test_second_run_matches_nothing_and_changes_nothing(cli, people, basic):
    run_json(cli, basic)
    before = dump(people)
    _, [report] = run_json(cli, basic)
    assert report["matched"] == 0
    assert all(step["contacts"] == 0 for step in report["steps"])
    history = ("flow_runs:", "flow_definitions:", "sqlite_sequence:('flow_runs'")
    after = [row for row in dump(people) if not row.startswith(history)]
    assert after == [row for row in before if not row.startswith(history)]
    assert note_count(people) == 4  # one seed note + three flow notes, never duplicated


def test_reentry_true_runs_every_time(cli, people, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        name: again
        reentry: true
        match: 'plan == "trial"'
        steps:
          - note: "hello"
    """,
    )
    run_json(cli, flow)
    _, [report] = run_json(cli, flow)
    assert report["matched"] == 2
    assert note_count(people, 2) == 2


def test_reentry_duration(cli, people, tmp_path, monkeypatch):
    flow = write_flow(
        tmp_path,
        """
        name: monthly
        reentry: 30d
        match: 'name == "Bob"'
        steps:
          - note: "monthly"
    """,
    )
    run_json(cli, flow)
    monkeypatch.setenv("CRMCTL_NOW", "2026-11-30T12:00:00Z")
    assert run_json(cli, flow)[1][0]["matched"] == 0
    monkeypatch.setenv("CRMCTL_NOW", "2026-12-01T12:00:01Z")
    assert run_json(cli, flow)[1][0]["matched"] == 1
    assert note_count(people, 2) == 2


def test_blocked_contacts_are_skipped_unless_included(cli, people, tmp_path):
    skip = write_flow(
        tmp_path,
        """
        name: everyone
        match: 'id > 0'
        steps: [{tag_add: churned}]
    """,
        "a.yaml",
    )
    assert run_json(cli, skip)[1][0]["matched"] == 4
    include = write_flow(
        tmp_path,
        """
        name: everyone-too
        include_blocked: true
        match: 'blocked'
        steps: [{tag_add: vip}]
    """,
        "b.yaml",
    )
    assert run_json(cli, include)[1][0]["matched"] == 1
    assert 4 in tag_holders(people, "vip")


def test_an_unknown_tag_makes_the_flow_invalid_against_the_database(cli, people, tmp_path):
    """The run checks tags against the catalog as `flow validate` does: the file is invalid, with
    the tag's position, before anything runs (so a flow that validates is never refused for one)."""
    flow = write_flow(
        tmp_path,
        """
        name: needs-tag
        match: 'id > 0'
        steps:
          - note: "x"
          - tag_add: platinum
    """,
    )
    before = dump(people)
    result = cli("flow", "run", flow)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{flow}:5:14: steps[1].tag_add: unknown tag 'platinum': create it with `crmctl tag create platinum`\n"
    )
    assert dump(people) == before
    validated = cli("flow", "validate", flow)
    assert (validated.exit_code, validated.stderr) == (2, result.stderr)


DELETER = """
    name: purge
    max_deletes: {limit}
    match: 'plan == "trial"'
    steps:
      - tag_add: churned
      - delete
"""


def test_delete_needs_yes_without_terminal(cli, people, tmp_path):
    flow = write_flow(tmp_path, DELETER.format(limit=10))
    before = dump(people)
    result = cli("flow", "run", flow)
    assert result.exit_code == 1
    assert result.stderr == "Error: purge: this run would delete 2 contacts: pass --yes (nothing was changed)\n"
    assert without_runs(dump(people)) == without_runs(before)
    assert refused_runs(people) == [("refused", "this run would delete 2 contacts: pass --yes (nothing was changed)")]
    result, [report] = run_json(cli, flow, "--yes")
    assert result.exit_code == 0 and report["deleted"] == 2
    assert people.execute("SELECT count(*) FROM contacts").fetchone()[0] == 3
    assert people.execute("SELECT count(*) FROM flow_enrolments").fetchone()[0] == 0


def test_max_deletes_refuses_whole_run_even_with_yes(cli, people, tmp_path):
    flow = write_flow(tmp_path, DELETER.format(limit=1))
    before = dump(people)
    result, [report] = run_json(cli, flow, "--yes")
    assert result.exit_code == 1
    assert report["status"] == "refused"
    assert report["error"] == "flow 'purge' would delete 2 contacts, more than max_deletes 1; nothing was changed"
    assert without_runs(dump(people)) == without_runs(before)
    assert refused_runs(people) == [("refused", report["error"])]


def without_runs(rows: list[str]) -> list[str]:
    """Refused runs are recorded: their rows, and the run id sequence they advance."""
    return [row for row in rows if not row.startswith(("flow_runs:", "sqlite_sequence:('flow_runs'"))]


def refused_runs(db) -> list[tuple]:
    return [tuple(r) for r in db.execute("SELECT status, error FROM flow_runs WHERE status != 'ok' ORDER BY id")]


def test_dry_run_equals_real_run_and_writes_nothing(cli, people, basic):
    before = dump(people)
    _, [dry] = run_json(cli, basic, "--dry-run")
    assert dump(people) == before
    _, [real] = run_json(cli, basic)
    assert dry["dry_run"] is True and real["dry_run"] is False
    for key in ("matched", "steps", "changed", "completed", "parked", "deleted"):
        assert dry[key] == real[key], key


def test_dry_run_of_deletes_needs_no_yes(cli, people, tmp_path):
    flow = write_flow(tmp_path, DELETER.format(limit=10))
    result, [report] = run_json(cli, flow, "--dry-run")
    assert result.exit_code == 0 and report["deleted"] == 2


def test_audit_names_flow_and_run(cli, people, basic):
    _, [report] = run_json(cli, basic)
    rows = people.execute("SELECT DISTINCT actor, run_id FROM audit WHERE actor LIKE 'flow:%'").fetchall()
    assert rows == [("flow:sorter", report["run_id"])]


def test_quiet_prints_nothing_on_success(cli, people, basic):
    result = cli("flow", "run", basic, "--quiet")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""


def test_invalid_file_fails_but_others_keep_effects(cli, people, basic, tmp_path):
    bad = write_flow(tmp_path, "name: Bad Name\nmatch: 'id > 0'\nsteps: [block]\n", "bad.yaml")
    result, reports = run_json(cli, bad, basic)
    assert result.exit_code == 2
    assert [r["status"] for r in reports] == ["invalid", "ok"]
    assert f"{bad}:1:7: name: flow name 'Bad Name' must use" in result.stderr
    assert tag_holders(people, "churned") == [1, 2, 3]


def test_runs_history(cli, people, basic):
    run_json(cli, basic)
    run_json(cli, basic)
    import json

    history = json.loads(cli("flow", "runs", "--all", "--format", "json").stdout)
    assert [h["matched"] for h in history] == [0, 3]
    changed_something = json.loads(cli("flow", "runs", "--format", "json").stdout)
    assert changed_something == history[1:]
    assert history[1]["changed"] == {"tag_add": 3, "note": 3, "set": 3, "tag_remove": 2}
    assert {h["status"] for h in history} == {"ok"}
    table = cli("flow", "runs").stdout
    assert "sorter" in table


def test_validate_reports_and_exit_codes(cli, people, basic, tmp_path):
    assert cli("flow", "validate", basic).stderr == f"{basic}: ok\n"
    bad = write_flow(tmp_path, "name: x\nmatch: 'plan = 1'\nsteps: [block]\n", "bad.yaml")
    result = cli("flow", "validate", basic, bad)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[1].startswith(f"{bad}:2:")


def test_show_draws_the_tree_with_last_counts(cli, people, basic):
    run_json(cli, basic)
    out = cli("flow", "show", basic).stdout
    assert "sorter" in out and "tag_add churned" in out and "(3 reached, 2 changed)" in out
