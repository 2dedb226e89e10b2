"""`crmctl log`: the audit log, newest first, and `log show ID`: one entry with every contact id."""

from enum import StrEnum
from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.guard import guarded
from crmctl.cli.render import emit_records, to_json
from crmctl.cli.state import open_database

COLUMNS = ["id", "at", "actor", "action", "contacts", "detail", "run_id"]

app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
)

MOMENT = "ISO time (2026-11-01, 2026-11-01T12:00:00Z) or now - DURATION (now - 7d; m, h, d, w)."


@app.callback()
@guarded
def log(
    ctx: typer.Context,
    contact: Annotated[
        list[str] | None,
        typer.Option(
            "--contact",
            "-c",
            metavar="ID_OR_EMAIL",
            help="Only entries touching this contact id (or email, while it exists); repeatable: any of them.",
        ),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="TIME", help="At or after TIME: " + MOMENT)] = None,
    until: Annotated[str | None, typer.Option("--until", metavar="TIME", help="Before TIME: " + MOMENT)] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", metavar="NAME", help="Only this actor: an OS user, or flow:NAME.")
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", metavar="ACTION", help="Only this action (tag_add, delete, …).")
    ] = None,
    run: Annotated[
        int | None,
        typer.Option("--run", metavar="RUN_ID", callback=opt.whole_number, help="Only the changes of this flow run."),
    ] = None,
    limit: opt.Limit = None,
    fmt: opt.Listing = opt.ListFormat.table,
    no_pager: opt.NoPager = False,
) -> None:
    """Show the audit log, newest first: every change, who made it, and how many contacts it touched.

    `crmctl log show ID` shows one entry with every contact id it touched.

    \b
    Examples:
      crmctl log --limit 20
      crmctl log --since 'now - 7d' --action delete
      crmctl log --contact 42 --contact 43 -f ndjson
      crmctl log --actor flow:trial-nurture --run 17
    """
    if ctx.invoked_subcommand is not None:
        return
    from crmctl.store import audit

    db = open_database(resolving=True)
    records = audit.entries(
        db,
        contacts=_contact_ids(db, contact or []),
        since=_moment("--since", since),
        until=_moment("--until", until),
        actor=actor,
        action=action,
        run_id=run,
        limit=limit,
    )
    emit_records(records, fmt, COLUMNS, title="Audit log", pager=not no_pager)


def _contact_ids(db, given: list[str]) -> list[int]:
    from crmctl.errors import NotFound, quote
    from crmctl.selection import lookup_key
    from crmctl.store import reads

    found: list[int] = []
    for raw in given:
        contact_id, email = lookup_key(raw, where="--contact")
        if contact_id is None:
            contact_id = reads.find_contact_id(db, None, email)
            if contact_id is None:
                raise NotFound(f"no contact {quote(raw)} (deleted contacts can be looked up by id)")
        found.append(contact_id)
    return found


def _moment(option: str, text: str | None) -> str | None:
    if text is None:
        return None
    from crmctl import clock
    from crmctl.errors import InvalidInput, quote

    try:
        return clock.format_time(clock.parse_moment(text))
    except ValueError:
        raise InvalidInput(
            f"{option}: {quote(text)} is not a time: write an ISO time such as 2026-11-01 or 2026-11-01T12:00:00Z, "
            "or now - 7d"
        ) from None


class EntryFormat(StrEnum):
    text = "text"
    json = "json"
    ndjson = "ndjson"
    csv = "csv"


@app.command("show")
@guarded
def show(
    entry_id: Annotated[
        int, typer.Argument(metavar="ID", callback=opt.whole_number, help="The audit entry's id (the `id` column).")
    ],
    fmt: Annotated[
        EntryFormat,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="text; json (the entry with contact_ids); ndjson or csv: one contact id per line, to pipe into -c -.",
        ),
    ] = EntryFormat.text,
) -> None:
    """Show one audit entry with every contact id it touched.

    With -f ndjson it prints one {"id": …} per contact, which any selection reads with `-c -`.

    \b
    Examples:
      crmctl log show 812
      crmctl log show 812 -f ndjson | crmctl tag remove vip -c -
    """
    import sys

    from crmctl.errors import NotFound
    from crmctl.store import audit

    db = open_database(resolving=True)
    found = audit.entry(db, entry_id)
    if found is None:
        raise NotFound(f"no audit entry {entry_id}")
    ids = audit.all_contact_ids(db, entry_id)
    out = sys.stdout
    if fmt is EntryFormat.ndjson:
        for contact_id in ids:
            out.write(f'{{"id":{contact_id}}}\n')
    elif fmt is EntryFormat.csv:
        out.write("id\n")
        for contact_id in ids:
            out.write(f"{contact_id}\n")
    elif fmt is EntryFormat.json:
        out.write(to_json({**found, "contact_ids": list(ids)}) + "\n")
    else:
        _show_text(found, ids, out)
    out.flush()


def _show_text(found: dict, ids, out) -> None:
    from itertools import islice

    from crmctl.text import visible

    for key in COLUMNS:
        value = found[key]
        out.write(f"{key:<9} {visible('-' if value is None else str(value))}\n")
    out.write("contact ids:\n")
    shown = False
    while line := list(islice(ids, 12)):
        out.write("  " + " ".join(map(str, line)) + "\n")
        shown = True
    if not shown:
        out.write("  (none)\n")
