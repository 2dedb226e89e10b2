#!/usr/bin/env python3
"""Measure crmctl against hand-written raw SQL, side by side, on the same database.

    .venv/bin/python benchmarks/run.py [--contacts 1000000] [--runs 3] [--out benchmarks/out]

Builds the database with `crmctl contact import` (the import is itself measured), then runs
every operation as a fresh `crmctl` process, start-up included, next to its baseline
(benchmarks/baselines.py: plain `python` + `sqlite3`), each on its own fresh copy of the
same database file, alternating which side goes first. It reports the median wall time,
the work (wall time minus the side's own start-up: `crmctl --version` for crmctl,
`python -c "import sqlite3"` for the baseline), their ratio, and each process's peak RSS
(`/usr/bin/time -f %M` of that very child), and checks that both sides changed the same
number of contacts. Results go to OUT/results.json and OUT/results.md.

Run it with the virtualenv's python: `crmctl` is taken from beside sys.executable.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLOWS = HERE / "flows"
BASELINES = HERE / "baselines.py"
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (benchmarks/generate.py)
import table  # noqa: E402  (benchmarks/table.py)

TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None  # GNU time, for peak RSS
NOW = "2026-11-01T12:00:00Z"  # CRMCTL_NOW for every measured command
DURABLE_SEED_AT = "2026-10-29T11:00:00Z"  # 10k parked, due 2026-11-01T11:00 (before NOW)
DURABLE_ENROL_AT = "2026-10-31T12:00:00Z"  # 90k more parked, due 2026-11-03T12:00 (after NOW)
WHERE = "score < 10"  # about 10% of contacts
WHERE_ALL = "score >= 0"  # every contact: the memory check at full scale
NEW_TAGS = ["campaign-q4", "winback", "win-active", "winback-done", "followed-up"]
# The generated data's properties, and the one the flows set: declared before the import, as
# an operator would (`--create-properties` would infer the same types from the file).
PROPERTIES = [("plan", "text"), ("country", "text"), ("score", "number"), ("lifecycle", "text")]
NOTE = "Called about the Q4 campaign"

# Targets from the performance issue.
BULK_RATIO = 1.5
FLOW_RATIO = 1.5
LIST_RATIO = 1.5
LIST_ROWS_PER_S = 150_000
IMPORT_SHARE = 0.5
RERUN_SECONDS = 0.5
STARTUP_RATIO = 1.25
ACTION_RSS_MIB = 64
STREAM_RSS_MIB = 100


@dataclass
class Sample:
    wall: float
    rss_mib: float
    stdout: str
    stderr: str


@dataclass
class Side:
    argv: list[str]
    samples: list[Sample] = field(default_factory=list)
    env: dict | None = None

    @property
    def median(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def rss(self) -> float:
        return max(s.rss_mib for s in self.samples)


@dataclass
class Operation:
    name: str
    group: str  # bulk, flow, rerun, durable, list, count, import, scale
    source: str | None  # the prepared database it runs on a copy of (None: read-only, no copy)
    crmctl: Side
    baseline: Side
    target: str = ""
    rows: int | None = None  # rows per run, for throughput
    ceiling: Side | None = None  # SQLite alone doing the same reads, for information


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out = Path(args.out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.python = sys.executable
        self.crmctl = str(Path(sys.executable).parent / "crmctl")
        if not Path(self.crmctl).exists():
            raise SystemExit(f"no crmctl beside {sys.executable}: run this with the project's virtualenv python")
        self.n = args.contacts
        # As installed and run by a user: bytecode caches written and used (an inherited
        # PYTHONDONTWRITEBYTECODE would make every crmctl run compile its modules anew).
        dropped = ("CRMCTL_DB", "CRMCTL_NOW", "PYTHONDONTWRITEBYTECODE")
        self.env = {k: v for k, v in os.environ.items() if k not in dropped}
        self.env.update({"CRMCTL_NOW": NOW, "NO_COLOR": "1", "XDG_DATA_HOME": str(self.out / "xdg")})
        self.work = self.out / "work.db"
        self.log = open(self.out / "run.log", "w")

    # Processes -------------------------------------------------------------------------

    def spawn(self, argv: list[str], *, env: dict | None = None, stdout: Path | None = None) -> Sample:
        """Run one fresh child and measure its wall time and its own peak RSS.

        The RSS comes from `/usr/bin/time -f %M` when there is one: Linux carries a process's
        high-water mark across exec, so the rusage of a child forked from this (larger)
        Python process would report this process's size for small children. Without it,
        wait4's rusage of the child is used (an upper bound for small children)."""
        out_path = stdout or self.out / "child.out"
        err_path = self.out / "child.err"
        rss_path = self.out / "child.rss"
        measured = [TIME, "-f", "%M", "-o", str(rss_path), *argv] if TIME else argv
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            started = time.perf_counter()
            child = subprocess.Popen(measured, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env or self.env)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - started
            child.returncode = os.waitstatus_to_exitcode(status)
        rss_kib = usage.ru_maxrss
        if TIME:
            reported = rss_path.read_text().split()
            rss_kib = int(reported[-1]) if reported and reported[-1].isdigit() else rss_kib
        text = out_path.read_text(errors="replace") if stdout is None else ""
        errors = err_path.read_text(errors="replace")
        self.log.write(f"{wall:8.3f}s {rss_kib / 1024:6.1f}MiB rc={child.returncode} {' '.join(argv)}\n")
        self.log.flush()
        if child.returncode != 0:
            raise SystemExit(f"failed ({child.returncode}): {' '.join(argv)}\n{errors}")
        return Sample(wall, rss_kib / 1024, text, errors)

    def cli(self, db: Path, *args: str, env: dict | None = None) -> Sample:
        return self.spawn([self.crmctl, "--db", str(db), *args], env=env)

    def note(self, message: str) -> None:
        if not self.args.quiet:
            print(message, file=sys.stderr, flush=True)

    # Databases -------------------------------------------------------------------------

    def db(self, name: str) -> Path:
        return self.out / f"{name}-{self.n}.db"

    def restore(self, source: Path, target: Path | None = None) -> Path:
        target = target or self.work
        for suffix in ("", "-wal", "-shm", "-holder"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        shutil.copyfile(source, target)
        os.chmod(target, 0o600)
        # On disk before the clock starts: otherwise the measured run's first fsync would pay
        # for writing back the whole copy.
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return target

    @staticmethod
    def settle(db: Path) -> None:
        """Fold the WAL into the file, so a copy of the file alone is the whole database."""
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        conn.close()

    def data_file(self) -> Path:
        path = self.out / f"contacts-{self.n}-{self.args.seed}.ndjson"
        if not path.exists():
            self.note(f"generating {self.n:,} contacts → {path.name}")
            generate.generate(path, self.n, self.args.seed)
        return path

    def prepare(self) -> None:
        """The empty database, then (after the import) the prepared states operations start from."""
        empty = self.db("empty")
        if not empty.exists():
            Path(str(empty) + "-wal").unlink(missing_ok=True)
            self.cli(empty, "init", "-q")
            for name, kind in PROPERTIES:
                self.cli(empty, "property", "create", name, "--type", kind, "-q")
            self.settle(empty)

    def prepare_states(self) -> None:
        pristine = self.db("pristine")
        if not pristine.exists():
            raise SystemExit(f"{pristine} is missing: the import operation builds it")
        self.cli(pristine, "init", "-q")  # brings a reused file to the current schema, untimed
        self.cli(pristine, "tag", "create", *NEW_TAGS, "-q")
        self.settle(pristine)
        states = {
            # tag remove and unblock start where tag add and block left off
            "acted": [["tag", "add", "campaign-q4", "-w", WHERE, "-q"], ["block", "-w", WHERE, "-q"]],
            "acted-all": [["tag", "add", "campaign-q4", "-w", WHERE_ALL, "-q"], ["block", "-w", WHERE_ALL, "-q"]],
            # the second run of a completed flow
            "flowed": [["flow", "run", str(FLOWS / "bench-flow.yaml"), "--yes", "-q"]],
            # 100k parked at a wait, 10k of them due at NOW
            "parked": [
                (DURABLE_SEED_AT, ["flow", "run", str(FLOWS / "bench-durable-seed.yaml"), "--yes", "-q"]),
                (DURABLE_ENROL_AT, ["flow", "run", str(FLOWS / "bench-durable.yaml"), "--yes", "-q"]),
            ],
        }
        if self.args.skip_scale:
            del states["acted-all"]
        for name, commands in states.items():
            target = self.db(name)
            if target.exists() and self.args.reuse:
                self.cli(target, "init", "-q")
                continue
            self.note(f"preparing {name}")
            self.restore(pristine, target)
            for command in commands:
                env = self.env
                if isinstance(command, tuple):
                    env = {**self.env, "CRMCTL_NOW": command[0]}
                    command = command[1]
                self.cli(target, *command, env=env)
            self.settle(target)

    # Operations ------------------------------------------------------------------------

    def operations(self, data: Path, *, filtered: bool = True) -> list[Operation]:
        c = lambda *a: [self.crmctl, "--db", "{db}", *a]  # noqa: E731
        b = lambda *a: [self.python, str(BASELINES), a[0], "{db}", *a[1:]]  # noqa: E731
        flow = str(FLOWS / "bench-flow.yaml")
        ops = [
            Operation(
                "contact import",
                "import",
                "empty",
                Side(c("contact", "import", str(data), "-f", "json", "-q")),
                Side(b("import", str(data))),
                rows=self.n,
            ),
            Operation(
                "tag add",
                "bulk",
                "pristine",
                Side(c("tag", "add", "campaign-q4", "-w", WHERE, "--format", "json", "-q")),
                Side(b("tag-add", "campaign-q4")),
            ),
            Operation(
                "tag remove",
                "bulk",
                "acted",
                Side(c("tag", "remove", "campaign-q4", "-w", WHERE, "--format", "json", "-q")),
                Side(b("tag-remove", "campaign-q4")),
            ),
            Operation(
                "note",
                "bulk",
                "pristine",
                Side(c("note", NOTE, "-w", WHERE, "--author", "bench", "--format", "json", "-q")),
                Side(b("note")),
            ),
            Operation(
                "block", "bulk", "pristine", Side(c("block", "-w", WHERE, "--format", "json", "-q")), Side(b("block"))
            ),
            Operation(
                "set (one number property)",
                "bulk",
                "pristine",
                Side(c("set", "score=90", "-w", WHERE, "--format", "json", "-q")),
                Side(b("set", "score", "90")),
            ),
            Operation(
                "unblock",
                "bulk",
                "acted",
                Side(c("unblock", "-w", WHERE, "--format", "json", "-q")),
                Side(b("unblock")),
            ),
            Operation(
                "delete",
                "bulk",
                "pristine",
                Side(c("delete", "-w", WHERE, "--yes", "--format", "json", "-q")),
                Side(b("delete")),
            ),
            Operation(
                "contact list --format ndjson",
                "list",
                None,
                Side(c("contact", "list", "--format", "ndjson")),
                Side(b("list")),
                rows=self.n,
                ceiling=Side(b("list-ceiling")),
            ),
            Operation(
                "contact count -w 'tags contains \"vip\"'",
                "count",
                None,
                Side(c("contact", "count", "-w", 'tags contains "vip"')),
                Side(b("count-tag", "vip")),
            ),
            Operation(
                "flow run (6 steps, branch)",
                "flow",
                "pristine",
                Side(c("flow", "run", flow, "--yes", "--format", "json")),
                Side(b("flow")),
            ),
            Operation(
                "flow run (switch, split, emit)",
                "flow",
                "pristine",
                Side(c("flow", "run", str(FLOWS / "bench-flow-branching.yaml"), "--yes", "--format", "json")),
                Side(b("flow-branching")),
            ),
            Operation(
                "flow run again (matches 0)",
                "rerun",
                "flowed",
                Side(c("flow", "run", flow, "--yes", "--format", "json")),
                Side(b("flow-rerun")),
            ),
            Operation(
                "durable flow run (100k parked, 10k due)",
                "durable",
                "parked",
                Side(c("flow", "run", str(FLOWS / "bench-durable.yaml"), "--yes", "--format", "json")),
                Side(b("durable", "--now", NOW)),
            ),
        ]
        if not self.args.skip_scale:
            ops += [
                Operation(
                    "tag add, all contacts",
                    "scale",
                    "pristine",
                    Side(c("tag", "add", "campaign-q4", "-w", WHERE_ALL, "--format", "json", "-q")),
                    Side(b("tag-add", "campaign-q4", "--scale", "all")),
                ),
                Operation(
                    "tag remove, all contacts",
                    "scale",
                    "acted-all",
                    Side(c("tag", "remove", "campaign-q4", "-w", WHERE_ALL, "--format", "json", "-q")),
                    Side(b("tag-remove", "campaign-q4", "--scale", "all")),
                ),
                Operation(
                    "note, all contacts",
                    "scale",
                    "pristine",
                    Side(c("note", NOTE, "-w", WHERE_ALL, "--author", "bench", "--format", "json", "-q")),
                    Side(b("note", "--scale", "all")),
                ),
                Operation(
                    "block, all contacts",
                    "scale",
                    "pristine",
                    Side(c("block", "-w", WHERE_ALL, "--format", "json", "-q")),
                    Side(b("block", "--scale", "all")),
                ),
                Operation(
                    "unblock, all contacts",
                    "scale",
                    "acted-all",
                    Side(c("unblock", "-w", WHERE_ALL, "--format", "json", "-q")),
                    Side(b("unblock", "--scale", "all")),
                ),
                Operation(
                    "delete, all contacts",
                    "scale",
                    "pristine",
                    Side(c("delete", "-w", WHERE_ALL, "--yes", "--format", "json", "-q")),
                    Side(b("delete", "--scale", "all")),
                ),
                Operation(
                    "flow run, all contacts",
                    "scale",
                    "pristine",
                    Side(c("flow", "run", str(FLOWS / "bench-flow-all.yaml"), "--yes", "--format", "json")),
                    Side(b("flow", "--scale", "all")),
                ),
            ]
        if filtered and self.args.only:
            wanted = {w.strip() for w in self.args.only.split(",")}
            ops = [op for op in ops if op.group in wanted or op.name in wanted]
        return ops

    def measure(self, op: Operation, runs: int) -> None:
        self.note(f"measuring {op.name} ({runs} run{'s' if runs != 1 else ''})")
        read_only = self.db("pristine")
        for run in range(runs):
            sides = [op.crmctl, op.baseline] if run % 2 == 0 else [op.baseline, op.crmctl]
            sides += [op.ceiling] if op.ceiling else []
            for side in sides:
                if op.source is None:
                    db = read_only
                else:
                    db = self.restore(self.db(op.source))
                argv = [a.replace("{db}", str(db)) for a in side.argv]
                quiet_out = Path(os.devnull) if op.group == "list" else None
                side.samples.append(self.spawn(argv, env=side.env, stdout=quiet_out))

    def import_and_keep(self, op: Operation, runs: int) -> None:
        """The import, measured like any operation; crmctl's result becomes the pristine database."""
        self.note(f"measuring {op.name} ({runs} run{'s' if runs != 1 else ''})")
        empty = self.db("empty")
        pristine = self.db("pristine")
        for run in range(runs):
            order = ["crmctl", "baseline"] if run % 2 == 0 else ["baseline", "crmctl"]
            for which in order:
                side = op.crmctl if which == "crmctl" else op.baseline
                db = self.restore(empty)
                argv = [a.replace("{db}", str(db)) for a in side.argv]
                side.samples.append(self.spawn(argv, env=side.env))
                if which == "crmctl" and run == 0:
                    self.settle(db)
                    self.restore(db, pristine)

    def check_list_shape(self, op: Operation) -> bool:
        """Untimed: crmctl's NDJSON and the baseline's are byte for byte the same."""
        digests = []
        for side in (op.crmctl, op.baseline):
            path = self.out / "list-check.ndjson"
            argv = [a.replace("{db}", str(self.db("pristine"))) for a in side.argv]
            self.spawn(argv, env=side.env, stdout=path)
            digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
            path.unlink()
        return digests[0] == digests[1]

    # Start-up --------------------------------------------------------------------------

    def startup(self, runs: int) -> dict:
        empty = self.restore(self.db("empty"), self.out / "startup.db")
        commands = {
            "floor": [self.python, "-c", "import typer, sqlite_utils"],
            "sqlite3": [self.python, "-c", "import sqlite3"],
            "version": [self.crmctl, "--version"],
            "tag_list": [self.crmctl, "--db", str(empty), "tag", "list"],
        }
        samples: dict[str, list[Sample]] = {name: [] for name in commands}
        for argv in commands.values():  # warm bytecode and page caches
            self.spawn(argv)
        for _ in range(runs):
            for name, argv in commands.items():
                samples[name].append(self.spawn(argv))
        result = {
            name: {
                "median_s": statistics.median(s.wall for s in ss),
                "rss_mib": max(s.rss_mib for s in ss),
                "runs": [round(s.wall, 4) for s in ss],
            }
            for name, ss in samples.items()
        }
        for name in ("version", "tag_list"):
            result[name]["ratio_to_floor"] = result[name]["median_s"] / result["floor"]["median_s"]
            result[name]["met"] = result[name]["ratio_to_floor"] <= STARTUP_RATIO
        result["commands"] = {
            name: " ".join(Path(a).name if i == 0 else "EMPTY.db" if a == str(empty) else a for i, a in enumerate(argv))
            for name, argv in commands.items()
        }
        return result

    # Results ---------------------------------------------------------------------------

    def summarise(self, op: Operation, startup: dict, list_shape_ok: bool | None) -> dict:
        c_start, b_start = startup["version"]["median_s"], startup["sqlite3"]["median_s"]
        c_med, b_med = op.crmctl.median, op.baseline.median
        c_work, b_work = max(c_med - c_start, 1e-6), max(b_med - b_start, 1e-6)
        ratio = c_work / b_work
        c_counts = [_counts(s.stdout or s.stderr) for s in op.crmctl.samples]
        b_counts = [_counts(s.stdout or s.stderr) for s in op.baseline.samples]
        entry = {
            "operation": op.name,
            "group": op.group,
            "crmctl": {
                "median_s": c_med,
                "work_s": c_work,
                "rss_mib": op.crmctl.rss,
                "runs": [round(s.wall, 4) for s in op.crmctl.samples],
                "counts": c_counts[0],
                "command": _shown(op.crmctl.argv),
            },
            "baseline": {
                "median_s": b_med,
                "work_s": b_work,
                "rss_mib": op.baseline.rss,
                "runs": [round(s.wall, 4) for s in op.baseline.samples],
                "counts": b_counts[0],
                "command": _shown(op.baseline.argv),
            },
            "ratio": ratio,
        }
        entry["same_work"] = _same_work(op.group, c_counts[0], b_counts[0])
        rss_limit = STREAM_RSS_MIB if op.group in ("import", "list") else ACTION_RSS_MIB
        entry["rss_limit_mib"] = rss_limit
        rss_ok = op.crmctl.rss <= rss_limit
        if op.group == "bulk":
            entry["target"] = f"work ≤ {BULK_RATIO}× baseline; RSS ≤ {rss_limit} MiB"
            entry["met"] = ratio <= BULK_RATIO and rss_ok
        elif op.group == "scale":
            # The ratio targets are for 100k matches; at 1M the target is memory.
            entry["target"] = f"RSS ≤ {rss_limit} MiB (ratio for information)"
            entry["met"] = rss_ok
        elif op.group == "flow":
            entry["target"] = f"work ≤ {FLOW_RATIO}× sum of step baselines; RSS ≤ {rss_limit} MiB"
            entry["met"] = ratio <= FLOW_RATIO and rss_ok
        elif op.group == "rerun":
            entry["target"] = f"≤ {RERUN_SECONDS} s end to end; RSS ≤ {rss_limit} MiB"
            entry["met"] = c_med <= RERUN_SECONDS and rss_ok
        elif op.group == "durable":
            entry["target"] = f"RSS ≤ {rss_limit} MiB"
            entry["met"] = rss_ok
        elif op.group == "list":
            rows_per_s = op.rows / c_med
            entry["rows_per_s"] = rows_per_s
            entry["same_output"] = list_shape_ok
            if op.ceiling:
                entry["ceiling"] = {
                    "median_s": op.ceiling.median,
                    "rows_per_s": op.rows / op.ceiling.median,
                    "runs": [round(s.wall, 4) for s in op.ceiling.samples],
                    "counts": _counts(op.ceiling.samples[0].stderr),
                    "command": _shown(op.ceiling.argv),
                }
            entry["target"] = f"≥ {LIST_ROWS_PER_S:,} rows/s; work ≤ {LIST_RATIO}× raw export; RSS ≤ {rss_limit} MiB"
            entry["met"] = rows_per_s >= LIST_ROWS_PER_S and ratio <= LIST_RATIO and rss_ok
        elif op.group == "import":
            share = b_work / c_work
            entry["throughput_share"] = share
            entry["rows_per_s"] = op.rows / c_med
            entry["target"] = f"throughput ≥ {IMPORT_SHARE:.0%} of raw executemany; RSS ≤ {rss_limit} MiB"
            entry["met"] = share >= IMPORT_SHARE and rss_ok
        else:
            entry["target"] = ""
            entry["met"] = None
        return entry

    def main(self) -> dict:
        args = self.args
        started = time.time()
        data = self.data_file()
        self.prepare()
        ops, measured = self.build_pristine(data)
        self.prepare_states()
        self.note("measuring start-up")
        startup = self.startup(args.startup_runs)
        for op in ops:
            if op.group == "import":
                continue
            self.measure(op, 1 if op.group == "scale" else args.runs)
            measured.append(op)
        results = [self.entry(op, startup) for op in measured]
        meta = {
            "contacts": self.n,
            "runs": args.runs,
            "startup_runs": args.startup_runs,
            "seed": args.seed,
            **self.database_meta(),
            "python": platform.python_version(),
            "typer": _version("typer"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "elapsed_s": round(time.time() - started, 1),
        }
        report = {"meta": meta, "startup": startup, "operations": results}
        self.write(report)
        self.clean_up()
        return report

    # The parts a runner for another backend (benchmarks/postgres.py) replaces

    def build_pristine(self, data: Path) -> tuple[list[Operation], list[Operation]]:
        """The operations to measure, and those measured already: the import, when it builds
        the prepared database (always, unless --reuse finds one and --only leaves it out)."""
        ops = self.operations(data)
        importing = next(op for op in self.operations(data, filtered=False) if op.group == "import")
        if any(op.group == "import" for op in ops) or not (self.args.reuse and self.db("pristine").exists()):
            self.import_and_keep(importing, self.args.runs)
            return ops, [importing]
        return ops, []

    def entry(self, op: Operation, startup: dict) -> dict:
        shape = self.check_list_shape(op) if op.group == "list" else None
        return self.summarise(op, startup, shape)

    def database_meta(self) -> dict:
        pristine = self.db("pristine")
        return {
            "matched": _matched(pristine),
            "where": WHERE,
            "now": NOW,
            "database_mib": round(pristine.stat().st_size / 2**20, 1),
            "shape": _shape(pristine),
            "sqlite": sqlite3.sqlite_version,
        }

    def write(self, report: dict) -> None:
        (self.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
        (self.out / "results.md").write_text(table.render(report))

    def clean_up(self) -> None:
        for name in ("work", "startup"):
            for suffix in ("", "-wal", "-shm", "-holder"):
                Path(str(self.out / f"{name}.db") + suffix).unlink(missing_ok=True)
        if not self.args.keep:
            for name in ("acted", "acted-all", "flowed", "parked"):
                self.db(name).unlink(missing_ok=True)


def _counts(text: str) -> dict | None:
    """The `selected`/`changed` summary a run printed (crmctl's JSON summary, or the baseline's)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    try:
        return {"selected": int(text.strip())}
    except ValueError:
        return None


def _same_work(group: str, c: dict | None, b: dict | None) -> bool | None:
    if c is None or b is None:
        return None
    if "action" in c:
        return c.get("changed") == b.get("changed")
    if group in ("flow", "rerun") or "flow" in c:
        return c.get("matched") == b.get("selected") and (
            group == "rerun" or sum(c.get("changed", {}).values()) == b.get("changed")
        )
    if group == "durable":
        return c.get("resumed") == b.get("resumed") and c.get("matched") == b.get("selected")
    if group == "count":
        return c.get("selected") == b.get("selected")
    if group == "import":
        return c.get("inserted") == b.get("changed")
    return None


def _shown(argv: list[str]) -> str:
    shown = []
    for i, a in enumerate(argv):
        if i == 0 or a.endswith((".py", ".yaml", ".ndjson")):
            a = Path(a).name
        if a == "{db}":
            a = "DB"
        shown.append(a if a and " " not in a and '"' not in a else "'" + a + "'")
    return " ".join(shown)


def _matched(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT count(*) FROM property_values WHERE property_id = (SELECT id FROM properties WHERE name = 'score') "
            "AND value < 10"
        ).fetchone()[0]
    finally:
        conn.close()


def _shape(db: Path) -> dict:
    conn = sqlite3.connect(db)
    try:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("contacts", "property_values", "contact_tags", "tags", "conversations", "messages")
        }
    finally:
        conn.close()


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=generate.DEFAULT_CONTACTS, help="contacts (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per operation and side (default 3)")
    parser.add_argument("--startup-runs", type=int, default=10, help="runs of each start-up command (default 10)")
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument("--out", default=str(HERE / "out"), help="work and result directory (default benchmarks/out)")
    parser.add_argument("--only", help="comma-separated groups or operation names to measure")
    parser.add_argument("--skip-scale", action="store_true", help="skip the all-contacts memory checks")
    parser.add_argument("--reuse", action="store_true", help="reuse prepared databases from an earlier run")
    parser.add_argument("--keep", action="store_true", help="keep the prepared databases afterwards")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.contacts < 10 or args.runs < 1 or args.startup_runs < 1:
        parser.error("--contacts must be at least 10, --runs and --startup-runs at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    report = Bench(parse_args(argv)).main()
    sys.stdout.write(table.render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
