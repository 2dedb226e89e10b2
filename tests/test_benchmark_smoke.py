"""The benchmark pipeline (benchmarks/run.py) runs end to end at a tiny scale. No times are
asserted: only that every operation is measured, and that crmctl and its raw-SQL baseline
did the same work (same counts, byte-identical list output)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = {
    "contact import",
    "tag add",
    "tag remove",
    "note",
    "block",
    "set (one number property)",
    "unblock",
    "delete",
    "contact list --format ndjson",
    "contact count -w 'tags contains \"vip\"'",
    "flow run (6 steps, branch)",
    "flow run (switch, split, emit)",
    "flow run again (matches 0)",
    "durable flow run (100k parked, 10k due)",
    "tag add, all contacts",
    "tag remove, all contacts",
    "note, all contacts",
    "block, all contacts",
    "unblock, all contacts",
    "delete, all contacts",
    "flow run, all contacts",
}


def test_benchmark_runs_end_to_end(tmp_path):
    out = tmp_path / "bench"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--contacts",
            "2000",
            "--runs",
            "1",
            "--startup-runs",
            "1",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "results.json").read_text())
    assert {op["operation"] for op in report["operations"]} == OPERATIONS
    for op in report["operations"]:
        assert op["same_work"] is not False, (op["operation"], op["crmctl"]["counts"], op["baseline"]["counts"])
        assert op["crmctl"]["runs"] and op["baseline"]["runs"] and op["crmctl"]["rss_mib"] > 0
    listing = next(op for op in report["operations"] if op["group"] == "list")
    assert listing["same_output"] is True
    assert listing["ceiling"]["counts"]["selected"] == 2000  # SQLite alone built every record
    assert {"floor", "sqlite3", "version", "tag_list"} <= set(report["startup"])
    assert report["meta"]["shape"]["contacts"] == 2000
    assert (out / "results.md").read_text().startswith("2,000 contacts")


def test_terminal_table_benchmark_runs_end_to_end(tmp_path):
    """benchmarks/terminal_table.py at a tiny scale: every row reaches the pseudo-terminal."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "terminal_table.py"), "--contacts", "300", "--runs", "1"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "terminal_table.json").read_text())
    assert report["table_lines"] == 300 + 3  # title, header, rule, one line per contact
    assert report["table_first_row_s"] is not None and report["table_peak_rss_mib"] > 0
