"""The root command: global options, `init`, and the nouns mounted as sub-apps.

The nouns and action commands are loaded when they are looked up, so a run imports and
builds only the command it runs (`crmctl --version` none of them); help and listings of
all commands load them all.
"""

import importlib
import sys
import types
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Annotated

import typer
from typer.core import TyperGroup

from crmctl import __version__
from crmctl.cli.guard import EXIT_FAILED, EXIT_USAGE, fail, guarded, usage_failure
from crmctl.cli.render import note_on_stderr
from crmctl.cli.state import database_path, initialised_database, options

# The variable a completion script sets when it calls crmctl back (Typer's protocol).
COMPLETE_VAR = "_CRMCTL_COMPLETE"

# name -> (module, attribute): a Typer app mounted as a group, or a command function.
# In this order in `crmctl --help`, after `init`.
LAZY_COMMANDS = {
    "set": ("crmctl.cli.actions", "set_command"),
    "unset": ("crmctl.cli.actions", "unset_command"),
    "note": ("crmctl.cli.actions", "note"),
    "block": ("crmctl.cli.actions", "block"),
    "unblock": ("crmctl.cli.actions", "unblock"),
    "delete": ("crmctl.cli.actions", "delete"),
    "log": ("crmctl.cli.log", "app"),
    "contact": ("crmctl.cli.contact", "app"),
    "tag": ("crmctl.cli.tag", "app"),
    "property": ("crmctl.cli.property", "app"),
    "flow": ("crmctl.cli.flow", "app"),
    "outbox": ("crmctl.cli.outbox", "app"),
    "db": ("crmctl.cli.db", "app"),
    "sample": ("crmctl.cli.sample", "app"),
    "help": ("crmctl.cli.help", "app"),
    "completion": ("crmctl.cli.completion", "completion"),
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
    holder = typer.Typer(add_completion=False, rich_markup_mode=None)
    holder.callback()(_holder_callback)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    group = typer.main.get_command(holder)
    if not isinstance(group, TyperGroup):  # a holder with a callback is always built as a group
        raise TypeError(f"{name}: expected a command group, got {type(group).__name__}")
    return _with_db_option(group.commands[name])


def _holder_callback() -> None:
    pass


def _with_db_option(command):
    """Give a command (and a group's sub-commands) its own --db, so that
    `crmctl tag list --db x.db` works as `crmctl --db x.db tag list` does."""
    from typer.core import TyperOption

    if not any(getattr(p, "name", None) == "db" for p in command.params):
        command.params.append(
            TyperOption(
                param_decls=["--db"],
                type=str,
                default=None,
                metavar="PATH",
                expose_value=False,
                callback=_sub_command_db,
                help="Database file (default: $CRMCTL_DB, then the per-user default).",
            )
        )
    command.collect_usage_pieces = types.MethodType(_usage_pieces, command)
    for sub in getattr(command, "commands", {}).values():
        _with_db_option(sub)
    return command


def _usage_pieces(command, ctx) -> list[str]:
    """The usage line with metavariables as they are written (`TAG...`), without the braces
    Typer puts around required arguments."""
    pieces = type(command).collect_usage_pieces(command, ctx)
    return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


def _sub_command_db(ctx, param, value: str | None) -> str | None:
    if value is not None:  # after the root's, so it wins over `crmctl --db A … --db B`
        options.db_path = value
    return value


class _RootGroup(TyperGroup):
    def __init__(self, *, commands=None, **attrs):
        built = {name: _with_db_option(command) for name, command in (commands or {}).items()}
        super().__init__(commands=_LazyCommands(built, LAZY_COMMANDS), **attrs)

    def _main_shell_completion(self, ctx_args, prog_name: str, complete_var: str | None = None) -> None:
        """A completion script calling back (see crmctl.cli.completion); otherwise nothing to do."""
        import os

        if os.environ.get(COMPLETE_VAR):
            from typer._completion_classes import completion_init

            completion_init()
            super()._main_shell_completion(ctx_args, "crmctl", COMPLETE_VAR)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra,
    ):
        """Run, and turn what the parser refuses into the same one-line errors as everything
        else (Typer's copy of Click would draw a box). The one place usage errors end."""
        from typer.core import _click

        args = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except _click.exceptions.NoArgsIsHelpError as exc:
            sys.stderr.write(exc.format_message().rstrip("\n") + "\n")
            code = EXIT_USAGE
        except _click.exceptions.UsageError as exc:
            path = exc.ctx.command_path if exc.ctx is not None else "crmctl"
            code = usage_failure(_usage_message(exc, args), path, as_json=_json_format_in(args))
        except _click.exceptions.ClickException as exc:
            code = fail(exc.format_message(), exc.exit_code, "invalid_input", as_json=_json_format_in(args)).exit_code
        except typer.Abort:
            code = fail("aborted; nothing was changed", EXIT_FAILED, "refused").exit_code
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _usage_message(exc, args: list[str]) -> str:
    from typer.core import _click

    from crmctl.cli.hints import split_filter_in_args

    if isinstance(exc, _click.exceptions.NoSuchOption):
        message = f"No such option: {exc.option_name}"
        if exc.possibilities:
            message += f" (did you mean {' or '.join(sorted(exc.possibilities))}?)"
    else:
        message = exc.format_message()
    hint = split_filter_in_args(args)
    return f"{message.rstrip('.')}: {hint}" if hint else message


def _json_format_in(args: list[str]) -> bool:
    """Whether the raw command line asks for `-f json` (the parser may have stopped before it)."""
    chosen = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg in ("-f", "--format") and i + 1 < len(args):
            chosen = args[i + 1]
        elif arg.startswith("--format="):
            chosen = arg.split("=", 1)[1]
        elif arg.startswith("-f") and not arg.startswith("--") and len(arg) > 2:
            chosen = arg[2:]
    return chosen == "json"


app = typer.Typer(
    name="crmctl",
    cls=_RootGroup,
    help="""CRM maintenance from the command line: contact actions, segments and cron-safe flows.

    Exit codes: 0 ok, 1 refused or failed, 2 usage or invalid input, 75 the database stayed
    busy (retry later). `crmctl help filters` and `crmctl help flows` are the references.

    \b
    Examples:
      crmctl init --sample
      crmctl tag add vip -w 'score >= 80' --dry-run
      crmctl flow run flows/*.yaml --yes --quiet
    """,
    no_args_is_help=True,
    # Locals in a CRM traceback would hold personal data.
    pretty_exceptions_show_locals=False,
    add_completion=False,
    # Plain help, as git and kubectl print it: no boxes, and examples keep their lines.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
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
            "--db",
            metavar="PATH",
            help="Database file (default: $CRMCTL_DB, then the per-user default).",
            show_default=False,
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
    sample: Annotated[
        bool,
        typer.Option("--sample", help="Declare the sample's properties and load the sample contacts as well."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No message on stderr.")] = False,
) -> None:
    """Create the database, or bring an existing one to the current schema.


    An init that fails leaves nothing behind: a database it created is removed again.

    \b
    Examples:
      crmctl init
      crmctl --db /srv/crm/crm.db init --sample
    """
    message = f"database ready at {database_path()}"
    with initialised_database() as db:
        if sample:
            from crmctl.sample import load_sample

            report = load_sample(db)
            message += f"; sample data: {report.inserted} inserted, {report.updated} updated"
    if not quiet:
        note_on_stderr(message)
