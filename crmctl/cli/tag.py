"""`crmctl tag …`: the tag catalog, plus the tag add/remove actions."""

from typing import Annotated

import typer

from crmctl.cli import actions as action_commands
from crmctl.cli import options as opt
from crmctl.cli.guard import guarded
from crmctl.cli.render import emit_records, note_on_stderr
from crmctl.cli.state import is_terminal, open_database

app = typer.Typer(help="Tags: the catalog, and assigning or removing them.", no_args_is_help=True)
app.command("add")(action_commands.tag_add)
app.command("remove")(action_commands.tag_remove)

Names = Annotated[list[str], typer.Argument(help="Tag names.", show_default=False)]


@app.command("create")
@guarded
def create(names: Names, quiet: opt.Quiet = False) -> None:
    """Create tags in the catalog (existing ones are left as they are)."""
    from crmctl import actions, catalog
    from crmctl.store import transaction

    db = open_database()
    with transaction(db):
        created, existing = catalog.create(db, names, actions.Context.for_user())
    if not quiet:
        if created:
            note_on_stderr("created: " + ", ".join(created))
        if existing:
            note_on_stderr("already present: " + ", ".join(existing))


@app.command("list")
@guarded
def list_tags(fmt: opt.Listing = opt.ListFormat.table) -> None:
    """List the tag catalog with each tag's contact count."""
    # A read: straight to the store, without the catalog's write side (crmctl.actions).
    from crmctl.store import tags as tag_sql

    db = open_database(resolving=True)
    rows = ({"name": r["name"], "contacts": r["contacts"]} for r in tag_sql.listing(db))
    emit_records(rows, fmt, ["name", "contacts"], title="Tags")


@app.command("rename")
@guarded
def rename(old: str, new: str, quiet: opt.Quiet = False) -> None:
    """Rename a tag; its contacts keep it under the new name."""
    from crmctl import actions, catalog
    from crmctl.store import transaction

    db = open_database(resolving=True)
    with transaction(db):
        catalog.rename(db, old, new, actions.Context.for_user())
    if not quiet:
        note_on_stderr(f"renamed {old} -> {new}")


@app.command("delete")
@guarded
def delete(names: Names, yes: opt.Yes = False, quiet: opt.Quiet = False) -> None:
    """Delete tags from the catalog and from every contact holding them."""
    from crmctl import actions, catalog
    from crmctl.store import transaction

    db = open_database(resolving=True)
    with transaction(db):
        deleted, count = catalog.delete(db, names, actions.Context.for_user(), confirm=None if yes else _confirm)
    if not quiet:
        note_on_stderr(f"deleted {deleted} tag{'s' if deleted != 1 else ''}; {count} contacts untagged")


def _confirm(tags: int, contacts: int) -> bool:
    from crmctl.errors import Refused

    what = f"{tags} tag{'s' if tags != 1 else ''} (held by {contacts} contact{'s' if contacts != 1 else ''})"
    if not is_terminal():
        raise Refused(f"refusing to delete {what} without confirmation: pass --yes")
    return typer.confirm(f"Delete {what}?", default=False, err=True)
