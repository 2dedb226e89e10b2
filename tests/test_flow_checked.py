"""Flow texts already checked in a real run are recalled without YAML or pydantic, and a
recalled flow behaves exactly like one checked in full."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import declare
from flowkit import run_json, write_flow

from crmctl.flows import checked
from crmctl.flows.loader import load_flow
from crmctl.store import open_db

SAMPLE_FLOWS = sorted(
    p
    for p in (Path(__file__).parent.parent / "sample_data" / "flows").glob("*.yaml")
    if p.name != "invalid-example.yaml"
)

FLOW = """
    name: plans
    match: 'plan == "trial"'
    steps:
      - set: {stage: nurtured}
      - note: "Plan {{ contact.plan }}"
      - if: 'stage == "nurtured"'
        then: [block]
"""


def checked_rows(db) -> list[tuple]:
    return [tuple(r) for r in db.execute("SELECT flow, checker FROM flow_checked ORDER BY flow")]


@pytest.fixture(autouse=True)
def stage_property(people):
    declare(people, "stage", "text")
    people.conn.commit()


@pytest.fixture
def ran(people, cli, tmp_path):
    path = write_flow(tmp_path, FLOW)
    result, _ = run_json(cli, path)
    assert result.exit_code == 0, result.output
    return path


def test_a_real_run_remembers_the_text_and_a_dry_run_does_not(people, cli, tmp_path):
    path = write_flow(tmp_path, FLOW)
    assert run_json(cli, path, "--dry-run")[0].exit_code == 0
    assert checked_rows(people) == []
    assert run_json(cli, path)[0].exit_code == 0
    assert checked_rows(people) == [("plans", checked.CHECKER)]


def test_the_recalled_flow_equals_the_one_checked_in_full(ran, people):
    full = load_flow(str(ran))
    recalled = checked.recall(people, str(ran), ran.read_text())
    assert recalled is not None
    assert recalled == full
    assert recalled.digest == full.digest


@pytest.mark.parametrize("path", SAMPLE_FLOWS, ids=lambda p: p.name)
def test_every_sample_flow_survives_the_round_trip(path, cli, isolated_db):
    assert cli("init", "--sample", "-q").exit_code == 0
    db = open_db(isolated_db)
    flow = load_flow(str(path), db)
    checked.remember(db, flow, "2026-11-01T12:00:00Z")
    assert checked.recall(db, str(path), path.read_text()) == flow


def test_a_re_run_imports_neither_yaml_nor_pydantic(ran, isolated_db):
    probe = (
        "import sys\n"
        "from crmctl.flows.loader import load_flow\n"
        "from crmctl.store import open_db, resolve_path\n"
        f"flow = load_flow({str(ran)!r}, open_db(resolve_path({str(isolated_db)!r})))\n"
        "print(flow.name, 'yaml' in sys.modules, 'pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out == "plans False False\n"


def test_an_edited_file_is_checked_in_full(ran, cli):
    ran.write_text(ran.read_text().replace("[block]", "[blok]"))
    result, _ = run_json(cli, ran)
    assert result.exit_code == 2
    assert f"{ran}:7:12: steps[2].then[0]: unknown step 'blok' (did you mean 'block'?)" in result.stderr


def test_a_property_gone_from_the_catalog_is_reported_with_its_position(ran, people, cli):
    assert cli("property", "delete", "plan", "--yes").exit_code == 0
    result, _ = run_json(cli, ran)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith(f"{ran}:2:9: match: unknown field 'plan'")


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE flow_checked SET structure = 'not json'",
        "UPDATE flow_checked SET structure = '{}'",
        "UPDATE flow_checked SET structure = replace(structure, 'nurtured', 'tampered')",
        "UPDATE flow_checked SET checker = 'another'",
    ],
)
def test_a_row_that_does_not_match_is_ignored(ran, people, tamper):
    people.execute(tamper)
    people.conn.commit()
    assert checked.recall(people, str(ran), ran.read_text()) is None
    assert load_flow(str(ran), people) == load_flow(str(ran))


def test_only_the_newest_text_of_a_flow_is_kept(ran, people, cli):
    ran.write_text(ran.read_text() + "# a comment changes the text, not the flow\n")
    assert run_json(cli, ran)[0].exit_code == 0
    rows = people.execute("SELECT text_sha256 FROM flow_checked").fetchall()
    assert rows == [(checked.text_sha256(ran.read_text()),)]


def test_a_recalled_flow_runs_like_a_fresh_one(people, cli, tmp_path, monkeypatch):
    path = write_flow(
        tmp_path,
        """
        name: notes
        match: 'plan == "trial"'
        reentry: true
        steps:
          - note: "Plan {{ contact.plan }}"
          - tag_add: vip
    """,
    )
    first = run_json(cli, path)[1][0]

    def no_full_check(*args):
        raise AssertionError("the text was checked in full again")

    monkeypatch.setattr("crmctl.flows.checker.check_text", no_full_check)
    second = run_json(cli, path)[1][0]
    assert first["matched"] == second["matched"] == 2
    assert second["steps"] == [{**step, "changed": n} for step, n in zip(first["steps"], (2, 0), strict=True)]
    assert people.execute("SELECT count(*) FROM notes WHERE body = 'Plan trial'").fetchone()[0] == 4


def test_a_recalled_flow_is_checked_again_against_the_tag_catalog(people, cli, tmp_path):
    path = write_flow(tmp_path, "name: tagger\nmatch: 'id > 0'\nsteps: [{tag_add: churned}]\n")
    assert run_json(cli, path)[0].exit_code == 0
    assert checked.recall(people, str(path), path.read_text()) is not None
    assert cli("tag", "delete", "churned", "--yes").exit_code == 0
    assert checked.recall(people, str(path), path.read_text()) is None
    result = cli("flow", "run", path)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{path}:3:19: steps[0].tag_add: unknown tag 'churned': create it with `crmctl tag create churned`\n"
    )
