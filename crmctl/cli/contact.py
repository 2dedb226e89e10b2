"""`crmctl contact …`: import, list, show, count."""

import json
from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.actions import selection_spec
from crmctl.cli.guard import guarded
from crmctl.cli.render import emit_raw_json_lines, emit_records, note_on_stderr, stdout_console, to_json
from crmctl.cli.state import is_terminal, open_database

app = typer.Typer(
    help="""Contacts: import, list, show, count.

    \b
    Examples:
      crmctl contact list -w 'plan == "trial"'
      crmctl contact show 42
    """,
    no_args_is_help=True,
    rich_markup_mode=None,
)


InputFormat = Annotated[
    str | None,
    typer.Option(
        "--input-format",
        metavar="FORMAT",
        help="csv, json (an array) or ndjson (default: by the file's extension; stdin needs it).",
    ),
]


def _report_format(value: str) -> str:
    if value in ("csv", "ndjson", "jsonl"):
        raise typer.BadParameter(f"{value!r} is an input format: write --input-format {value} (-f is the report)")
    if value not in ("text", "json"):
        raise typer.BadParameter(f"{value!r} is not one of 'text', 'json'")
    return value


@app.command("import")
@guarded
def import_contacts(
    file: Annotated[str, typer.Argument(metavar="FILE", help="CSV, JSON array or NDJSON file; `-` for stdin.")],
    input_format: InputFormat = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", "-f", metavar="FORMAT", callback=_report_format, help="text, or json: the report on stdout."
        ),
    ] = "text",
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the good rows, report the bad.")] = False,
    json_summary: Annotated[bool, typer.Option("--json", hidden=True, help="Deprecated spelling of -f json.")] = False,
    allow_suppressed: Annotated[
        bool, typer.Option("--allow-suppressed", help="Import addresses erased with `delete --suppress` (and lift it).")
    ] = False,
    quiet: opt.Quiet = False,
) -> None:
    """Upsert contacts by email (case-insensitive). All or nothing unless --skip-invalid.

    \b
    Examples:
      crmctl contact import sample_data/contacts.csv
      crmctl contact import - --input-format ndjson --skip-invalid -f json < contacts.ndjson
    """
    import sys

    from crmctl.actions import current_user
    from crmctl.errors import InvalidInput
    from crmctl.importer import import_contacts as run_import
    from crmctl.store import transaction

    if json_summary:
        note_on_stderr("note: --json is deprecated and will be removed in the next release: use -f json")
    if input_format is not None and input_format not in ("csv", "json", "ndjson", "jsonl"):
        raise InvalidInput(f"--input-format must be csv, json or ndjson, not {input_format!r}")
    db = open_database()
    stream = sys.stdin.buffer if file == "-" else _open_input(file)
    with _progress("importing") as progress, transaction(db):
        report = run_import(
            db,
            stream,
            fmt=input_format,
            filename=file,
            skip_invalid=skip_invalid,
            actor=current_user(),
            progress=progress,
            allow_suppressed=allow_suppressed,
        )
    if json_summary or fmt == "json":
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
    no_pager: opt.NoPager = False,
) -> None:
    """List contacts (all of them when no selection is given), in id order.

    JSON and NDJSON records have id, email, name, phone, user_id, created_at, last_seen_at,
    blocked, tags and attributes; CSV puts each data point in its own column.

    \b
    Examples:
      crmctl contact list -w 'country == "DE"' -f csv --limit 100
      crmctl contact list -f ndjson | crmctl tag add churned -c -
    """
    from crmctl import selection
    from crmctl.store import reads

    db = open_database(resolving=True)
    scope = None
    spec = selection_spec(contact, where, everyone, ignore_missing)
    if spec.contacts or spec.where:
        scope = selection.resolve(db, spec).scope
    if fmt in (opt.ListFormat.ndjson, opt.ListFormat.json):
        emit_raw_json_lines(reads.record_batches(db, scope, limit), fmt)
        return
    records = (json.loads(line) for line in reads.record_lines(db, scope, limit))
    if fmt is opt.ListFormat.csv:
        columns = reads.BUILTIN_COLUMNS + reads.attribute_keys(db, scope)
        emit_records(records, fmt, columns, flatten=_flatten)
    else:
        columns = ["id", "email", "name", "tags", "blocked", "last_seen_at"]
        emit_records(records, fmt, columns, title="Contacts", pager=not no_pager)


def _flatten(record: dict) -> dict:
    flat = {k: v for k, v in record.items() if k != "attributes"}
    flat.update(record["attributes"])
    return flat


@app.command("show")
@guarded
def show(
    contact: Annotated[str, typer.Argument(metavar="ID_OR_EMAIL", help="Contact id or email.")],
    fmt: opt.Summary = opt.SummaryFormat.text,
) -> None:
    """Show one contact: fields, data points, tags, notes, conversations, blocked state.

    \b
    Examples:
      crmctl contact show 42
      crmctl contact show ada@example.com -f json
    """
    from crmctl.errors import NotFound, quote
    from crmctl.selection import lookup_key
    from crmctl.store import reads

    wanted_id, email = lookup_key(contact, where="contact show")
    db = open_database(resolving=True)
    contact_id = reads.find_contact_id(db, wanted_id, email)
    if contact_id is None:
        raise NotFound(f"no contact {quote(contact)}")
    record = reads.full_contact(db, contact_id)
    if fmt is opt.SummaryFormat.json:
        print(json.dumps(record, ensure_ascii=False, indent=2))
        return
    _render_contact(record)


def _render_contact(record: dict) -> None:
    """Every text from the database goes through visible(): no control character reaches the terminal."""
    from rich.table import Table
    from rich.text import Text

    from crmctl.text import visible

    def text(value) -> Text:
        return Text(visible("" if value is None else str(value)))

    console = stdout_console()
    table = Table(show_header=False, box=None, title=f"Contact {record['id']}")
    table.add_column(style="bold")
    table.add_column()
    for key in ["email", "name", "phone", "user_id", "created_at", "last_seen_at"]:
        table.add_row(key, text(record[key]))
    table.add_row("blocked", f"yes, since {record['blocked_at']}" if record["blocked"] else "no")
    table.add_row("tags", text(", ".join(record["tags"]) or "-"))
    for key, value in record["attributes"].items():
        table.add_row(text(key), text(value))
    console.print(table)
    console.print(f"Notes ({len(record['notes'])})", style="bold")
    for n in record["notes"]:
        console.print(text(f"  {n['created_at']}  {n['author'] or ''}: {n['body']}"))
    console.print(f"Conversations ({len(record['conversations'])})", style="bold")
    for conv in record["conversations"]:
        console.print(text(f"  {conv['subject'] or '(no subject)'}"))
        for m in conv["messages"]:
            console.print(text(f"    {m['sent_at'] or ''}  {m['sender'] or ''}: {m['body'] or ''}"))


@app.command("count")
@guarded
def count(where: opt.Where = None, fmt: opt.Summary = opt.SummaryFormat.text) -> None:
    """Print how many contacts match every -w filter (all of them without one). For scripts.

    \b
    Examples:
      crmctl contact count -w 'tags contains "vip"'
      crmctl contact count -w 'plan == "trial"' -w 'last_seen_at < now - 30d' -f json
    """
    from crmctl import selection
    from crmctl.store import reads

    db = open_database()
    scope = None
    if where:
        scope = selection.resolve(db, selection.SelectionSpec(where=list(where))).scope
    total = reads.count(db, scope)
    print(to_json({"count": total}) if fmt is opt.SummaryFormat.json else total)
