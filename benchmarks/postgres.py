#!/usr/bin/env python3
"""Measure crmctl on PostgreSQL against hand-written raw SQL on the same server.

    .venv/bin/python benchmarks/postgres.py [--contacts 1000000] [--runs 3] [--url URL] [--out benchmarks/out-pg]

The same operations as benchmarks/run.py, run the same way: each one a fresh `crmctl`
process (start-up included) on a fresh copy of the prepared database, next to its baseline
(benchmarks/baselines_pg.py: plain `python` + `psycopg`), alternating which side goes first,
reporting median wall time, work (wall minus the side's own start-up: `crmctl --version`,
`python -c "import psycopg"`), their ratio, each client process's peak RSS, and whether
both sides changed the same number of contacts.

A copy of a database is `CREATE DATABASE … TEMPLATE` of the prepared one. The server is
--url (a superuser URL: the benchmark creates and drops databases named crmbench_*), or else
a throwaway cluster of its own (.ci/with-postgres, fsync on). When OUT of benchmarks/run.py
(--sqlite-results, default benchmarks/out/results.json) holds a SQLite run, the report sets
the two side by side. Results go to OUT/results.json, OUT/results.md and OUT/side-by-side.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (benchmarks/run.py)
import table  # noqa: E402  (benchmarks/table.py)

BASELINES_PG = HERE / "baselines_pg.py"
PREFIX = "crmbench_"


class PgBench(run.Bench):
    """benchmarks/run.py's runner with PostgreSQL databases in place of files."""

    def __init__(self, args: argparse.Namespace):
        super().__init__(args)
        self.server = args.url
        import psycopg

        self.admin = psycopg.connect(self.server, autocommit=True)
        self.work = self.db("work")  # type: ignore[assignment]
        self.copied: dict | None = None  # what copying --pristine-from measured

    # Databases: a name on the server; a copy is a database made from it as a template ----

    def url_of(self, database: str) -> str:
        parts = urlsplit(self.server)
        return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))

    def name(self, state: str) -> str:
        return f"{PREFIX}{state.replace('-', '_')}_{self.n}"

    def db(self, name: str) -> str:  # type: ignore[override]
        return self.url_of(self.name(name))

    def exists(self, url: str) -> bool:
        database = urlsplit(url).path.lstrip("/")
        return self.admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone() is not None

    def restore(self, source, target=None):  # type: ignore[override]
        target = target or self.work
        source_name, target_name = urlsplit(source).path.lstrip("/"), urlsplit(target).path.lstrip("/")
        self.admin.execute(f'DROP DATABASE IF EXISTS "{target_name}" WITH (FORCE)')
        self.admin.execute(f'CREATE DATABASE "{target_name}" TEMPLATE "{source_name}" STRATEGY = FILE_COPY')
        self.admin.execute("CHECKPOINT")  # on disk before the clock starts, as run.py fsyncs its copy
        return target

    def settle(self, db) -> None:  # type: ignore[override]
        """Statistics and the visibility map, as autovacuum would leave a settled database."""
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        self.admin.execute("CHECKPOINT")

    def prepare(self) -> None:
        """The empty CRM (the import's start, and start-up's `tag list`), with the generated
        data's properties declared unless the prepared database is copied in."""
        empty = self.db("empty")
        if not self.exists(empty):
            self.admin.execute(f'CREATE DATABASE "{self.name("empty")}"')
            self.cli(empty, "init", "-q")  # type: ignore[arg-type]
            if not self.args.pristine_from:
                for name, kind in run.PROPERTIES:
                    self.cli(empty, "property", "create", name, "--type", kind, "-q")  # type: ignore[arg-type]
            self.settle(empty)

    def prepare_states(self) -> None:
        pristine = self.db("pristine")
        if not self.exists(pristine):
            raise SystemExit(f"{pristine} is missing: the import operation builds it")
        self.cli(pristine, "tag", "create", *run.NEW_TAGS, "-q")  # type: ignore[arg-type]
        self.settle(pristine)
        states = {
            "acted": [["tag", "add", "campaign-q4", "-w", run.WHERE, "-q"], ["block", "-w", run.WHERE, "-q"]],
            "acted-all": [
                ["tag", "add", "campaign-q4", "-w", run.WHERE_ALL, "-q"],
                ["block", "-w", run.WHERE_ALL, "-q"],
            ],
            "flowed": [["flow", "run", str(run.FLOWS / "bench-flow.yaml"), "--yes", "-q"]],
            "parked": [
                (run.DURABLE_SEED_AT, ["flow", "run", str(run.FLOWS / "bench-durable-seed.yaml"), "--yes", "-q"]),
                (run.DURABLE_ENROL_AT, ["flow", "run", str(run.FLOWS / "bench-durable.yaml"), "--yes", "-q"]),
            ],
        }
        if self.args.skip_scale:
            del states["acted-all"]
        for name, commands in states.items():
            target = self.db(name)
            if self.exists(target) and self.args.reuse:
                continue
            self.note(f"preparing {name}")
            self.restore(pristine, target)
            for command in commands:
                env = self.env
                if isinstance(command, tuple):
                    env = {**self.env, "CRMCTL_NOW": command[0]}
                    command = command[1]
                self.cli(target, *command, env=env)  # type: ignore[arg-type]
            self.settle(target)

    def operations(self, data: Path, *, filtered: bool = True) -> list[run.Operation]:
        ops = super().operations(data, filtered=filtered)
        for op in ops:
            argv = op.baseline.argv
            op.baseline.argv = [str(BASELINES_PG) if a == str(run.BASELINES) else a for a in argv]
            op.ceiling = None  # SQLite's own ceiling has no counterpart here
            if op.group == "import":
                op.target = "throughput ≥ 50% of raw COPY"
        return ops

    def import_and_keep(self, op: run.Operation, runs: int) -> None:
        self.note(f"measuring {op.name} ({runs} run{'s' if runs != 1 else ''})")
        empty, pristine = self.db("empty"), self.db("pristine")
        for i in range(runs):
            order = ["crmctl", "baseline"] if i % 2 == 0 else ["baseline", "crmctl"]
            for which in order:
                side = op.crmctl if which == "crmctl" else op.baseline
                db = self.restore(empty)
                argv = [a.replace("{db}", str(db)) for a in side.argv]
                side.samples.append(self.spawn(argv, env=side.env))
                if which == "crmctl" and i == 0:
                    self.settle(db)
                    self.restore(db, pristine)

    def startup(self, runs: int) -> dict:
        empty = self.restore(self.db("empty"), self.db("startup"))
        commands = {
            "floor": [self.python, "-c", "import typer, sqlite_utils"],
            "sqlite3": [self.python, "-c", "import psycopg"],  # the baselines' floor, under run.py's key
            "version": [self.crmctl, "--version"],
            "tag_list": [self.crmctl, "--db", str(empty), "tag", "list"],
        }
        samples: dict[str, list[run.Sample]] = {name: [] for name in commands}
        for argv in commands.values():
            self.spawn(argv)
        for _ in range(runs):
            for name, argv in commands.items():
                samples[name].append(self.spawn(argv))
        import statistics

        result: dict = {
            name: {
                "median_s": statistics.median(s.wall for s in ss),
                "rss_mib": max(s.rss_mib for s in ss),
                "runs": [round(s.wall, 4) for s in ss],
            }
            for name, ss in samples.items()
        }
        for name in ("version", "tag_list"):
            result[name]["ratio_to_floor"] = result[name]["median_s"] / result["floor"]["median_s"]
            result[name]["met"] = result[name]["ratio_to_floor"] <= run.STARTUP_RATIO
        result["commands"] = {
            name: " ".join(Path(a).name if i == 0 else "URL" if a == str(empty) else a for i, a in enumerate(argv))
            for name, argv in commands.items()
        }
        return result

    def check_list_shape(self, op: run.Operation) -> bool:
        import hashlib

        digests = []
        for side in (op.crmctl, op.baseline):
            path = self.out / "list-check.ndjson"
            argv = [a.replace("{db}", str(self.db("pristine"))) for a in side.argv]
            self.spawn(argv, env=side.env, stdout=path)
            digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
            path.unlink()
        return digests[0] == digests[1]

    # The run ---------------------------------------------------------------------------

    def build_pristine(self, data: Path) -> tuple[list[run.Operation], list[run.Operation]]:
        """As run.py's, or by `crmctl db copy` of --pristine-from (timed, both ways)."""
        ops = self.operations(data)
        if self.args.pristine_from:
            self.copied = self.copy_pristine(Path(self.args.pristine_from))
            return [op for op in ops if op.group != "import"], []
        importing = next(op for op in self.operations(data, filtered=False) if op.group == "import")
        if any(op.group == "import" for op in ops) or not (self.args.reuse and self.exists(self.db("pristine"))):
            self.import_and_keep(importing, self.args.import_runs)
            return ops, [importing]
        return ops, []

    def entry(self, op: run.Operation, startup: dict) -> dict:
        entry = super().entry(op, startup)
        if op.group == "import":
            entry["target"] = entry["target"].replace("raw executemany", "raw COPY")
        return entry

    def database_meta(self) -> dict:
        pristine = self.db("pristine")
        return {
            "backend": "postgresql",
            "matched": self._scalar(
                pristine,
                "SELECT count(*) FROM property_values WHERE property_id = "
                "(SELECT id FROM properties WHERE name = 'score') AND value < '10'::jsonb",
            ),
            "where": run.WHERE,
            "now": run.NOW,
            "database_mib": round(self._scalar(pristine, "SELECT pg_database_size(current_database())") / 2**20, 1),
            "shape": {
                t: self._scalar(pristine, f"SELECT count(*) FROM {t}")
                for t in ("contacts", "property_values", "contact_tags", "tags", "conversations", "messages")
            },
            "sqlite": "PostgreSQL " + self.admin.execute("SHOW server_version").fetchone()[0],
            "psycopg": run._version("psycopg"),
            "pristine_copied": self.copied,
        }

    def write(self, report: dict) -> None:
        (self.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
        (self.out / "results.md").write_text(render(report))
        sqlite = Path(self.args.sqlite_results)
        if sqlite.is_file():
            (self.out / "side-by-side.md").write_text(side_by_side(json.loads(sqlite.read_text()), report))

    def clean_up(self) -> None:
        if not self.args.keep:
            for state in ("work", "startup", "acted", "acted-all", "flowed", "parked"):
                self.admin.execute(f'DROP DATABASE IF EXISTS "{self.name(state)}" WITH (FORCE)')

    def copy_pristine(self, source: Path) -> dict:
        """The prepared database from an existing SQLite one (benchmarks/run.py's pristine, or a
        raw load of the same data), by `crmctl db copy`: timed, and its peak RSS kept."""
        self.note(f"copying {source} into PostgreSQL (crmctl db copy)")
        self.admin.execute(f'DROP DATABASE IF EXISTS "{self.name("pristine")}" WITH (FORCE)')
        self.admin.execute(f'CREATE DATABASE "{self.name("pristine")}"')
        sample = self.spawn([self.crmctl, "db", "copy", str(source), self.db("pristine"), "-f", "json", "-q"])
        back = self.out / "copied-back.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{back}{suffix}").unlink(missing_ok=True)
        again = self.spawn([self.crmctl, "db", "copy", self.db("pristine"), str(back), "-f", "json", "-q"])
        back.unlink()
        return {
            "to_postgresql": {"wall_s": round(sample.wall, 2), "rss_mib": round(sample.rss_mib, 1)},
            "to_sqlite": {"wall_s": round(again.wall, 2), "rss_mib": round(again.rss_mib, 1)},
            "rows": json.loads(sample.stdout)["rows"],
        }

    def _scalar(self, url: str, sql: str):
        import psycopg

        with psycopg.connect(url) as conn:
            return conn.execute(sql).fetchone()[0]


