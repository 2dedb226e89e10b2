"""The root command: global options, `init`, and the nouns mounted as sub-apps."""

from typing import Annotated, Optional

import typer

from crmctl import __version__
from crmctl.cli import actions, contact, db, flow, log, tag
from crmctl.cli.guard import guarded
from crmctl.cli.render import note_on_stderr
from crmctl.cli.state import database_path, open_database, options

app = typer.Typer(
    name="crmctl",
    help="CRM maintenance from the command line: contact actions, segments and cron-safe flows.",
    no_args_is_help=True,
    # Locals in a CRM traceback would hold personal data.
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"crmctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    db: Annotated[
        Optional[str],
        typer.Option("--db", help="Database file (default: $CRMCTL_DB, then the per-user default).", show_default=False),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    options.db_path = db


@app.command("init")
@guarded
def init(
    sample: Annotated[bool, typer.Option("--sample", help="Load the bundled sample data as well.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Create the database, or bring an existing one to the current schema."""
    db = open_database(create=True)
    message = f"database ready at {database_path()}"
    if sample:
        from crmctl.sample import load_sample

        report = load_sample(db)
        message += f"; sample data: {report.inserted} inserted, {report.updated} updated"
    if not quiet:
        note_on_stderr(message)


app.add_typer(contact.app, name="contact")
app.add_typer(tag.app, name="tag")
app.add_typer(flow.app, name="flow")
app.add_typer(db.app, name="db")
app.command("note")(actions.note)
app.command("block")(actions.block)
app.command("unblock")(actions.unblock)
app.command("delete")(actions.delete)
app.command("log")(log.log)
