"""Mapped import and full export at scale (issue #15's benchmark).

1. A HubSpot-shaped CSV (BOM, CRLF, quoted headers, US dates, names in two columns, three
   properties, an ignored column) is imported with `crmctl contact import --preset hubspot`
   (with --create-properties, which declares the three properties the file has) into an
   empty database, next to a raw load of the same file in the same run: Python's csv
   reader, the same joins and date parsing done by hand, and `executemany` into contacts and
   property_values (no validation, no upsert). Target: crmctl's rows/s ≥ 50% of the raw rate.
2. `crmctl contact export -f ndjson` of the imported database to /dev/null: rows/s and the
   process's peak RSS. Target: ≤ 64 MiB (the export streams in batches).

Work is wall time minus each side's start-up (`crmctl --version`; `python -c "import
sqlite3"`). Peak RSS comes from /usr/bin/time when present.

    .venv/bin/python benchmarks/import_export.py --rows 1000000     # the issue's scale
    .venv/bin/python benchmarks/import_export.py --rows 2000        # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None
HEADER = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Create Date",
    "Lifecycle Stage",
    "Lead Status",
    "Primary Associated Company ID",
]
RAW = r"""
import csv, sqlite3, sys
from datetime import datetime, timezone
db, path = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(db, isolation_level=None)
# The schema's triggers name crmctl's fold function; the raw load gives email_key itself, so it never runs.
conn.create_function("crmctl_fold", 1, str.casefold, deterministic=True)
conn.execute("PRAGMA journal_mode = WAL"); conn.execute("PRAGMA synchronous = FULL")
conn.execute("BEGIN IMMEDIATE")
for pid, name, kind in ((1, "hubspot_id", "number"), (2, "lifecycle_stage", "text"), (3, "lead_status", "text")):
    conn.execute("INSERT INTO properties(id, name, folded, type, created_at) VALUES (?, ?, ?, ?, ?)",
                 (pid, name, name, kind, "2026-11-27T00:00:00Z"))
contacts, attributes, n = [], [], 0
def flush():
    conn.executemany("INSERT INTO contacts(id, email, email_key, name, phone, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)", contacts)
    conn.executemany("INSERT INTO property_values(contact_id, property_id, value) VALUES (?, ?, ?)", attributes)
    contacts.clear(); attributes.clear()
with open(path, encoding="utf-8-sig", newline="") as f:
    rows = csv.reader(f)
    next(rows)
    for rid, first, last, email, phone, created, stage, status, *_ in rows:
        n += 1
        when = datetime.strptime(created, "%m/%d/%Y %H:%M").replace(tzinfo=timezone.utc)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        address = email.strip()
        contacts.append((n, address, address.casefold(), f"{first} {last}".strip(), phone or None, stamp))
        attributes.append((n, 1, int(rid)))
        if stage: attributes.append((n, 2, stage))
        if status: attributes.append((n, 3, status))
        if len(contacts) >= 5000: flush()
flush()
conn.execute("COMMIT")
print(n)
"""


def write_csv(path: Path, rows: int, seed: int = 15) -> None:
    rng = random.Random(seed)
    stages = ["Subscriber", "Lead", "Customer", "Opportunity"]
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("\ufeff" + ",".join(f'"{h}"' for h in HEADER) + ",,\r\n")
        for i in range(1, rows + 1):
            month, mday, year = rng.randint(1, 12), rng.randint(1, 28), rng.randint(2015, 2025)
            day = f"{month:02d}/{mday:02d}/{year} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
            cells = [
                str(100000 + i),
                rng.choice(["Ada", "Grace", "Émile", "Zoë", "Li"]),
                rng.choice(["Lovelace", "Hopper", "Durand", "Müller", "Wei"]),
                f"person{i}@example.com",
                f"+1 555 {i % 10000:04d}" if i % 3 else "",
                day,
                rng.choice(stages),
                "Open" if i % 2 else "",
                "",
            ]
            out.write(",".join(f'"{c}"' for c in cells) + ",,\r\n")


def spawn(argv: list[str], stdout=subprocess.DEVNULL) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one fresh child."""
    with tempfile.NamedTemporaryFile() as rss:
        measured = [TIME, "-f", "%M", "-o", rss.name, *argv] if TIME else argv
        started = time.perf_counter()
        child = subprocess.Popen(measured, stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"failed: {' '.join(argv)}\n{child.stderr.read().decode() if child.stderr else ''}")
        kib = usage.ru_maxrss
        if TIME:
            text = Path(rss.name).read_text().split()
            kib = int(text[-1]) if text and text[-1].isdigit() else kib
    return wall, kib / 1024


def best(argv: list[str], runs: int, setup=None, stdout=subprocess.DEVNULL) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        if setup:
            setup()
        samples.append(spawn(argv, stdout))
    return min(s[0] for s in samples), max(s[1] for s in samples)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    bindir = Path(sys.executable).parent
    crmctl = shutil.which("crmctl", path=str(bindir)) or shutil.which("crmctl")
    data = args.out / f"hubspot-{args.rows}.csv"
    if not data.exists():
        write_csv(data, args.rows)
    empty, target, raw_db = args.out / "empty.db", args.out / "mapped.db", args.out / "raw.db"
    env_db = {"CRMCTL_NOW": "2026-11-27T00:00:00Z"}
    os.environ.update(env_db)
    for path in (empty,):
        path.unlink(missing_ok=True)
    subprocess.run([crmctl, "--db", str(empty), "init", "-q"], check=True)

    def fresh(path: Path):
        def setup() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            shutil.copy(empty, path)
            os.chmod(path, 0o600)

        return setup

    start_crmctl = best([crmctl, "--version"], 3)[0]
    start_python = best([sys.executable, "-c", "import sqlite3"], 3)[0]
    mapped_wall, mapped_rss = best(
        [crmctl, "--db", str(target), "contact", "import", str(data), "--preset", "hubspot"]
        + ["--create-properties", "-q"],
        args.runs,
        fresh(target),
    )
    raw_wall, raw_rss = best([sys.executable, "-c", RAW, str(raw_db), str(data)], args.runs, fresh(raw_db))
    export_wall, export_rss = best([crmctl, "--db", str(target), "contact", "export", "-f", "ndjson"], args.runs)
    mapped_rate = args.rows / max(mapped_wall - start_crmctl, 1e-9)
    raw_rate = args.rows / max(raw_wall - start_python, 1e-9)
    result = {
        "rows": args.rows,
        "mapped_import_rows_per_s": round(mapped_rate),
        "raw_executemany_rows_per_s": round(raw_rate),
        "mapped_vs_raw": round(mapped_rate / raw_rate, 3),
        "mapped_import_peak_rss_mib": round(mapped_rss, 1),
        "raw_peak_rss_mib": round(raw_rss, 1),
        "export_rows_per_s": round(args.rows / max(export_wall - start_crmctl, 1e-9)),
        "export_peak_rss_mib": round(export_rss, 1),
        "targets": {"mapped_vs_raw >= 0.5": mapped_rate / raw_rate >= 0.5, "export_rss <= 64 MiB": export_rss <= 64},
    }
    (args.out / "import_export.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
