"""`crmctl outbox …`: the records flows emit, for the program that delivers them."""

from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.guard import guarded
from crmctl.cli.render import emit_records, emit_summary
from crmctl.cli.state import open_database

app = typer.Typer(
    help="""Outboxes: records written by flows' emit steps, read and acknowledged by a deliverer.

    \b
    Examples:
      crmctl outbox list
      crmctl outbox read welcome -f ndjson
    """,
    no_args_is_help=True,
)

Name = Annotated[
    str, typer.Argument(metavar="NAME", help="Outbox name (the `to:` of an emit step).", show_default=False)
]

RECORD_COLUMNS = ["outbox_id", "contact_id", "email", "name", "flow", "step", "run_id", "emitted_at"]
LIST_COLUMNS = ["outbox", "pending", "delivered", "oldest_pending_at", "last_delivered_at"]


@app.command("list")
@guarded
def list_outboxes(fmt: opt.Listing = opt.ListFormat.table) -> None:
    """Every outbox, with its pending and delivered record counts.

    \b
    Examples:
      crmctl outbox list
      crmctl outbox list -f json
    """
    from crmctl import outbox

    emit_records(outbox.listing(open_database()), fmt, LIST_COLUMNS, title="Outboxes")


@app.command("read")
@guarded
def read(name: Name, limit: opt.Limit = None, fmt: opt.Listing = opt.ListFormat.table) -> None:
    """Print the outbox's pending records, oldest first, each with its outbox_id. Reading
    consumes nothing: a record stays pending until `outbox ack` covers it.

    CSV and table put each listed field in its own column after the fixed ones.

    \b
    Examples:
      crmctl outbox read welcome -f ndjson > batch
      crmctl outbox read welcome --limit 500 -f csv
    """
    from crmctl import outbox

    db = open_database()
    records = outbox.pending(db, name, limit)
    if fmt in (opt.ListFormat.csv, opt.ListFormat.table):
        fields = outbox.pending_field_names(db, name, limit)
        columns = RECORD_COLUMNS + [f for f in fields if f not in RECORD_COLUMNS]
        emit_records(records, fmt, columns, title=f"Outbox {name}", flatten=_flat)
    else:
        emit_records(records, fmt, RECORD_COLUMNS)


def _flat(record: dict) -> dict:
    return {**record["fields"], **{k: v for k, v in record.items() if k != "fields"}}


@app.command("ack")
@guarded
def ack(
    name: Name,
    through: Annotated[
        str,
        typer.Option(
            "--through",
            metavar="OUTBOX_ID",
            help="Mark every pending record up to this outbox_id (the last one delivered) as delivered. "
            "Empty: nothing to acknowledge.",
        ),
    ],
    fmt: opt.SummaryShort = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Mark the outbox's pending records up to --through as delivered, and prune records
    delivered more than 30 days ago.

    An empty --through (an empty batch) acknowledges nothing. An id that is not a record of
    this outbox is refused, so a typo never marks unread records delivered.

    \b
    Examples:
      crmctl outbox ack welcome --through 1042
      crmctl outbox ack welcome --through "$(tail -1 batch | jq .outbox_id)"
    """
    from crmctl import outbox
    from crmctl.actions import Context
    from crmctl.errors import InvalidInput
    from crmctl.store import transaction

    text = through.strip()
    db = open_database()
    if not text:
        pending = outbox.count_pending(db, name)
        report = {"outbox": name, "through": None, "acknowledged": 0, "pending": pending, "pruned": 0}
        emit_summary(
            report, as_json=fmt is opt.SummaryFormat.json, quiet=quiet, human=f"{name}: nothing to acknowledge"
        )
        return
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"--through must be an outbox_id (a whole number), not {through[:40]!r}")
    if len(text.lstrip("0")) > 19 or int(text) >= 2**63:
        raise InvalidInput(f"--through {text[:40]}: out of range (outbox ids go up to 2**63 - 1)")
    with transaction(db, deletes_contacts=False):
        result = outbox.acknowledge(db, name, int(text), Context.for_user().now)
    summary = result.to_dict()
    human = f"{name}: {result.acknowledged} acknowledged, {result.pending} pending"
    if result.pruned:
        human += f", {result.pruned} delivered records pruned (kept {outbox.DELIVERED_RETENTION_DAYS} days)"
    emit_summary(summary, as_json=fmt is opt.SummaryFormat.json, quiet=quiet, human=human)
