"""`crmctl tag …`: the tag catalog, plus the tag add/remove actions."""

from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.actions import tag_add, tag_remove
from crmctl.cli.completion import complete_tag
from crmctl.cli.guard import guarded
from crmctl.cli.render import emit_records, emit_summary
from crmctl.cli.state import is_terminal, open_database

app = typer.Typer(
    help="""Tags: the catalog, and assigning or removing them.

    \b
    Examples:
      crmctl tag list
      crmctl tag add vip -c 42
    """,
    no_args_is_help=True,
)
app.command("add")(tag_add)
app.command("remove")(tag_remove)

Names = Annotated[
    list[str], typer.Argument(metavar="TAG...", help="Tag names.", show_default=False, autocompletion=complete_tag)
]
Name = Annotated[str, typer.Argument(metavar="TAG", help="A tag in the catalog.", autocompletion=complete_tag)]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


@app.command("create")
@guarded
def create(names: Names, fmt: opt.Summary = opt.SummaryFormat.text, quiet: opt.Quiet = False) -> None:
    """Create tags in the catalog (existing ones are left as they are).

    \b
    Examples:
      crmctl tag create vip newsletter
    """
    from crmctl import actions, catalog
    from crmctl.store import transaction

    db = open_database()
    with transaction(db):
        created, existing = catalog.create(db, names, actions.Context.for_user())
    lines = []
    if created:
        lines.append("created: " + ", ".join(created))
    if existing:
        lines.append("already present: " + ", ".join(existing))
    summary = {"created": created, "existing": existing}
    emit_summary(summary, as_json=fmt is opt.SummaryFormat.json, quiet=quiet or not lines, human="\n".join(lines))


@app.command("list")
@guarded
def list_tags(fmt: opt.Listing = opt.ListFormat.table, no_pager: opt.NoPager = False) -> None:
    """List the tag catalog with each tag's contact count.

    \b
    Examples:
      crmctl tag list
      crmctl tag list -f csv
    """
    # A read: straight to the store, without the catalog's write side (crmctl.actions).
    from crmctl.store import tags as tag_sql

    db = open_database(resolving=True)
    rows = ({"name": r["name"], "contacts": r["contacts"]} for r in tag_sql.listing(db))
    emit_records(rows, fmt, ["name", "contacts"], title="Tags", pager=not no_pager)


@app.command("rename")
@guarded
def rename(
    old: Name,
    new: Annotated[str, typer.Argument(metavar="NEW", help="The new name.")],
    fmt: opt.Summary = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Rename a tag; its contacts keep it under the new name.

    \b
    Examples:
      crmctl tag rename newsletter weekly
    """
    from crmctl import actions, catalog
    from crmctl.store import transaction

    db = open_database(resolving=True)
    with transaction(db):
        catalog.rename(db, old, new, actions.Context.for_user())
    summary = {"renamed": old.strip(), "to": new.strip()}
    emit_summary(
        summary, as_json=fmt is opt.SummaryFormat.json, quiet=quiet, human=f"renamed {old.strip()} -> {new.strip()}"
    )


@app.command("delete")
@guarded
def delete(
    names: Names, yes: opt.Yes = False, fmt: opt.Summary = opt.SummaryFormat.text, quiet: opt.Quiet = False
) -> None:
    """Delete tags from the catalog and from every contact holding them.

    Asks on a terminal (elsewhere needs --yes) when some contact holds one of them; tags
    that no contact holds are deleted without asking.

    \b
    Examples:
      crmctl tag delete old-campaign --yes
    """
    from crmctl import actions, catalog
    from crmctl.store import transaction

    db = open_database(resolving=True)
    with transaction(db):
        deleted, count = catalog.delete(db, names, actions.Context.for_user(), confirm=None if yes else _confirm)
    summary = {"deleted": deleted, "untagged": count}
    human = f"deleted {_plural(deleted, 'tag')}; {count} contacts untagged"
    emit_summary(summary, as_json=fmt is opt.SummaryFormat.json, quiet=quiet, human=human)


def _confirm(tags: int, contacts: int) -> bool:
    from crmctl.errors import Refused

    what = f"{_plural(tags, 'tag')} (held by {_plural(contacts, 'contact')})"
    if not is_terminal():
        raise Refused(f"refusing to delete {what} without confirmation: pass --yes")
    return typer.confirm(f"Delete {what}?", default=False, err=True)
