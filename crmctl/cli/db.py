"""`crmctl db …`: online backup, integrity checks, pruning, and copies between databases."""

from pathlib import Path
from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.guard import EXIT_FAILED, guarded
from crmctl.cli.render import emit_summary, note_on_stderr, to_json, working
from crmctl.cli.state import open_database

app = typer.Typer(
    help="""The database: backup, checks, pruning history, and copies between databases.

    \b
    Examples:
      crmctl db backup /srv/backup/crm.db
      crmctl db check
      crmctl db copy ~/.local/share/crmctl/crmctl.db postgresql://crm@db.example.com/crm
    """,
    no_args_is_help=True,
)


@app.command("backup")
@guarded
def backup(
    path: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="Where to write the copy; DIR/ (or an existing DIR) writes DIR/crmctl-<time>.db.",
        ),
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing regular file (nothing else).")] = False,
    fmt: opt.Summary = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Take a consistent copy of the database while other processes keep writing.

    --force only ever replaces a regular file: a directory, FIFO, socket, device or symbolic
    link is refused whatever the flags. A directory given with a trailing slash, or an existing
    directory without --force, receives a new file named after the time (UTC).

    \b
    Examples:
      crmctl db backup /srv/backup/crm-$(date +%F).db --quiet
      crmctl db backup /srv/backup/
    """
    from crmctl.store.maintenance import backup as take_backup
    from crmctl.store.maintenance import backup_name

    _refuse_postgres_backup()
    target = Path(path)
    if path.endswith("/") or (target.is_dir() and not target.is_symlink() and not force):
        from crmctl import clock

        target = backup_name(target, clock.now())
    size = take_backup(open_database(resolving=True), target, overwrite=force)
    emit_summary(
        {"backup": str(target), "bytes": size},
        as_json=fmt is opt.SummaryFormat.json,
        quiet=quiet,
        human=f"backup written to {target} ({size:,} bytes)",
    )


def _refuse_postgres_backup() -> None:
    from crmctl.cli.state import database_path
    from crmctl.errors import Refused
    from crmctl.store.pg.url import PgLocation

    location = database_path()
    if isinstance(location, PgLocation):
        raise Refused(
            "db backup copies a SQLite database file; this database is on PostgreSQL: back it up with pg_dump "
            f"(e.g. pg_dump --schema={location.schema} -Fc -f crm.dump DBNAME)"
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

    problems = run_checks(open_database(resolving=True))
    if fmt is opt.SummaryFormat.json:
        print(to_json({"ok": not problems, "problems": problems}))
    for problem in problems:
        note_on_stderr(problem)
    if problems:
        note_on_stderr(f"Error: {len(problems)} problem{'s' if len(problems) != 1 else ''} found")
        raise typer.Exit(EXIT_FAILED)
    if not quiet:
        note_on_stderr("ok: integrity and foreign keys checked")


@app.command("prune")
@guarded
def prune(
    runs_before: Annotated[
        str,
        typer.Option(
            "--runs-before",
            metavar="TIME",
            help="Delete flow history older than this: a date or time (2026-01-31), or an age (90d).",
            show_default=False,
        ),
    ],
    dry_run: opt.DryRun = False,
    fmt: opt.SummaryShort = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Delete flow run history older than a date, keeping each flow's last run and everything
    contacts still waiting at a wait depend on (the run that parked them, the definition they
    entered under). Also prunes outbox records delivered more than 30 days ago.

    The audit log is never pruned.

    \b
    Examples:
      crmctl db prune --runs-before 2026-01-01 --dry-run
      crmctl db prune --runs-before 90d --quiet
    """
    from crmctl import clock
    from crmctl.history import prune_history
    from crmctl.store import transaction

    db = open_database()
    with transaction(db, dry_run=dry_run, deletes_contacts=False):
        report = prune_history(db, runs_before, clock.now_text(), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    human = (
        f"{verb} {report['runs']} flow runs and {report['definitions']} flow definitions from before "
        f"{report['before']}, and {report['outbox_records']} delivered outbox records"
    )
    emit_summary({**report, "dry_run": dry_run}, as_json=fmt is opt.SummaryFormat.json, quiet=quiet, human=human)


@app.command("copy")
@guarded
def copy(
    source: Annotated[
        str, typer.Argument(metavar="SRC", help="The CRM to copy: a SQLite file or a postgresql:// URL.")
    ],
    target: Annotated[
        str, typer.Argument(metavar="DST", help="Where to copy it: a new or empty SQLite file or PostgreSQL database.")
    ],
    fmt: opt.Summary = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Copy a whole CRM into a new or empty database: SQLite to PostgreSQL, PostgreSQL to
    SQLite, or between two of either. Everything is copied with its ids (contacts, tags,
    properties, notes, the audit log, flow history and enrolments, suppressions, outboxes),
    and the target never reuses an id the source gave out.

    The target is created (a SQLite file) or given crmctl's schema (a PostgreSQL database, or
    the schema named by `?options=-csearch_path=NAME`) when needed. A target that holds any
    contact, tag, audit entry or other row is refused. The copy is one transaction on the
    target: if it fails, the target is left as it was (a SQLite file it created is removed).
    The source is read in one consistent snapshot while other processes may keep writing.

    \b
    Examples:
      crmctl db copy crm.db 'postgresql://crm@db.example.com/crm'
      crmctl db copy 'postgresql://crm@db.example.com/crm?options=-csearch_path=sales' sales.db
    """
    from crmctl.errors import UsageError
    from crmctl.store import open_db, resolve_path
    from crmctl.store.connection import initialised
    from crmctl.store.copy import copy_crm

    for value, name in ((source, "SRC"), (target, "DST")):
        if not value:
            raise UsageError(f"{name} is empty")
    src, dst = resolve_path(source), resolve_path(target)
    if _same_database(src, dst):
        raise UsageError(f"SRC and DST are the same database ({dst})")
    source_db = open_db(src)
    with initialised(dst) as target_db, working(f"copying {src} to {dst}…", enabled=not quiet):
        counts = copy_crm(source_db, target_db, target_name=str(dst))
    rows = sum(counts.values())
    emit_summary(
        {"source": str(src), "target": str(dst), "rows": rows, "tables": counts},
        as_json=fmt is opt.SummaryFormat.json,
        quiet=quiet,
        human=(
            f"copied {counts['contacts']:,} contacts, {counts['tags']:,} tags, {counts['audit']:,} audit entries "
            f"and {counts['flow_runs']:,} flow runs ({rows:,} rows in all) from {src} to {dst}"
        ),
    )


def _same_database(a: object, b: object) -> bool:
    if isinstance(a, Path) and isinstance(b, Path):
        try:
            return a.resolve() == b.resolve()
        except OSError:
            return False
    return str(a) == str(b)
