#!/usr/bin/env python3
"""Render benchmarks/out/results.json as README-ready Markdown.

python benchmarks/table.py [benchmarks/out/results.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def render(report: dict) -> str:
    meta, startup = report["meta"], report["startup"]
    shape = meta.get("shape", {})
    lines = [
        f"{meta['contacts']:,} contacts ({meta['database_mib']:,} MiB: "
        f"{shape.get('property_values', 0):,} property values, "
        f"{shape.get('contact_tags', 0):,} tag links, {shape.get('conversations', 0):,} conversations, "
        f"{shape.get('messages', 0):,} messages); `{meta['where']}` matches {meta['matched']:,}. "
        f"Median of {meta['runs']} runs per side; {meta['machine']}; Python {meta['python']}, "
        f"SQLite {meta['sqlite']}, Typer {meta['typer']}; {meta['date']}.",
        "",
        "Work = median wall time minus the side's own start-up (crmctl: `crmctl --version`, "
        f'{_ms(startup["version"]["median_s"])}; baseline: `python -c "import sqlite3"`, '
        f"{_ms(startup['sqlite3']['median_s'])}).",
        "",
        "| operation | crmctl wall | baseline wall | crmctl work | baseline work | ratio "
        "| crmctl peak RSS | target | met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | :---: |",
    ]
    for op in report["operations"]:
        c, b = op["crmctl"], op["baseline"]
        extra = ""
        if "rows_per_s" in op:
            extra = f" ({op['rows_per_s']:,.0f} rows/s"
            if "throughput_share" in op:
                extra += f", {op['throughput_share']:.0%} of raw"
            if "ceiling" in op:
                extra += f"; SQLite alone: {op['ceiling']['rows_per_s']:,.0f} rows/s"
            extra += ")"
        same = "" if op.get("same_work") in (None, True) else " ⚠ counts differ"
        if op.get("same_output") is False:
            same += " ⚠ output differs"
        lines.append(
            f"| {op['operation']}{extra}{same} | {_s(c['median_s'])} | {_s(b['median_s'])} | {_s(c['work_s'])} | "
            f"{_s(b['work_s'])} | {_ratio(op)} | {c['rss_mib']:.0f} MiB | {op['target']} | {_met(op['met'])} |"
        )
    lines += [
        "",
        f'Start-up (median of {meta["startup_runs"]}; floor = `python -c "import typer, sqlite_utils"`):',
        "",
        "| command | median | × floor | peak RSS | target | met |",
        "| --- | ---: | ---: | ---: | --- | :---: |",
    ]
    for name, label in (("floor", "floor"), ("sqlite3", "sqlite3"), ("version", "version"), ("tag_list", "tag_list")):
        entry = startup[name]
        ratio = entry["median_s"] / startup["floor"]["median_s"]
        target = "≤ 1.25× floor" if "met" in entry else ""
        lines.append(
            f"| `{startup['commands'][label]}` | {_ms(entry['median_s'])} | {ratio:.2f}× "
            f"| {entry['rss_mib']:.0f} MiB | "
            f"{target} | {_met(entry.get('met'))} |"
        )
    return "\n".join(lines) + "\n"


def _ratio(op: dict) -> str:
    if op["baseline"]["work_s"] < 0.01:
        return "n/a"  # too little work to compare at this size
    return f"{op['ratio']:.2f}×"


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _met(value) -> str:
    return {True: "yes", False: "**no**", None: "–"}[value]


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path(__file__).resolve().parent / "out" / "results.json"
    sys.stdout.write(render(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
