"""Crash safety: real crmctl processes killed with SIGKILL at random moments — 21 kills in all,
two thirds of them inside the write transaction. After each: integrity_check ok, no foreign key
orphans, and the command's effects wholly present or wholly absent. The longer run is
benchmarks/stress_crash.py."""

from __future__ import annotations

import random

import pytest
from crashkit import MOMENTS, SCENARIOS, build_template, kill_once, reference

KILLS = 7  # per command


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("crash") / "template", contacts=3000)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sigkill_leaves_all_or_nothing(template, tmp_path, name):
    ref = reference(name, template, tmp_path)
    rng = random.Random(f"crash {name}")
    outcomes = []
    while outcomes.count("absent") + outcomes.count("present") < KILLS:
        outcomes.append(kill_once(ref, template, tmp_path, rng, moment=MOMENTS[len(outcomes) % len(MOMENTS)]))
        assert len(outcomes) < 2 * KILLS, f"the command kept finishing before the kill: {outcomes}"
    assert "absent" in outcomes  # the kills inside the transaction cannot all have come too late
