"""`crmctl contact …`: import, list, show, count."""

import json
from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.actions import selection_spec
from crmctl.cli.guard import guarded
from crmctl.cli.render import emit_raw_json_lines, emit_records, note_on_stderr, stdout_console, to_json
from crmctl.cli.state import is_terminal, open_database

app = typer.Typer(help="Contacts: import, list, show, count.", no_args_is_help=True)


@app.command("import")
@guarded
def import_contacts(
    file: Annotated[str, typer.Argument(help="CSV, JSON array or NDJSON file; `-` for stdin.")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv, json or ndjson (default: by extension).")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the good rows, report the bad.")] = False,
    json_summary: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON object on stdout.")
    ] = False,
    allow_suppressed: Annotated[
        bool, typer.Option("--allow-suppressed", help="Import addresses erased with `delete --suppress` (and lift it).")
    ] = False,
    quiet: opt.Quiet = False,
) -> None:
    """Upsert contacts by email (case-insensitive). All or nothing unless --skip-invalid."""
    import sys

    from crmctl.actions import current_user
    from crmctl.errors import InvalidInput
    from crmctl.importer import import_contacts as run_import
    from crmctl.store import transaction

    if fmt is not None and fmt not in ("csv", "json", "ndjson", "jsonl"):
        raise InvalidInput(f"--format must be csv, json or ndjson, not {fmt!r}")
    db = open_database()
    stream = sys.stdin.buffer if file == "-" else _open_input(file)
    with _progress("importing") as progress, transaction(db):
        report = run_import(
            db,
            stream,
            fmt=fmt,
            filename=file,
            skip_invalid=skip_invalid,
            actor=current_user(),
            progress=progress,
            allow_suppressed=allow_suppressed,
        )
    if json_summary:
        sys.stdout.write(to_json(report.to_dict()) + "\n")
    if not quiet:
        note_on_stderr(
            f"imported: {report.inserted} inserted, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.rejected} rejected"
            + (
                f"; {report.readmitted} suppressed address{'es' if report.readmitted != 1 else ''} readmitted"
                if report.readmitted
                else ""
            )
        )
        for problem in report.problems:
            note_on_stderr(f"  {problem}")


def _open_input(path: str):
    from crmctl.errors import InvalidInput

    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None


class _progress:
    """A rows-done counter on a terminal; nothing in cron or pipelines."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None

    def __enter__(self):
        import sys

        if not is_terminal(sys.stderr):
            return None
        from rich.progress import Progress, SpinnerColumn, TextColumn

        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description} {task.completed:,} rows"), transient=True)
        self.bar.start()
        task = self.bar.add_task(self.label, total=None)
        return lambda done: self.bar.update(task, completed=done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


@app.command("list")
@guarded
def list_contacts(
    contact: opt.Contact = None,
    where: opt.Where = None,
    everyone: opt.Everyone = False,
    ignore_missing: opt.IgnoreMissing = False,
    fmt: opt.Listing = opt.ListFormat.table,
    limit: opt.Limit = None,
) -> None:
    """List contacts (all of them when no selection is given), in id order."""
    from crmctl import selection
    from crmctl.store import reads

    db = open_database(resolving=True)
    scope = None
    spec = selection_spec(contact, where, everyone, ignore_missing)
    if not spec.is_empty and not everyone:
        scope = selection.resolve(db, spec)
    if fmt in (opt.ListFormat.ndjson, opt.ListFormat.json):
        emit_raw_json_lines(reads.record_batches(db, scope, limit), fmt)
        return
    records = (json.loads(line) for line in reads.record_lines(db, scope, limit))
    if fmt is opt.ListFormat.csv:
        columns = reads.BUILTIN_COLUMNS + reads.attribute_keys(db, scope)
        emit_records(records, fmt, columns, flatten=_flatten)
    else:
        emit_records(records, fmt, ["id", "email", "name", "tags", "blocked", "last_seen_at"], title="Contacts")


def _flatten(record: dict) -> dict:
    flat = {k: v for k, v in record.items() if k != "attributes"}
    flat.update(record["attributes"])
    return flat


@app.command("show")
@guarded
def show(
    contact: Annotated[str, typer.Argument(help="Contact id or email.")],
    fmt: Annotated[opt.SummaryFormat, typer.Option("--format", help="text or json.")] = opt.SummaryFormat.text,
) -> None:
    """Show one contact: fields, data points, tags, notes, conversations, blocked state."""
    from crmctl.errors import NotFound
    from crmctl.selection import lookup_key
    from crmctl.store import reads

    wanted_id, email = lookup_key(contact, where="contact show")
    db = open_database(resolving=True)
    contact_id = reads.find_contact_id(db, wanted_id, email)
    if contact_id is None:
        raise NotFound(f"no contact {contact!r}")
    record = reads.full_contact(db, contact_id)
    if fmt is opt.SummaryFormat.json:
        print(json.dumps(record, ensure_ascii=False, indent=2))
        return
    _render_contact(record)


def _render_contact(record: dict) -> None:
    from rich.table import Table
    from rich.text import Text

    console = stdout_console()
    table = Table(show_header=False, box=None, title=f"Contact {record['id']}")
    table.add_column(style="bold")
    table.add_column()
    for key in ["email", "name", "phone", "user_id", "created_at", "last_seen_at"]:
        table.add_row(key, Text(_text(record[key])))
    table.add_row("blocked", f"yes, since {record['blocked_at']}" if record["blocked"] else "no")
    table.add_row("tags", Text(", ".join(record["tags"]) or "-"))
    for key, value in record["attributes"].items():
        table.add_row(Text(key), Text(_text(value)))
    console.print(table)
    console.print(f"Notes ({len(record['notes'])})", style="bold")
    for n in record["notes"]:
        console.print(f"  {n['created_at']}  {n['author'] or ''}: {n['body']}", markup=False)
    console.print(f"Conversations ({len(record['conversations'])})", style="bold")
    for conv in record["conversations"]:
        console.print(f"  {conv['subject'] or '(no subject)'}", markup=False)
        for m in conv["messages"]:
            console.print(f"    {m['sent_at'] or ''}  {m['sender'] or ''}: {m['body'] or ''}", markup=False)


def _text(value) -> str:
    return "" if value is None else str(value)


@app.command("count")
@guarded
def count(where: opt.Where = None) -> None:
    """Print how many contacts match (all of them without --where). For scripts."""
    from crmctl import selection
    from crmctl.store import reads

    db = open_database()
    scope = None
    if where:
        scope = selection.resolve(db, selection.SelectionSpec(where=where))
    print(reads.count(db, scope))
