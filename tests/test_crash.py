"""Crash safety: real crmctl processes killed with SIGKILL inside their write transaction —
14 kills in all, each at a named point (the test-only hook CRMCTL_TEST_PAUSE_AT), so every
outcome is known in advance and nothing races a timer. After each: integrity_check ok, no
foreign key orphans, and the command's effects wholly absent (killed before the commit) or
wholly present (after it). Random kill moments, mid-statement too, are the stress script's:
benchmarks/stress_crash.py."""

from __future__ import annotations

import sqlite3

import pytest
from crashkit import POINTS, build_template, expected_outcome, kill_at, launch, reference


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("crash") / "template", contacts=3000)


@pytest.mark.parametrize("name", list(POINTS))
def test_sigkill_leaves_all_or_nothing(template, tmp_path, name):
    ref = reference(name, template, tmp_path)
    outcomes = [kill_at(ref, template, tmp_path, point) for point in POINTS[name]]
    assert outcomes == [expected_outcome(point) for point in POINTS[name]]


def test_a_delete_killed_after_its_commit_is_erased_by_the_next_command(template, tmp_path):
    ref = reference("delete", template, tmp_path)
    assert kill_at(ref, template, tmp_path, "transaction:committed") == "present"
    trial = tmp_path / "trial.db"
    with sqlite3.connect(trial) as conn:
        assert conn.execute("SELECT count(*) FROM meta WHERE key = 'erase_pending'").fetchone() == (1,)
    after = launch(["contact", "count"], trial)
    assert after.wait(timeout=60) == 0
    with sqlite3.connect(trial) as conn:
        assert conn.execute("SELECT count(*) FROM meta WHERE key = 'erase_pending'").fetchone() == (0,)