def render(report: dict) -> str:
    """run.py's table, with the PostgreSQL baseline's floor named as it is."""
    text = table.render(report)
    text = text.replace('`python -c "import sqlite3"`', '`python -c "import psycopg"`').replace(
        "SQLite PostgreSQL", "PostgreSQL"
    )
    copied = report["meta"].get("pristine_copied")
    if copied:
        there, back = copied["to_postgresql"], copied["to_sqlite"]
        text += (
            f"\n`crmctl db copy` of the prepared database ({copied['rows']:,} rows): SQLite → PostgreSQL "
            f"{there['wall_s']:.1f} s, peak RSS {there['rss_mib']:.0f} MiB; "
            f"PostgreSQL → SQLite {back['wall_s']:.1f} s, peak RSS {back['rss_mib']:.0f} MiB.\n"
        )
    return text


def side_by_side(sqlite: dict, pg: dict) -> str:
    """One row per operation: crmctl's work against raw SQL, and crmctl's peak RSS, on each backend."""
    by_name = {op["operation"]: op for op in sqlite["operations"]}
    lines = [
        f"{pg['meta']['contacts']:,} contacts. SQLite: {sqlite['meta']['date']} (SQLite {sqlite['meta']['sqlite']}); "
        f"PostgreSQL: {pg['meta']['date']} ({pg['meta']['sqlite']}). Ratio = crmctl's work ÷ hand-written raw SQL's "
        "on the same database; RSS = crmctl's peak.",
        "",
        "| operation | SQLite ratio | PostgreSQL ratio | SQLite crmctl work | PostgreSQL crmctl work "
        "| SQLite RSS | PostgreSQL RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for op in pg["operations"]:
        other = by_name.get(op["operation"])
        s_ratio = table._ratio(other) if other else "–"
        s_work = table._s(other["crmctl"]["work_s"]) if other else "–"
        s_rss = f"{other['crmctl']['rss_mib']:.0f} MiB" if other else "–"
        lines.append(
            f"| {op['operation']} | {s_ratio} | {table._ratio(op)} | {s_work} | {table._s(op['crmctl']['work_s'])} "
            f"| {s_rss} | {op['crmctl']['rss_mib']:.0f} MiB |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a PostgreSQL server (superuser URL); default: a throwaway one")
    parser.add_argument("--contacts", type=int, default=run.generate.DEFAULT_CONTACTS)
    parser.add_argument("--runs", type=int, default=3, help="runs per operation and side (default 3)")
    parser.add_argument("--import-runs", type=int, default=1, help="runs of the import per side (default 1)")
    parser.add_argument("--startup-runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=run.generate.DEFAULT_SEED)
    parser.add_argument("--out", default=str(HERE / "out-pg"), help="work and result directory")
    parser.add_argument("--sqlite-results", default=str(HERE / "out" / "results.json"))
    parser.add_argument(
        "--pristine-from",
        metavar="FILE",
        help="build the prepared database by `crmctl db copy FILE` (a SQLite one of the same data) instead of "
        "measuring the import",
    )
    parser.add_argument("--only", help="comma-separated groups or operation names to measure")
    parser.add_argument("--skip-scale", action="store_true", help="skip the all-contacts memory checks")
    parser.add_argument("--reuse", action="store_true", help="reuse prepared databases from an earlier run")
    parser.add_argument("--keep", action="store_true", help="keep the prepared databases afterwards")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.contacts < 10 or args.runs < 1 or args.startup_runs < 1 or args.import_runs < 1:
        parser.error("--contacts must be at least 10, the runs at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if not args.url:
        if os.environ.get("CRMCTL_BENCH_SERVER"):
            args.url = os.environ["CRMCTL_BENCH_SERVER"]
        else:  # a throwaway server for this run, with fsync on as a real one
            env = {**os.environ, "CRMCTL_PG_FSYNC": "on"}
            script = f'CRMCTL_BENCH_SERVER="$CRMCTL_TEST_PG" exec "$0" "{Path(__file__)}" "$@"'
            command = [str(ROOT / ".ci" / "with-postgres"), "bash", "-c", script, sys.executable, *argv]
            return subprocess.call(command, env=env)
    report = PgBench(args).main()
    sys.stdout.write(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
