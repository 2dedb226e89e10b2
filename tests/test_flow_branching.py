"""on_exit, switch and split, through the installed `crmctl`."""

from __future__ import annotations

import json

import pytest
from conftest import lines_json, set_value
from flowkit import tag_holders, write_flow
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmctl.store import flows as flow_sql
from crmctl.store import scopes


def run_flow(run, path, *args) -> dict:
    result = run("flow", "run", path, "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    return lines_json(result.stdout)[0]


def steps(report: dict) -> dict:
    return {s["step"]: s for s in report["steps"]}


def problems(run, path) -> list[str]:
    result = run("flow", "validate", path)
    assert result.returncode == 2, result.stderr
    return [line.split(":", 1)[1] for line in result.stderr.splitlines() if line.startswith(str(path))]


# on_exit ---------------------------------------------------------------------------------------

LEAVING = """
    name: trials
    match: 'plan == "trial"'
    exit_when: 'plan == "paid"'
    steps:
      - tag_add: churned
      - note: "in the trial flow"
      - id: pause
        wait: 1d
      - tag_add: vip
    on_exit:
      - tag_remove: churned
      - id: goodbye
        note: "left the trial flow"
"""


def test_on_exit_cleans_up_contacts_leaving_through_exit_when(run, people, tmp_path):
    path = write_flow(tmp_path, LEAVING)
    first = run_flow(run, path)
    assert (first["matched"], first["parked"]) == (2, 2)
    assert tag_holders(people, "churned") == [2, 3]
    set_value(people, 2, "plan", "paid")
    people.conn.commit()
    report = run_flow(run, path)
    assert report["exited"] == 1
    named = steps(report)
    assert (named["on_exit[0]"]["path"], named["on_exit[0]"]["id"]) == ("on_exit[0]", None)
    assert (named["on_exit[0]"]["contacts"], named["on_exit[0]"]["changed"]) == (1, 1)
    assert (named["goodbye"]["path"], named["goodbye"]["contacts"], named["goodbye"]["changed"]) == ("on_exit[1]", 1, 1)
    assert report["changed"] == {"tag_add": 0, "note": 1, "tag_remove": 1}
    assert tag_holders(people, "churned") == [3]
    notes = [r[0] for r in people.execute("SELECT body FROM notes WHERE contact_id = 2 ORDER BY id")]
    assert notes == ["in the trial flow", "left the trial flow"]
    again = run_flow(run, path)
    assert again["exited"] == 0 and steps(again)["goodbye"]["contacts"] == 0


def test_on_exit_skips_blocked_leavers_unless_the_flow_includes_blocked(run, people, tmp_path):
    path = write_flow(tmp_path, LEAVING)
    run_flow(run, path)
    set_value(people, 2, "plan", "paid")
    set_value(people, 3, "plan", "paid")
    people.execute("UPDATE contacts SET blocked_at = '2026-01-01T00:00:00Z' WHERE id = 3")
    people.conn.commit()
    report = run_flow(run, path)
    assert report["exited"] == 2
    assert steps(report)["on_exit[0]"]["contacts"] == 1
    assert tag_holders(people, "churned") == [3]


def test_on_exit_allows_actions_only_and_needs_exit_when(run, people, tmp_path):
    path = write_flow(
        tmp_path,
        """
        name: bad-exit
        match: 'plan == "trial"'
        steps: [block]
        on_exit:
          - wait: 1d
          - delete
          - if: 'score > 1'
            then: [block]
          - tag_add: vip
    """,
    )
    allowed = "tag_add, tag_remove, note, set, unset, block, unblock, emit"
    assert problems(run, path) == [
        "4:1: on_exit: needs exit_when (on_exit runs for the contacts it lets go)",
        f"5:5: on_exit[0]: wait is not allowed in on_exit (allowed: {allowed})",
        f"6:5: on_exit[1]: delete is not allowed in on_exit (allowed: {allowed})",
        f"7:5: on_exit[2]: if is not allowed in on_exit (allowed: {allowed})",
    ]


# switch ----------------------------------------------------------------------------------------

SWITCH = """
    name: by-plan
    match: 'id > 0'
    steps:
      - id: plans
        switch: plan
        cases:
          trial: [{tag_add: churned}]
          pro:
            - tag_add: vip
            - id: pro-wait
              wait: 1d
            - note: "pro, a day later"
        default: [{note: "no plan case"}]
      - note: "after the switch"
"""


def test_switch_sends_each_contact_down_its_case(run, people, tmp_path):
    people.execute("DELETE FROM contact_tags")
    people.conn.commit()
    path = write_flow(tmp_path, SWITCH)
    report = run_flow(run, path)
    plans = steps(report)["plans"]
    assert (plans["path"], plans["action"], plans["contacts"]) == ("steps[0]", "switch", 4)
    assert plans["cases"] == {"trial": 2, "pro": 1} and plans["default"] == 1  # 4 is blocked
    assert tag_holders(people, "churned") == [2, 3]
    assert tag_holders(people, "vip") == [1]
    assert steps(report)["steps[0].default[0]"]["contacts"] == 1
    assert steps(report)["steps[1]"]["contacts"] == 3  # ada waits inside the pro case
    assert (report["parked"], report["completed"]) == (1, 3)


def test_a_contact_resumed_inside_a_case_goes_on_after_the_switch(run, people, tmp_path):
    path = write_flow(tmp_path, SWITCH)
    run_flow(run, path)
    result = run("flow", "run", path, "--format", "json", env={"CRMCTL_NOW": "2026-11-02T12:00:00Z"})
    report = lines_json(result.stdout)[0]
    assert report["resumed"] == 1
    assert steps(report)["steps[0].cases.pro[2]"]["contacts"] == 1
    assert steps(report)["steps[1]"]["contacts"] == 1
    notes = [r[0] for r in people.execute("SELECT body FROM notes WHERE contact_id = 1 AND author LIKE 'flow:%'")]
    assert notes == ["pro, a day later", "after the switch"]


def test_without_default_unmatched_contacts_go_on_after_the_switch(run, people, tmp_path):
    path = write_flow(
        tmp_path,
        """
        name: scores
        match: 'id > 0'
        steps:
          - switch: score
            cases:
              80: [{tag_add: vip}]
              20: [block]
          - note: "after"
    """,
    )
    report = run_flow(run, path)
    switch = steps(report)["steps[0]"]
    assert switch["cases"] == {"80": 1, "20": 1} and switch["default"] == 2
    assert steps(report)["steps[1]"]["contacts"] == 4
    assert people.execute("SELECT id FROM contacts WHERE blocked_at IS NOT NULL ORDER BY id").fetchall() == [(2,), (4,)]


def test_case_labels_are_read_by_the_fields_type(run, people, tmp_path):
    set_value(people, 5, "country", "NO")
    set_value(people, 2, "country", "10")
    people.conn.commit()
    path = write_flow(
        tmp_path,
        """
        name: typed
        match: 'id > 0'
        include_blocked: true
        steps:
          - id: where
            switch: country
            cases:
              NO: [{tag_add: vip}]
              10: [{tag_add: churned}]
          - id: state
            switch: blocked
            cases:
              true: [{note: blocked}]
          - id: joined
            switch: created_at
            cases:
              2025-01-01: [{note: "joined on new year's day"}]
    """,
    )
    report = run_flow(run, path)
    assert steps(report)["where"]["cases"] == {"NO": 1, "10": 1}  # text: YAML's `NO` (false) and 10 stay text
    assert tag_holders(people, "vip") == [1, 3, 5]
    assert steps(report)["state"]["cases"] == {"true": 1}
    assert steps(report)["joined"]["cases"] == {"2025-01-01": 5}


def test_switch_validation_errors_have_positions(run, people, tmp_path):
    path = write_flow(
        tmp_path,
        """
        name: bad-switch
        match: 'id > 0'
        steps:
          - switch: plna
            cases:
              trial: []
          - switch: score
            cases:
              1: []
              1.0: []
              high: []
              "5": []
          - switch: blocked
            cases:
              yes: []
          - switch: tags
            cases:
              vip: []
          - switch: created_at
            cases:
              soon: []
          - switch: plan
            cases:
              ~: []
    """,
    )
    assert problems(run, path) == [
        "4:13: steps[0].switch: unknown field 'plna' (did you mean 'plan'?)",
        "10:7: steps[1].cases[\"1.0\"]: duplicate case '1.0', the same value as '1' (line 9)",
        "11:7: steps[1].cases.high: case 'high' is not a number",
        "12:7: steps[1].cases.5: case '5' is not a number (write it without quotes)",
        "15:7: steps[2].cases.yes: case 'yes' is not true or false",
        '16:13: steps[3].switch: a contact has several tags: branch on them with `if: tags contains "…"`',
        "21:7: steps[4].cases.soon: case 'soon' is not a time: write a date such as 2026-01-31",
        "24:7: steps[5].cases[\"~\"]: case '~' is no value: contacts without one go to `default`",
    ]


def test_duplicate_emails_differ_only_in_case(run, people, tmp_path):
    path = write_flow(
        tmp_path,
        """
        name: mails
        match: 'id > 0'
        steps:
          - switch: email
            cases:
              bob@example.com: []
              BOB@example.com: []
    """,
    )
    assert problems(run, path) == [
        "7:7: steps[0].cases[\"BOB@example.com\"]: duplicate case 'BOB@example.com', the same value as "
        "'bob@example.com' (line 6)"
    ]


# split -----------------------------------------------------------------------------------------

SPLIT = """
    name: subject
    match: 'id > 0'
    include_blocked: true
    steps:
      - id: subject-test
        split:
          a: {percent: 40, steps: [{tag_add: vip}]}
          b: {percent: 60}
      - note: "after the split"
"""


@pytest.fixture
def many(db):
    from bulk import add_bulk_contacts

    add_bulk_contacts(db, 2000)
    return db


def branch_of(db) -> dict[int, str]:
    return dict(db.execute("SELECT contact_id, branch FROM flow_branches WHERE flow = 'subject'").fetchall())


def test_split_is_deterministic_recorded_and_counted(run, many, tmp_path):
    path = write_flow(tmp_path, SPLIT)
    dry = run_flow(run, path, "--dry-run")
    assert branch_of(many) == {}
    real = run_flow(run, path)
    assert steps(dry)["subject-test"] == steps(real)["subject-test"]
    counts = steps(real)["subject-test"]["branches"]
    assert sum(counts.values()) == 2000 and abs(counts["a"] - 800) < 80
    recorded = branch_of(many)
    assert sorted(recorded) == list(range(1, 2001))
    assert [k for k, v in recorded.items() if v == "a"] == tag_holders(many, "vip")
    status = json.loads(run("flow", "status", "subject", "-f", "json").stdout)
    assert status["branches"] == [
        {"step": "subject-test", "path": "steps[0]", "id": "subject-test", "branch": "a", "contacts": counts["a"]},
        {"step": "subject-test", "path": "steps[0]", "id": "subject-test", "branch": "b", "contacts": counts["b"]},
    ]
    text = run("flow", "status", "subject").stdout
    assert f"  split subject-test, branch a: {counts['a']}\n" in text


def test_a_re_entered_or_renamed_file_keeps_each_contacts_branch(run, many, tmp_path):
    first = write_flow(tmp_path, SPLIT)
    run_flow(run, first)
    before = branch_of(many)
    many.execute("DELETE FROM flow_enrolments")
    many.conn.commit()
    moved = write_flow(tmp_path, SPLIT.replace("after the split", "after"), "moved.yaml")
    run_flow(run, moved)
    assert branch_of(many) == before


def test_split_needs_an_id_names_and_shares_that_add_up(run, people, tmp_path):
    path = write_flow(
        tmp_path,
        """
        name: bad-split
        match: 'id > 0'
        steps:
          - split:
              a: {percent: 50}
              b: {percent: 40}
          - id: other
            split:
              A B: {percent: 50}
              b: {percent: 50.5}
    """,
    )
    assert problems(run, path) == [
        "4:5: steps[0]: a split needs an id (e.g. `id: subject-test`): a contact's branch is a hash of the "
        "flow's name, this id and the contact's id",
        "5:7: steps[0].split: the branches' percentages add up to 90, not 100",
        "9:7: steps[1].split[\"A B\"]: branch name 'A B' must use lowercase letters, digits, '-' and '_', "
        "starting with a letter or digit",
        "10:20: steps[1].split.b.percent: Input should be a valid integer, not a decimal number",
    ]


def bucket_shares(db, seed: str, percents: list[int], count: int = 100_000) -> list[float]:
    """The shares the engine's own SQL gives `count` contacts, as fractions."""
    flow_sql.register_split_bucket(db)
    scopes.create(db, "everyone")
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO temp.everyone(id) SELECT i FROM n",
        [count],
    )
    flow_sql.fill_buckets(db, "everyone", "buckets", seed)
    shares, low = [], 0
    for percent in percents:
        scopes.create(db, "taken")
        flow_sql.take_buckets(db, "buckets", "taken", low, low + percent)
        shares.append(scopes.count(db, "taken") / count)
        low += percent
    return shares


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    step=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    cut=st.integers(min_value=1, max_value=99),
)
def test_the_split_of_100k_contacts_is_within_one_point_of_the_asked_shares(db, name, step, cut):
    shares = bucket_shares(db, f"{name}\x1f{step}", [cut, 100 - cut])
    assert abs(shares[0] - cut / 100) < 0.01 and abs(shares[1] - (100 - cut) / 100) < 0.01


def test_the_bucket_is_the_documented_hash(db):
    import hashlib

    flow_sql.register_split_bucket(db)
    digest = hashlib.sha256(b"subject\x1fsubject-test\x1f42").digest()
    expected = int.from_bytes(digest[:8], "big") % 100
    assert db.execute("SELECT crmctl_split_bucket(?, 42)", ["subject\x1fsubject-test"]).fetchone()[0] == expected
