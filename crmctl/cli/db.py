"""`crmctl db …`: online backup and integrity checks."""

from pathlib import Path
from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.guard import EXIT_FAILED, guarded
from crmctl.cli.render import note_on_stderr
from crmctl.cli.state import open_database

app = typer.Typer(help="The database file: backup and checks.", no_args_is_help=True)


@app.command("backup")
@guarded
def backup(
    path: Annotated[
        str, typer.Argument(help="Where to write the copy; DIR/ (or an existing DIR) writes DIR/crmctl-<time>.db.")
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing regular file (nothing else).")] = False,
    quiet: opt.Quiet = False,
) -> None:
    """Take a consistent copy of the database while other processes keep writing.

    --force only ever replaces a regular file: a directory, FIFO, socket, device or symbolic
    link is refused whatever the flags. A directory given with a trailing slash, or an existing
    directory without --force, receives a new file named after the time (UTC).
    """
    from crmctl.store.maintenance import backup as take_backup
    from crmctl.store.maintenance import backup_name

    target = Path(path)
    if path.endswith("/") or (target.is_dir() and not target.is_symlink() and not force):
        from crmctl import clock

        target = backup_name(target, clock.now())
    size = take_backup(open_database(resolving=True), target, overwrite=force)
    if not quiet:
        note_on_stderr(f"backup written to {target} ({size:,} bytes)")


@app.command("check")
@guarded
def check(quiet: opt.Quiet = False) -> None:
    """Run SQLite's integrity and foreign-key checks; exit 1 with a report when something is wrong."""
    from crmctl.store.maintenance import check as run_checks

    problems = run_checks(open_database(resolving=True))
    for problem in problems:
        note_on_stderr(problem)
    if problems:
        note_on_stderr(f"Error: {len(problems)} problem{'s' if len(problems) != 1 else ''} found")
        raise typer.Exit(EXIT_FAILED)
    if not quiet:
        note_on_stderr("ok: integrity and foreign keys checked")
