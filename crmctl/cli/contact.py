"""`crmctl contact …`: import, list, show, count."""

import json
from enum import StrEnum
from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.actions import selection_spec
from crmctl.cli.guard import guarded
from crmctl.cli.render import emit_raw_json_lines, emit_records, note_on_stderr, stdout_console, to_json
from crmctl.cli.state import is_terminal, open_database

app = typer.Typer(help="Contacts: import, export, list, show, count.", no_args_is_help=True)


class ExportFormat(StrEnum):
    ndjson = "ndjson"
    json = "json"
    csv = "csv"


class InputFormat(StrEnum):
    csv = "csv"
    json = "json"
    ndjson = "ndjson"


@app.command("import")
@guarded
def import_contacts(
    file: Annotated[str | None, typer.Argument(help="CSV, JSON array or NDJSON file; `-` for stdin.")] = None,
    input_format: Annotated[
        InputFormat | None, typer.Option("--input-format", help="csv, json or ndjson (default: by extension).")
    ] = None,
    fmt: Annotated[
        opt.SummaryFormat, typer.Option("--format", "-f", help="Report: text (stderr) or json (stdout).")
    ] = opt.SummaryFormat.text,
    mapping_file: Annotated[
        str | None, typer.Option("--mapping", help="A mapping file (YAML): where each column goes.")
    ] = None,
    maps: Annotated[
        list[str] | None,
        typer.Option("--map", help="SOURCE=TARGET: a column to a field or property, `-` to ignore it; repeatable."),
    ] = None,
    preset: Annotated[
        str | None, typer.Option("--preset", help="A shipped mapping: hubspot, mailchimp, intercom; `list` shows them.")
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option("--delimiter", help="CSV delimiter: , ; | or tab (default: detected).")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="utf-8 (default, BOM or not), cp1252, latin-1 or iso-8859-15.")
    ] = None,
    date_format: Annotated[
        str | None, typer.Option("--date-format", help="strftime format of dates (or unix, unix_ms); ISO always read.")
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="Zone of times without an offset, e.g. Europe/Berlin (default UTC)."),
    ] = None,
    keep_ids: Annotated[
        bool, typer.Option("--keep-ids", help="Give new contacts the file's ids (refused if any id is taken).")
    ] = False,
    dry_run: opt.DryRun = False,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the good rows, report the bad.")] = False,
    allow_suppressed: Annotated[
        bool, typer.Option("--allow-suppressed", help="Import addresses erased with `delete --suppress` (and lift it).")
    ] = False,
    json_summary: Annotated[bool, typer.Option("--json", hidden=True, help="Deprecated: use -f json.")] = False,
    quiet: opt.Quiet = False,
) -> None:
    """Upsert contacts by email (case-insensitive). All or nothing unless --skip-invalid.

    Columns are matched to fields ignoring case, spaces and punctuation; --map, --mapping
    or --preset say where the others go.

    Examples:
      crmctl contact import people.csv
      crmctl contact import hubspot.csv --preset hubspot --dry-run
      crmctl contact import export.csv --map 'E-mail=email' --map 'Fax=-' --date-format '%d/%m/%Y'
      crmctl contact export -f ndjson | crmctl --db copy.db contact import - --input-format ndjson --keep-ids
    """
    import sys

    from crmctl.actions import current_user
    from crmctl.errors import InvalidInput
    from crmctl.importer import import_contacts as run_import
    from crmctl.store import transaction

    if preset == "list":
        _list_presets(fmt)
        return
    if file is None:
        raise InvalidInput("missing FILE: give a file to import, or `-` for stdin")
    mapping = _mapping(mapping_file, preset, maps or [])
    formats: tuple[str, ...] = ()
    if date_format is not None:
        from crmctl.importer.dates import check_format

        formats = (check_format(date_format),)
    db = open_database()
    stream = sys.stdin.buffer if file == "-" else _open_input(file)
    with _progress("importing") as progress, transaction(db, dry_run=dry_run):
        report = run_import(
            db,
            stream,
            fmt=input_format.value if input_format else None,
            filename=file,
            skip_invalid=skip_invalid,
            actor=current_user(),
            progress=progress,
            allow_suppressed=allow_suppressed,
            mapping=mapping,
            encoding=encoding,
            delimiter=delimiter,
            date_formats=formats,
            timezone=timezone,
            keep_ids=keep_ids,
        )
    summary = {**report.to_dict(), "dry_run": dry_run}
    if json_summary or fmt is opt.SummaryFormat.json:
        sys.stdout.write(to_json(summary) + "\n")
    if not quiet:
        _report(report, dry_run)


