"""`crmctl db …`: online backup and integrity checks."""

from pathlib import Path
from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.guard import EXIT_FAILED, guarded
from crmctl.cli.render import emit_summary, note_on_stderr, to_json
from crmctl.cli.state import open_database

app = typer.Typer(
    help="""The database file: backup and checks.

    \b
    Examples:
      crmctl db backup /srv/backup/crm.db
      crmctl db check
    """,
    no_args_is_help=True,
)


@app.command("backup")
@guarded
def backup(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write the copy.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    fmt: opt.Summary = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Take a consistent copy of the database while other processes keep writing.

    \b
    Examples:
      crmctl db backup /srv/backup/crm-$(date +%F).db --quiet
    """
    from crmctl.store.maintenance import backup as take_backup

    size = take_backup(open_database(), path, overwrite=force)
    emit_summary(
        {"backup": str(path), "bytes": size},
        as_json=fmt is opt.SummaryFormat.json,
        quiet=quiet,
        human=f"backup written to {path} ({size:,} bytes)",
    )


@app.command("check")
@guarded
def check(fmt: opt.Summary = opt.SummaryFormat.text, quiet: opt.Quiet = False) -> None:
    """Run SQLite's integrity and foreign-key checks; exit 1 with a report when something is wrong.

    \b
    Examples:
      crmctl db check
      crmctl --db /srv/backup/crm.db db check -f json
    """
    from crmctl.store.maintenance import check as run_checks

    problems = run_checks(open_database())
    if fmt is opt.SummaryFormat.json:
        print(to_json({"ok": not problems, "problems": problems}))
    for problem in problems:
        note_on_stderr(problem)
    if problems:
        note_on_stderr(f"Error: {len(problems)} problem{'s' if len(problems) != 1 else ''} found")
        raise typer.Exit(EXIT_FAILED)
    if not quiet:
        note_on_stderr("ok: integrity and foreign keys checked")
