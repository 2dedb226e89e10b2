"""`crmctl log`: the audit log, newest first."""

from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.guard import guarded
from crmctl.cli.render import emit_records
from crmctl.cli.state import open_database

COLUMNS = ["id", "at", "actor", "action", "contacts", "detail", "run_id"]


@guarded
def log(
    contact: Annotated[
        str | None,
        typer.Option("--contact", "-c", help="Only entries touching this contact id (or email, while it exists)."),
    ] = None,
    limit: opt.Limit = None,
    fmt: opt.Listing = opt.ListFormat.table,
) -> None:
    """Show the audit log: every change, who made it, and the contacts it touched."""
    from crmctl.errors import NotFound
    from crmctl.selection import lookup_key
    from crmctl.store import audit, reads

    db = open_database(resolving=True)
    contact_id = None
    if contact is not None:
        contact_id, email = lookup_key(contact, where="--contact")
        if contact_id is None:
            contact_id = reads.find_contact_id(db, None, email)
        if contact_id is None:
            raise NotFound(f"no contact {contact!r} (deleted contacts can be looked up by id)")
    emit_records(audit.entries(db, contact=contact_id, limit=limit), fmt, COLUMNS, title="Audit log")
