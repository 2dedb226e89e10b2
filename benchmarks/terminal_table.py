#!/usr/bin/env python3
"""How soon a long contact table shows on a terminal, and in how much memory (#12).

    python benchmarks/terminal_table.py [--contacts 50000] [--runs 3] [--out benchmarks/out]

Builds a database of N generated contacts (benchmarks/generate.py, imported with crmctl),
then runs `crmctl contact list --no-pager` with stdout on a pseudo-terminal 120 columns wide
and reads the terminal as a person's screen would. Measured per run, median reported:

- first row: wall time until the first contact row reaches the terminal;
- total: wall time until the last row;
- peak RSS of the crmctl process (wait4);

next to baselines measured in the same run: `crmctl --version` (start-up alone) and
`contact list -f ndjson` into /dev/null (the same rows without a table). The targets: the
first row within a second of start, and under 64 MiB, whatever N. No times are asserted in
the test suite; this script reports them.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

NOW = "2026-11-01T12:00:00Z"


def crmctl() -> str:
    found = Path(sys.executable).parent / "crmctl"
    return str(found) if found.exists() else "crmctl"


def build(directory: Path, contacts: int) -> Path:
    from generate import generate

    data = generate(directory / "contacts.ndjson", contacts)
    db = directory / "crm.db"
    env = {**os.environ, "CRMCTL_NOW": NOW}
    subprocess.run([crmctl(), "--db", str(db), "init", "-q"], check=True, env=env)
    subprocess.run(
        [crmctl(), "--db", str(db), "contact", "import", str(data), "--create-properties", "-q"], check=True, env=env
    )
    return db


def on_terminal(args: list[str], env: dict) -> dict:
    """Run with stdout on a pty; time the first row and the end; peak RSS from wait4."""
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
    start = time.perf_counter()
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    first_row = None
    seen = b""
    rows = 0
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        rows += chunk.count(b"\n")
        if first_row is None:
            seen += chunk
            if seen.count(b"\n") >= 4:  # title, header, rule, then the first row
                first_row = time.perf_counter() - start
    total = time.perf_counter() - start
    os.close(master)
    _, status, usage = os.wait4(process.pid, 0)
    return {"first_row_s": first_row, "total_s": total, "rss_mib": usage.ru_maxrss / 1024, "lines": rows}


def wall(args: list[str], env: dict) -> dict:
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    return {"total_s": time.perf_counter() - start, "rss_mib": usage.ru_maxrss / 1024}


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = build(Path(tmp), options.contacts)
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        env.update({"CRMCTL_NOW": NOW, "CRMCTL_DB": str(db), "TERM": "xterm-256color"})
        table = [on_terminal([crmctl(), "contact", "list", "--no-pager"], env) for _ in range(options.runs)]
        startup = [wall([crmctl(), "--version"], env) for _ in range(options.runs)]
        ndjson = [wall([crmctl(), "contact", "list", "-f", "ndjson"], env) for _ in range(options.runs)]
    result = {
        "contacts": options.contacts,
        "runs": options.runs,
        "table_first_row_s": median(table, "first_row_s"),
        "table_total_s": median(table, "total_s"),
        "table_peak_rss_mib": max(r["rss_mib"] for r in table),
        "table_lines": table[0]["lines"],
        "startup_s": median(startup, "total_s"),
        "ndjson_total_s": median(ndjson, "total_s"),
        "ndjson_peak_rss_mib": max(r["rss_mib"] for r in ndjson),
    }
    result["first_row_over_startup"] = result["table_first_row_s"] / result["startup_s"]
    result["table_over_ndjson"] = result["table_total_s"] / result["ndjson_total_s"]
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "terminal_table.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{options.contacts:,} contacts on a 120-column terminal (median of {options.runs}):\n"
        f"  first row after {result['table_first_row_s']:.2f} s "
        f"({result['first_row_over_startup']:.2f}x `crmctl --version`, {result['startup_s']:.2f} s)\n"
        f"  whole table {result['table_total_s']:.2f} s ({result['table_over_ndjson']:.2f}x ndjson "
        f"{result['ndjson_total_s']:.2f} s), {result['table_lines']:,} lines\n"
        f"  peak RSS {result['table_peak_rss_mib']:.0f} MiB (ndjson {result['ndjson_peak_rss_mib']:.0f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