def _mapping(mapping_file: str | None, preset: str | None, maps: list[str]):
    from crmctl.errors import InvalidInput
    from crmctl.importer import mapfile
    from crmctl.importer.mapping import Mapping

    if mapping_file and preset:
        raise InvalidInput("give --mapping or --preset, not both (copy the preset to a file and edit it)")
    mapping = mapfile.load_file(mapping_file) if mapping_file else mapfile.load_preset(preset) if preset else Mapping()
    mapping.overlay(maps)
    return mapping


def _report(report, dry_run: bool) -> None:
    readmitted = (
        f"; {report.readmitted} suppressed address{'es' if report.readmitted != 1 else ''} readmitted"
        if report.readmitted
        else ""
    )
    verb = "dry run, nothing was written; would import" if dry_run else "imported"
    note_on_stderr(
        f"{verb}: {report.inserted} inserted, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.rejected} rejected{readmitted}"
    )
    for problem in report.problems:
        note_on_stderr(f"  {problem}")
    if report.dialect is not None:
        note_on_stderr(
            f"input: {report.dialect.describe()}" + (f"; mapping: {report.mapping}" if report.mapping else "")
        )
    elif report.mapping:
        note_on_stderr(f"mapping: {report.mapping}")
    if report.tags_created:
        note_on_stderr(f"tags created: {', '.join(report.tags_created)}")
    if report.columns:
        note_on_stderr("columns:")
        for column in report.columns:
            note_on_stderr(f"  {column['column']!r} → {column['to']}")
    if report.missing_columns:
        note_on_stderr(f"mapped but not in the file: {', '.join(repr(c) for c in report.missing_columns)}")


def _list_presets(fmt: opt.SummaryFormat) -> None:
    import sys

    from crmctl.importer import mapfile

    presets = mapfile.describe_presets()
    if fmt is opt.SummaryFormat.json:
        sys.stdout.write(to_json(presets) + "\n")
        return
    for preset in presets:
        sys.stdout.write(f"{preset['name']}: {preset['description']}\n")
        for column in preset["columns"]:
            sys.stdout.write(f"  {column['column']} → {column['to']}\n")


@app.command("export")
@guarded
def export_contacts(
    contact: opt.Contact = None,
    where: opt.Where = None,
    everyone: opt.Everyone = False,
    ignore_missing: opt.IgnoreMissing = False,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="ndjson, json or csv.")] = ExportFormat.ndjson,
    raw: Annotated[
        bool, typer.Option("--raw", help="CSV: write text as it is, without the spreadsheet formula guard.")
    ] = False,
) -> None:
    """Export contacts with everything they hold (all of them when no selection is given).

    ndjson and json write a catalog record first, then one full record per contact:
    built-in fields with blocked_at, properties, tags, notes, conversations with their
    messages. `contact import` of that file into an empty database reproduces every
    contact. csv holds contacts, properties and tags, and also imports back exactly.

    Examples:
      crmctl contact export -f ndjson > crm.ndjson
      crmctl contact export -w 'tags contains "vip"' -f csv > vip.csv
      crmctl --db new.db contact import crm.ndjson --keep-ids
    """
    import sys

    from crmctl import export, selection

    chosen = fmt
    db = open_database()
    scope = None
    spec = selection_spec(contact, where, everyone, ignore_missing)
    if not spec.is_empty and not everyone:
        scope = selection.resolve(db, spec)
    if chosen is ExportFormat.csv:
        for chunk in export.csv_lines(db, scope, raw=raw):
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    emit_raw_json_lines(export.full_batches(db, scope), opt.ListFormat(chosen.value))


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
    raw: Annotated[
        bool, typer.Option("--raw", help="CSV: write text as it is, without the spreadsheet formula guard.")
    ] = False,
) -> None:
    """List contacts (all of them when no selection is given), in id order."""
    from crmctl import selection
    from crmctl.store import reads

    db = open_database()
    scope = None
    spec = selection_spec(contact, where, everyone, ignore_missing)
    if not spec.is_empty and not everyone:
        scope = selection.resolve(db, spec)
    if fmt in (opt.ListFormat.ndjson, opt.ListFormat.json):
        emit_raw_json_lines(reads.record_batches(db, scope, limit), fmt)
        return
    if fmt is opt.ListFormat.csv:
        import sys

        from crmctl import export

        for chunk in export.csv_lines(db, scope, limit, raw=raw):
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    records = (json.loads(line) for line in reads.record_lines(db, scope, limit))
    emit_records(records, fmt, ["id", "email", "name", "tags", "blocked", "last_seen_at"], title="Contacts")


@app.command("show")
@guarded
def show(
    contact: Annotated[str, typer.Argument(help="Contact id or email.")],
    fmt: Annotated[opt.SummaryFormat, typer.Option("--format", help="text or json.")] = opt.SummaryFormat.text,
) -> None:
    """Show one contact: fields, data points, tags, notes, conversations, blocked state."""
    from crmctl.errors import NotFound
    from crmctl.store import reads

    db = open_database()
    contact_id = reads.find_contact_id(db, contact)
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
