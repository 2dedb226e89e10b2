"""`crmctl property …`: the property catalog (a property is a data point on a contact)."""

from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.guard import guarded
from crmctl.cli.render import emit_records, emit_summary, note_on_stderr, to_json
from crmctl.cli.state import is_terminal, open_database

app = typer.Typer(
    help="""Properties: the typed data points a contact may hold (text, number, boolean, date).

    \b
    Examples:
      crmctl property list
      crmctl property create score --type number
    """,
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(metavar="NAME", help="Property name (any case).", show_default=False)]
TypeOption = Annotated[
    str,
    typer.Option("--type", "-t", metavar="TYPE", help="text, number, boolean or date.", show_default=False),
]


@app.command("create")
@guarded
def create(
    name: Name,
    kind: TypeOption,
    description: Annotated[
        str | None, typer.Option("--description", "-d", metavar="TEXT", help="What the property means.")
    ] = None,
    quiet: opt.Quiet = False,
) -> None:
    """Declare a property. Names are unique without regard to case; built-in field names are reserved.

    \b
    Examples:
      crmctl property create score --type number --description "Lead score, 0-100"
      crmctl property create renewal --type date
    """
    from crmctl import actions, properties
    from crmctl.store import transaction

    db = open_database()
    with transaction(db):
        created = properties.create(db, name, kind, actions.Context.for_user(), description)
    if not quiet:
        note_on_stderr(f"created property {created.name} ({created.type})")


@app.command("list")
@guarded
def list_properties(fmt: opt.Listing = opt.ListFormat.table) -> None:
    """List the properties: name, type, description and how many contacts have a value.

    \b
    Examples:
      crmctl property list
      crmctl property list --format json
    """
    from crmctl.store import properties as property_sql

    rows = property_sql.listing(open_database())
    emit_records(rows, fmt, ["name", "type", "description", "contacts"], title="Properties")


@app.command("show")
@guarded
def show(
    name: Name,
    fmt: opt.Summary = opt.SummaryFormat.text,
) -> None:
    """Show one property: its type, description, how many contacts have a value, and when it was created.

    \b
    Examples:
      crmctl property show score --format json
    """
    from crmctl import properties

    row = properties.show(open_database(), name)
    if fmt is opt.SummaryFormat.json:
        print(to_json(row))
        return
    emit_records([row], opt.ListFormat.table, ["name", "type", "description", "contacts", "created_at"])


@app.command("rename")
@guarded
def rename(
    old: Name, new: Annotated[str, typer.Argument(metavar="NEW", help="The new name.")], quiet: opt.Quiet = False
) -> None:
    """Rename a property; contacts keep their values under the new name.

    Filters and flows that use the old name must be changed to the new one.

    \b
    Examples:
      crmctl property rename lifecycle lifecycle_stage
    """
    from crmctl import actions, properties
    from crmctl.store import transaction

    db = open_database()
    with transaction(db):
        before, after = properties.rename(db, old, new, actions.Context.for_user())
    if not quiet:
        note_on_stderr(f"renamed property {before} -> {after}")


@app.command("delete")
@guarded
def delete(name: Name, yes: opt.Yes = False, quiet: opt.Quiet = False) -> None:
    """Delete a property and every contact's value of it (asks first; --yes in scripts).

    \b
    Examples:
      crmctl property delete old_campaign --yes
    """
    from crmctl import actions, properties
    from crmctl.store import transaction

    db = open_database()
    with transaction(db):
        deleted, count = properties.delete(db, name, actions.Context.for_user(), confirm=None if yes else _confirm)
    if not quiet:
        note_on_stderr(f"deleted property {deleted}; {count} contact{'s' if count != 1 else ''} lost a value")


@app.command("retype")
@guarded
def retype(
    name: Name,
    kind: TypeOption,
    drop_invalid: Annotated[
        bool, typer.Option("--drop-invalid", help="Remove the values that cannot be converted instead of refusing.")
    ] = False,
    dry_run: opt.DryRun = False,
    fmt: opt.Summary = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Change a property's type, converting every stored value.

    Refused (exit 1, listing up to 20 contacts) when a value cannot be converted, unless
    --drop-invalid. Booleans become 1/0 as numbers and true/false as text; numbers and
    dates become their text.

    \b
    Examples:
      crmctl property retype code --type text
      crmctl property retype score --type number --drop-invalid --dry-run
    """
    from crmctl import actions, properties
    from crmctl.store import transaction

    db = open_database()
    with transaction(db, dry_run=dry_run):
        result = properties.retype(db, name, kind, actions.Context.for_user(), drop_invalid=drop_invalid)
    summary = {**result.to_dict(), "dry_run": dry_run}
    human = (
        f"retyped {result.name}: {result.old_type} -> {result.new_type}; "
        f"{result.converted} value{'s' if result.converted != 1 else ''} converted, {result.dropped} dropped"
    )
    if result.old_type == result.new_type:
        human = f"{result.name} is already a {result.new_type} property; nothing to do"
    if dry_run:
        human += " (dry run: nothing was written)"
    emit_summary(summary, as_json=fmt is opt.SummaryFormat.json, quiet=quiet, human=human)


def _confirm(name: str, contacts: int) -> bool:
    from crmctl.errors import Refused

    what = f"property '{name}' (held by {contacts} contact{'s' if contacts != 1 else ''})"
    if not is_terminal():
        raise Refused(f"refusing to delete {what} without confirmation: pass --yes")
    return typer.confirm(f"Delete {what} and all its values?", default=False, err=True)
