"""Option declarations shared by the commands, so every command spells them the same."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated

import typer


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
    typer.Option("--contact", "-c", help="Contact id or email; repeatable; `-` reads them from stdin."),
]
Where = Annotated[str | None, typer.Option("--where", "-w", help="Filter expression selecting contacts.")]
Everyone = Annotated[bool, typer.Option("--all", help="Select every contact.")]
IgnoreMissing = Annotated[
    bool, typer.Option("--ignore-missing", help="Skip identifiers that match no contact instead of refusing.")
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Report what would change; change nothing.")]
Summary = Annotated[SummaryFormat, typer.Option("--format", help="`json` prints one summary object on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No human summary on stderr.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
Listing = Annotated[ListFormat, typer.Option("--format", "-f", help="Output format.")]
# SQLite's integers are 64-bit: a larger limit is refused as a usage error, not an overflow.
Limit = Annotated[int | None, typer.Option("--limit", "-n", min=0, max=2**63 - 1, help="At most N rows.")]


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
        min=0,
        max=MAX_LOCK_TIMEOUT,
        callback=_finite_seconds,
        help="Seconds to wait for another run to finish (0 to 86400).",
    ),
]


SummaryShort = Annotated[SummaryFormat, typer.Option("--format", "-f", help="text, or json: one object on stdout.")]
