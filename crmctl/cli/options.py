"""Option declarations shared by the commands, so every command spells them the same."""

from __future__ import annotations

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
Limit = Annotated[int | None, typer.Option("--limit", "-n", min=0, help="At most N rows.")]
SummaryShort = Annotated[SummaryFormat, typer.Option("--format", "-f", help="text, or json: one object on stdout.")]
