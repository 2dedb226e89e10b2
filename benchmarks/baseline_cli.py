"""The command line both raw-SQL baselines share (benchmarks/baselines.py on SQLite,
benchmarks/baselines_pg.py on PostgreSQL): the fixed inputs, the printed counts and the
argument parsing. Standard library only, and no json or argparse: a baseline's start-up is
part of what it is measured against."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

NOW = "2026-11-01T12:00:00Z"
AUTHOR = "bench"
NOTE = "Called about the Q4 campaign"


def report(selected: int | None, changed: int, **extra) -> None:
    """One JSON object on stdout (built by hand: importing json would cost start-up time)."""
    fields = {"selected": selected, "changed": changed, **extra}
    print("{" + ", ".join(f'"{key}": {_json(value)}' for key, value in fields.items()) + "}")


def _json(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}": {_json(v)}' for k, v in value.items()) + "}"
    return str(int(value))


class Args:
    """OPERATION DB [ARG [VALUE]] [--scale S] [--now T], parsed by hand."""

    def __init__(self, argv: list[str], operations: Mapping[str, Any], selections: Mapping[str, str], usage: str):
        self.scale, self.now, positional = "10pct", NOW, []
        words = iter(argv)
        for word in words:
            if word == "--scale":
                self.scale = next(words)
            elif word == "--now":
                self.now = next(words)
            else:
                positional.append(word)
        if len(positional) not in (2, 3, 4) or positional[0] not in operations or self.scale not in selections:
            raise SystemExit(usage)
        self.operation, self.db = positional[:2]
        self.arg = positional[2] if len(positional) >= 3 else None
        self.value = positional[3] if len(positional) == 4 else None


def main(
    operations: Mapping[str, Callable[[Args], None]], selections: Mapping[str, str], doc: str, argv: list[str]
) -> int:
    """Run the operation argv names; the usage is the second paragraph of the baseline's doc."""
    args = Args(argv, operations, selections, doc.split("\n\n")[1])
    operations[args.operation](args)
    return 0


def run(operations: Mapping[str, Callable[[Args], None]], selections: Mapping[str, str], doc: str) -> None:
    sys.exit(main(operations, selections, doc, sys.argv[1:]))
