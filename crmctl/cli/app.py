"""The root command: global options, `init`, and the nouns mounted as sub-apps.

The nouns and action commands are loaded when they are looked up, so a run imports and
builds only the command it runs (`crmctl --version` none of them); help and listings of
all commands load them all.
"""

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Annotated

import typer
from typer.core import TyperGroup

from crmctl import __version__
from crmctl.cli.guard import guarded
from crmctl.cli.render import note_on_stderr
from crmctl.cli.state import database_path, initialised_database, options

# name -> (module, attribute): a Typer app mounted as a group, or a command function.
# In this order in `crmctl --help`, after `init`.
LAZY_COMMANDS = {
    "note": ("crmctl.cli.actions", "note"),
    "block": ("crmctl.cli.actions", "block"),
    "unblock": ("crmctl.cli.actions", "unblock"),
    "delete": ("crmctl.cli.actions", "delete"),
    "log": ("crmctl.cli.log", "log"),
    "contact": ("crmctl.cli.contact", "app"),
    "tag": ("crmctl.cli.tag", "app"),
    "flow": ("crmctl.cli.flow", "app"),
    "outbox": ("crmctl.cli.outbox", "app"),
    "db": ("crmctl.cli.db", "app"),
    "sample": ("crmctl.cli.sample", "app"),
}


class _LazyCommands(MutableMapping):
    """The root's commands: built ones, and the LAZY_COMMANDS built on first lookup."""

    def __init__(self, built: dict, lazy: dict[str, tuple[str, str]]):
        self._built = dict(built)
        self._lazy = dict(lazy)

    def __getitem__(self, name: str):
        if name not in self._built and name in self._lazy:
            self._built[name] = _build(name, *self._lazy.pop(name))
        return self._built[name]

    def __setitem__(self, name: str, command) -> None:
        self._lazy.pop(name, None)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if self._lazy.pop(name, None) is None:
            del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from list(self._built)
        yield from list(self._lazy)

    def __len__(self) -> int:
        return len(self._built) + len(self._lazy)

    def __contains__(self, name: object) -> bool:
        return name in self._built or name in self._lazy


def _build(name: str, module: str, attribute: str):
    """Build one command exactly as it would be built under the root: mounted on a holder app
    (no completion options, a callback so it stays a group) and taken out again."""
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(add_completion=False)
    holder.callback()(_holder_callback)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    group = typer.main.get_command(holder)
    if not isinstance(group, TyperGroup):  # a holder with a callback is always built as a group
        raise TypeError(f"{name}: expected a command group, got {type(group).__name__}")
    return group.commands[name]


def _holder_callback() -> None:
    pass


class _RootGroup(TyperGroup):
    def __init__(self, *, commands=None, **attrs):
        super().__init__(commands=_LazyCommands(commands or {}, LAZY_COMMANDS), **attrs)


app = typer.Typer(
    name="crmctl",
    cls=_RootGroup,
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
        str | None,
        typer.Option(
            "--db", help="Database file (default: $CRMCTL_DB, then the per-user default).", show_default=False
        ),
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
    """Create the database, or bring an existing one to the current schema.

    An init that fails leaves nothing behind: a database it created is removed again.

    Examples:

      crmctl init --sample

      crmctl --db /srv/crm/crm.db init
    """
    message = f"database ready at {database_path()}"
    with initialised_database() as db:
        if sample:
            from crmctl.sample import load_sample

            report = load_sample(db)
            message += f"; sample data: {report.inserted} inserted, {report.updated} updated"
    if not quiet:
        note_on_stderr(message)
