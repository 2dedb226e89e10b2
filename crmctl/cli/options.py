"""Option declarations shared by the commands, so every command spells them the same.

Metavariables are in capitals (`EXPR`, `FORMAT`), and every option says what it does.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated

import typer

INT64_MAX = 2**63 - 1


class ListFormat(StrEnum):
    table = "table"
    json = "json"
    ndjson = "ndjson"
    csv = "csv"


class SummaryFormat(StrEnum):
    text = "text"
    json = "json"


Contact = Annotated[
    list[str] | None,
    typer.Option(
        "--contact",
        "-c",
        metavar="ID_OR_EMAIL",
        help="Contact id or email; repeatable; `-` reads them from stdin (one per line, or NDJSON with id or email).",
    ),
]
Where = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        "-w",
        metavar="EXPR",
        help="Filter expression (quote it); repeatable: every filter must match. "
        "With identifiers, keeps those that match. See `crmctl help filters`.",
    ),
]
Everyone = Annotated[bool, typer.Option("--all", help="Select every contact (not with -c or -w).")]
IgnoreMissing = Annotated[
    bool, typer.Option("--ignore-missing", help="Skip identifiers that match no contact instead of refusing.")
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Report what would change; change nothing.")]
Summary = Annotated[
    SummaryFormat,
    typer.Option("--format", "-f", metavar="FORMAT", help="text, or json: one summary object on stdout."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No human summary on stderr.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
Listing = Annotated[ListFormat, typer.Option("--format", "-f", metavar="FORMAT", help="table, json, ndjson or csv.")]


def whole_number(value: int | None) -> int | None:
    """A count or an id: 0 up to SQLite's largest integer (a range check without the range
    printed in every help text)."""
    if value is not None and not 0 <= value <= INT64_MAX:
        raise typer.BadParameter(f"{value} is not between 0 and {INT64_MAX}")
    return value


Limit = Annotated[int | None, typer.Option("--limit", "-n", metavar="N", callback=whole_number, help="At most N rows.")]
NoPager = Annotated[
    bool, typer.Option("--no-pager", help="Never page a long table ($CRMCTL_PAGER, $PAGER, else less -FRX).")
]
# `-f` and `--format` for a summary: the same option as Summary (kept for the flow commands).
SummaryShort = Summary

MAX_LOCK_TIMEOUT = 86_400.0


def _finite_seconds(value: float | None) -> float | None:
    # click's FloatRange lets nan through: every comparison with it is false.
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number of seconds (0 to {MAX_LOCK_TIMEOUT:g})")
    return value


LockTimeoutSeconds = Annotated[
    float,
    typer.Option(
        "--lock-timeout",
        metavar="SECONDS",
        min=0,
        max=MAX_LOCK_TIMEOUT,
        callback=_finite_seconds,
        help="Seconds to wait for another run to finish (0 to 86400; then exit 75).",
    ),
]
