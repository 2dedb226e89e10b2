"""Crash-safety stress run: hundreds of SIGKILLs of real crmctl processes (not run in CI).

Each iteration copies a template database, starts one of `flow run`, `contact import` or
`delete --suppress` on it, kills it with SIGKILL at a random moment (in turn: anywhere in the
process's life, inside its write transaction — after the lock-holder file appears — or in the
last third of that transaction, where the writing happens), then checks that
`PRAGMA integrity_check` is ok, `PRAGMA foreign_key_check` is empty, and that the database is
exactly as before the command or exactly as after an uninterrupted run. First, though, each
command is killed once at every named pause point (the test-only hook CRMCTL_TEST_PAUSE_AT),
as tests/test_crash.py does in CI; the random kills add what no named point can reach, such
as a kill in the middle of an SQLite statement. The machinery is tests/crashkit.py.

Usage, from the repository root with the project installed (`pip install -e '.[test]'`):

    python benchmarks/stress_crash.py                      # 300 kills, 100 per command
    python benchmarks/stress_crash.py --iterations 1000 --contacts 20000 --seed 7
    python benchmarks/stress_crash.py --scenario delete --iterations 200

It stops at the first failure, keeping the damaged copy and printing its path, and exits 1;
otherwise it prints a summary per command (kills, outcomes, time) and exits 0.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from crashkit import (  # noqa: E402
    MOMENTS,
    POINTS,
    SCENARIOS,
    build_template,
    expected_outcome,
    kill_at,
    kill_once,
    reference,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300, help="kills in all (default 300)")
    parser.add_argument("--contacts", type=int, default=4000, help="contacts in the template (default 4000)")
    parser.add_argument("--seed", default="stress", help="random seed for the kill moments")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="only this command (repeatable; default: all three)",
    )
    parser.add_argument("--workdir", type=Path, help="where to keep the databases (default: a temporary directory)")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="crmctl-stress-"))
    workdir.mkdir(parents=True, exist_ok=True)
    names = args.scenario or list(SCENARIOS)
    print(f"template: {args.contacts} contacts in {workdir}", flush=True)
    template = build_template(workdir / "template", args.contacts)
    rng = random.Random(args.seed)
    refs = {}
    for name in names:
        refs[name] = reference(name, template, workdir)
        ref = refs[name]
        print(f"{name}: transaction from {ref.start_s:.2f} s to {ref.end_s:.2f} s", flush=True)

    for name in names:  # the deterministic kills first: each outcome is known in advance
        for point in POINTS[name]:
            try:
                outcome = kill_at(refs[name], template, workdir, point)
                assert outcome == expected_outcome(point), f"{outcome} after a kill at {point}"
            except AssertionError as failure:
                print(f"FAILED at pause point {point} ({name}): {failure}")
                return 1
        print(f"{name}: killed at {', '.join(POINTS[name])}: all or nothing", flush=True)

    outcomes = {name: Counter() for name in names}
    began = time.monotonic()
    for iteration in range(args.iterations):
        name = names[iteration % len(names)]
        moment = MOMENTS[(iteration // len(names)) % len(MOMENTS)]
        try:
            outcome = kill_once(refs[name], template, workdir, rng, moment=moment)
        except AssertionError as failure:
            kept = workdir / f"failed-{iteration}.db"
            for suffix in ("", "-wal", "-shm"):  # the file alone, without its WAL, is not the database
                if Path(f"{workdir / 'trial.db'}{suffix}").exists():
                    shutil.copyfile(f"{workdir / 'trial.db'}{suffix}", f"{kept}{suffix}")
            print(f"FAILED at iteration {iteration} ({name}): {failure}\nthe database is kept at {kept}")
            return 1
        outcomes[name][outcome] += 1
        if (iteration + 1) % 25 == 0:
            print(f"{iteration + 1}/{args.iterations} in {time.monotonic() - began:.0f} s", flush=True)

    kills = sum(c["absent"] + c["present"] for c in outcomes.values())
    print(f"\n{kills} kills ({args.iterations} runs) in {time.monotonic() - began:.0f} s; every one all or nothing")
    for name, counts in outcomes.items():
        print(
            f"  {name:15} absent {counts['absent']:4}  present {counts['present']:4}  "
            f"finished before the kill {counts['finished']:4}"
        )
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
