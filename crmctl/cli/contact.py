"""`crmctl contact …`: add, import, export, list, show, count."""

import json
from enum import StrEnum
from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.actions import selection_spec
from crmctl.cli.guard import guarded
from crmctl.cli.render import emit_raw_json_lines, emit_records, note_on_stderr, stdout_console, to_json
from crmctl.cli.state import is_terminal, open_database

app = typer.Typer(
    help="""Contacts: add, import, export, list, show, count.

    \b
    Examples:
      crmctl contact list -w 'plan == "trial"'
      crmctl contact show 42
      crmctl contact export -f ndjson > crm.ndjson
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


class ExportFormat(StrEnum):
    ndjson = "ndjson"
    json = "json"
    csv = "csv"


Raw = Annotated[bool, typer.Option("--raw", help="CSV: write text as it is, without the spreadsheet formula guard.")]


def _report_format(value: str) -> str:
    if value in ("csv", "ndjson", "jsonl"):
        raise typer.BadParameter(f"{value!r} is an input format: write --input-format {value} (-f is the report)")
    if value not in ("text", "json"):
        raise typer.BadParameter(f"{value!r} is not one of 'text', 'json'")
    return value


@app.command("add")
@guarded
def add(
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The new contact's email address.", show_default=False)],
    assignments: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[KEY=VALUE]...", help="Properties, or user_id and last_seen_at, with values.", show_default=False
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", metavar="NAME", help="The contact's name.")] = None,
    phone: Annotated[str | None, typer.Option("--phone", metavar="PHONE", help="The contact's phone number.")] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tag", metavar="TAG", help="A tag from the catalog; repeatable.", show_default=False),
    ] = None,
    fmt: Annotated[
        opt.SummaryFormat,
        typer.Option("--format", "-f", metavar="FORMAT", help="text prints the new id; json the whole record."),
    ] = opt.SummaryFormat.text,
) -> None:
    """Add one contact and print its id. An email already in use is refused: change that contact with `set`.

    \b
    Examples:
      crmctl contact add ada@example.com --name "Ada Lovelace" --tag vip score=90 plan=pro
      crmctl contact add bob@example.org -f json
    """
    from crmctl import actions, editing
    from crmctl.store import reads, transaction

    db = open_database()
    with transaction(db):
        contact_id = editing.add_contact(
            db,
            email,
            actions.Context.for_user(),
            name=name,
            phone=phone,
            tags=tags or [],
            assignments=assignments or [],
        )
    if fmt is opt.SummaryFormat.json:
        print(next(reads.record_lines(db, None, None, contact_id=contact_id)))
    else:
        print(contact_id)


@app.command("import")
@guarded
def import_contacts(
    file: Annotated[
        str | None, typer.Argument(metavar="FILE", help="CSV, JSON array or NDJSON file; `-` for stdin.")
    ] = None,
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
    create_properties: Annotated[
        bool,
        typer.Option(
            "--create-properties",
            help="Declare columns or keys that are not properties yet, typed from all their values in the file.",
        ),
    ] = False,
    mapping_file: Annotated[
        str | None,
        typer.Option("--mapping", metavar="FILE", help="A mapping file (YAML): where each column goes, date formats."),
    ] = None,
    maps: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="SOURCE=TARGET",
            help="A column to a built-in field or a declared property, or `-` to ignore it; repeatable.",
            show_default=False,
        ),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset", metavar="NAME", help="A shipped mapping: hubspot, mailchimp, intercom; `list` shows them."
        ),
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option("--delimiter", metavar="CHAR", help="CSV delimiter: , ; | or tab (default: from the header)."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option("--encoding", metavar="NAME", help="utf-8 (default, BOM or not), cp1252, latin-1 or iso-8859-15."),
    ] = None,
    date_format: Annotated[
        str | None,
        typer.Option(
            "--date-format",
            metavar="FORMAT",
            help="strftime format of dates (or unix, unix_ms); ISO-8601 is always read.",
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone", metavar="ZONE", help="Zone of times without an offset, e.g. Europe/Berlin (default: UTC)."
        ),
    ] = None,
    keep_ids: Annotated[
        bool,
        typer.Option(
            "--keep-ids", help="Give new contacts the file's ids (each must be past every id this database gave out)."
        ),
    ] = False,
    dry_run: opt.DryRun = False,
    quiet: opt.Quiet = False,
) -> None:
    """Upsert contacts by email (case-insensitive). All or nothing unless --skip-invalid.

    Columns are matched to built-in fields ignoring case, spaces and punctuation (`E-mail`,
    `Email Address`); --map, --mapping or --preset say where the others go. Every other
    column (or JSON key) must be a declared property, and every value must fit its
    property's type; --create-properties declares the others.

    \b
    Examples:
      crmctl contact import sample_data/contacts.csv --create-properties
      crmctl contact import - --input-format ndjson --skip-invalid -f json < contacts.ndjson
      crmctl contact import hubspot.csv --preset hubspot --dry-run
      crmctl contact import export.csv --map 'E-mail=email' --map 'Fax=-' --date-format '%d/%m/%Y'
      crmctl contact import --preset list
    """
    import sys

    from crmctl.actions import current_user
    from crmctl.errors import InvalidInput
    from crmctl.importer import import_contacts as run_import
    from crmctl.store import transaction

    if json_summary:
        note_on_stderr("note: --json is deprecated and will be removed in the next release: use -f json")
    if preset == "list":
        _list_presets(fmt)
        return
    if file is None:
        raise InvalidInput("missing FILE: give a file to import, or `-` for stdin")
    if input_format is not None and input_format not in ("csv", "json", "ndjson", "jsonl"):
        raise InvalidInput(f"--input-format must be csv, json or ndjson, not {input_format!r}")
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
            fmt=input_format,
            filename=file,
            skip_invalid=skip_invalid,
            actor=current_user(),
            progress=progress,
            allow_suppressed=allow_suppressed,
            create_properties=create_properties,
            mapping=mapping,
            encoding=encoding,
            delimiter=delimiter,
            date_formats=formats,
            timezone=timezone,
            keep_ids=keep_ids,
        )
    if json_summary or fmt == "json":
        sys.stdout.write(to_json({**report.to_dict(), "dry_run": dry_run}) + "\n")
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
    """The human report on stderr; every text from the file goes through visible()."""
    from crmctl.text import visible

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
    if report.properties_created:
        created = ", ".join(f"{visible(p['name'])} ({p['type']})" for p in report.properties_created)
        note_on_stderr(f"{'would create' if dry_run else 'created'} properties: {created}")
    for problem in report.problems:
        note_on_stderr(f"  {visible(problem)}")
    if report.dialect is not None:
        note_on_stderr(
            f"input: {report.dialect.describe()}" + (f"; mapping: {visible(report.mapping)}" if report.mapping else "")
        )
    elif report.mapping:
        note_on_stderr(f"mapping: {visible(report.mapping)}")
    if report.tags_created:
        note_on_stderr(f"tags created: {visible(', '.join(report.tags_created))}")
    if report.columns:
        note_on_stderr("columns:")
        for column in report.columns:
            note_on_stderr(f"  {visible(repr(column['column']))} → {visible(column['to'])}")
    if report.missing_columns:
        missing = ", ".join(repr(c) for c in report.missing_columns)
        note_on_stderr(f"mapped but not in the file: {visible(missing)}")


def _list_presets(fmt: str) -> None:
    import sys

    from crmctl.importer import mapfile

    presets = mapfile.describe_presets()
    if fmt == "json":
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
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", metavar="FORMAT", help="ndjson, json or csv.")
    ] = ExportFormat.ndjson,
    raw: Raw = False,
) -> None:
    """Export contacts with everything they hold (all of them when no selection is given).

    ndjson and json write a catalog record first (every tag and every property with its
    type and description), then one full record per contact: built-in fields with
    blocked_at, properties, tags, notes, conversations with their messages. `contact import`
    of that file into an empty database reproduces every contact. csv holds contacts,
    properties and tags, and also imports back exactly.

    \b
    Examples:
      crmctl contact export -f ndjson > crm.ndjson
      crmctl contact export -w 'tags contains "vip"' -f csv > vip.csv
      crmctl --db new.db contact import crm.ndjson --keep-ids
    """
    import sys

    from crmctl import export, selection

    db = open_database(resolving=True)
    scope = None
    spec = selection_spec(contact, where, everyone, ignore_missing)
    if spec.contacts or spec.where:
        scope = selection.resolve(db, spec).scope
    if fmt is ExportFormat.csv:
        for chunk in export.csv_lines(db, scope, raw=raw):
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    emit_raw_json_lines(export.full_batches(db, scope), opt.ListFormat(fmt.value))


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
    raw: Raw = False,
) -> None:
    """List contacts (all of them when no selection is given), in id order.

    JSON and NDJSON records have id, email, name, phone, user_id, created_at, last_seen_at,
    blocked, tags and properties; CSV adds blocked_at and puts each property in its own
    column, and imports back exactly (see `crmctl help import`).

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
    if fmt is opt.ListFormat.csv:
        import sys

        from crmctl import export

        for chunk in export.csv_lines(db, scope, limit, raw=raw):
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    records = (json.loads(line) for line in reads.record_lines(db, scope, limit))
    columns = ["id", "email", "name", "tags", "blocked", "last_seen_at"]
    emit_records(records, fmt, columns, title="Contacts", pager=not no_pager)


@app.command("show")
@guarded
def show(
    contact: Annotated[str, typer.Argument(metavar="ID_OR_EMAIL", help="Contact id or email.")],
    fmt: opt.Summary = opt.SummaryFormat.text,
) -> None:
    """Show one contact: fields, properties, tags, notes, conversations, blocked state.

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
        if isinstance(value, bool):
            value = "true" if value else "false"
        return Text(visible("" if value is None else str(value)))

    console = stdout_console()
    table = Table(show_header=False, box=None, title=f"Contact {record['id']}")
    table.add_column(style="bold")
    table.add_column()
    for key in ["email", "name", "phone", "user_id", "created_at", "last_seen_at"]:
        table.add_row(key, text(record[key]))
    table.add_row("blocked", f"yes, since {record['blocked_at']}" if record["blocked"] else "no")
    table.add_row("tags", text(", ".join(record["tags"]) or "-"))
    for key, value in record["properties"].items():
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
