"""`crmctl flow …`: validate, run, runs, show, status."""

import json
import sys
from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.completion import complete_flow_file
from crmctl.cli.guard import EXIT_FAILED, EXIT_OK, EXIT_TEMPFAIL, EXIT_USAGE, guarded
from crmctl.cli.render import emit_records, note_on_stderr, stderr_console, stdout_console, to_json, working
from crmctl.cli.state import database_path, is_terminal, open_database

app = typer.Typer(
    help="""Flows: YAML batch definitions run against matching contacts.

    \b
    Examples:
      crmctl flow validate flows/*.yaml
      crmctl flow run flows/*.yaml --yes --quiet
    """,
    no_args_is_help=True,
)

Files = Annotated[
    list[str],
    typer.Argument(metavar="FILE...", help="Flow files (YAML).", show_default=False, autocompletion=complete_flow_file),
]


@app.command("validate")
@guarded
def validate(files: Files, fmt: opt.Summary = opt.SummaryFormat.text, quiet: opt.Quiet = False) -> None:
    """Check flow files: YAML, schema, then meaning. One `FILE:LINE:COL: message` per problem.

    Exit 2 when a file has problems. With -f json, one object per file on stdout: file, ok, problems.

    \b
    Examples:
      crmctl flow validate sample_data/flows/*.yaml
    """
    from crmctl.flows.loader import validate_file

    db = _database_if_present()
    failed = 0
    for path in files:
        problems = validate_file(path, db)
        _print_json(fmt is opt.SummaryFormat.json, {"file": path, "ok": not problems, "problems": problems})
        for problem in problems:
            note_on_stderr(problem)
        if problems:
            failed += 1
        elif not quiet:
            note_on_stderr(f"{path}: ok")
    if failed:
        raise typer.Exit(EXIT_USAGE)


def _database_if_present():
    """Validation checks field names against the database when there is one."""
    if not database_path().exists():
        return None
    return open_database()


@app.command("run")
@guarded
def run(
    files: Files,
    dry_run: opt.DryRun = False,
    yes: opt.Yes = False,
    fmt: opt.Summary = opt.SummaryFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success (for cron).")] = False,
    lock_timeout: Annotated[
        float,
        typer.Option(
            "--lock-timeout", metavar="SECONDS", min=0, help="Seconds to wait for another run to finish (then exit 75)."
        ),
    ] = 60.0,
    on_missing_wait: Annotated[
        str | None,
        typer.Option(
            "--on-missing-wait",
            metavar="ACTION",
            help="`end`: end the enrolment of contacts parked at a wait the flow no longer has.",
        ),
    ] = None,
) -> None:
    """Run flow files in order, each in its own transaction.

    Exit 2 if a file was invalid, else 75 if the database stayed busy past --lock-timeout
    (retry later), else 1 if a run was refused or failed.

    \b
    Examples:
      crmctl flow run sample_data/flows/vip-tagging.yaml --dry-run
      crmctl flow run /srv/crm/flows/*.yaml --yes --quiet --lock-timeout 300
    """
    from crmctl.errors import InvalidInput

    if on_missing_wait not in (None, "end"):
        raise InvalidInput(f"--on-missing-wait must be 'end', not {on_missing_wait!r}")
    db = open_database(lock_timeout=lock_timeout)
    worst = EXIT_OK
    for path in files:
        code = _run_one(
            db,
            path,
            dry_run=dry_run,
            yes=yes,
            as_json=fmt is opt.SummaryFormat.json,
            quiet=quiet,
            on_missing_wait=on_missing_wait,
        )
        worst = _worse(worst, code)
    if worst:
        raise typer.Exit(worst)


def _worse(a: int, b: int) -> int:
    """The exit code for several files: an invalid file (2) before a busy database (75, worth
    a retry) before a refusal (1)."""
    rank = {EXIT_OK: 0, EXIT_FAILED: 1, EXIT_TEMPFAIL: 2, EXIT_USAGE: 3}
    return max(a, b, key=lambda code: rank.get(code, 1))


def _run_one(db, path: str, *, dry_run: bool, yes: bool, as_json: bool, quiet: bool, on_missing_wait) -> int:
    from crmctl.errors import CrmError, FlowInvalid
    from crmctl.flows.engine import RunOptions, run_flow
    from crmctl.flows.loader import load_flow

    try:
        flow = load_flow(path, db)
    except FlowInvalid as exc:
        for problem in exc.problems:
            note_on_stderr(problem)
        _print_json(
            as_json,
            {
                "flow": None,
                "source": path,
                "status": "invalid",
                "dry_run": dry_run,
                "error": f"{len(exc.problems)} problem(s)",
            },
        )
        return EXIT_USAGE
    options = RunOptions(
        dry_run=dry_run, confirm_deletes=None if yes else _confirm_deletes, on_missing_wait=on_missing_wait
    )
    may_prompt = not (yes or dry_run) and is_terminal()
    try:
        with working(f"running {flow.name}…", enabled=not (quiet or may_prompt)):
            report = run_flow(db, flow, options)
    except CrmError as exc:
        status = {EXIT_USAGE: "invalid", EXIT_TEMPFAIL: "busy"}.get(exc.exit_code, "refused")
        note_on_stderr(f"Error: {flow.name}: {exc}")
        _print_json(
            as_json, {"flow": flow.name, "source": path, "status": status, "dry_run": dry_run, "error": str(exc)}
        )
        return exc.exit_code
    if report.deleted and not dry_run:
        from crmctl.actions import erase_leftovers
        from crmctl.cli.actions import ERASE_DEFERRED

        if not erase_leftovers(db):
            note_on_stderr(ERASE_DEFERRED)
    _print_json(as_json, report.to_dict())
    if not quiet and not as_json:
        _render_report(report)
    return EXIT_OK


def _print_json(as_json: bool, payload: dict) -> None:
    if as_json:
        sys.stdout.write(to_json(payload) + "\n")
        sys.stdout.flush()


def _confirm_deletes(count: int) -> bool:
    from crmctl.errors import Refused

    noun = f"{count} contact{'s' if count != 1 else ''}"
    if not is_terminal():
        raise Refused(f"this run would delete {noun}: pass --yes (nothing was changed)")
    return typer.confirm(f"This run permanently deletes {noun}. Continue?", default=False, err=True)


def _render_report(report) -> None:
    from rich.table import Table
    from rich.text import Text

    from crmctl.text import visible

    head = "dry run of flow" if report.dry_run else "ran flow"
    run = "" if report.run_id is None else f" (run {report.run_id})"
    note_on_stderr(
        f"{head} {report.flow}{run}: {report.matched} matched, {report.resumed} resumed, "
        f"{report.parked} parked, {report.exited} exited, {report.completed} completed"
        + (f", {report.deleted} deleted" if report.deleted else "")
    )
    rows = [[step.path, step.action, str(step.contacts), str(step.changed)] for step in report.steps]
    if is_terminal(sys.stderr):
        console = stderr_console()
        table = Table("step", "action", "contacts", "changed")
        for row in rows:
            table.add_row(*(Text(visible(cell)) for cell in row))
        console.print(table)
    else:  # cron mail: plain text, no box drawing
        from crmctl.cli.table import write_table

        write_table(iter(rows), ["step", "action", "contacts", "changed"], sys.stderr)
    if report.dry_run:
        note_on_stderr("dry run: nothing was written")


RUN_COLUMNS = [
    "run_id",
    "flow",
    "started_at",
    "duration_ms",
    "matched",
    "resumed",
    "parked",
    "exited",
    "completed",
    "changed",
    "status",
    "dry_run",
]
TABLE_COLUMNS = ["run_id", "flow", "started_at", "duration_ms", "matched", "resumed", "changed", "status", "dry_run"]


@app.command("runs")
@guarded
def runs(
    flow: Annotated[str | None, typer.Option("--flow", metavar="NAME", help="Only this flow's runs.")] = None,
    limit: opt.Limit = 20,
    fmt: opt.Listing = opt.ListFormat.table,
    no_pager: opt.NoPager = False,
) -> None:
    """List run history, newest first.

    \b
    Examples:
      crmctl flow runs --flow vip-tagging --limit 5
      crmctl flow runs -f ndjson
    """
    from crmctl.store import flows as flow_sql

    db = open_database()
    if flow is not None and not flow_sql.known(db, flow):
        from crmctl.errors import NotFound, quote

        raise NotFound(f"no flow named {quote(flow)} has run in this database")
    records = flow_sql.runs(db, flow, limit)
    if fmt is opt.ListFormat.table:
        emit_records((_flat_run(r) for r in records), fmt, TABLE_COLUMNS, title="Flow runs", pager=not no_pager)
    elif fmt is opt.ListFormat.csv:
        emit_records((_flat_run(r) for r in records), fmt, RUN_COLUMNS + ["error"])
    else:
        emit_records(records, fmt, RUN_COLUMNS)


def _flat_run(record: dict) -> dict:
    changed = ", ".join(f"{k} {v}" for k, v in record["changed"].items() if v) or "-"
    record = {k: v for k, v in record.items() if k != "steps"}
    return {**record, "changed": changed, "dry_run": "dry run" if record["dry_run"] else "real"}


@app.command("show")
@guarded
def show(
    file: Annotated[str, typer.Argument(metavar="FILE", help="Flow file (YAML).", autocompletion=complete_flow_file)],
    fmt: opt.Summary = opt.SummaryFormat.text,
) -> None:
    """Draw the flow as a tree, with each step's counts from the last run and contacts parked at waits.

    \b
    Examples:
      crmctl flow show sample_data/flows/trial-nurture.yaml
    """
    from rich.tree import Tree

    from crmctl.flows.loader import load_flow
    from crmctl.store import flows as flow_sql

    db = _database_if_present()
    flow = load_flow(file, db)
    last = {s["path"]: s for s in flow_sql.last_run_steps(db, flow.name)} if db else {}
    parked = {pos: n for pos, n, _, _ in flow_sql.positions(db, flow.name)} if db else {}
    if fmt is opt.SummaryFormat.json:
        payload = {"flow": flow.name, "match": flow.match, "exit_when": flow.exit_when}
        print(to_json({**payload, "steps": _step_records(flow.steps, last, parked)}))
        return
    tree = Tree(f"[bold]{_escape(flow.name)}[/bold]  match: {_escape(flow.match)}")
    if flow.exit_when:
        tree.add(f"exit when: {_escape(flow.exit_when)}")
    _add_steps(tree, flow.steps, last, parked)
    stdout_console().print(tree)


def _step_records(steps, last: dict, parked: dict) -> list[dict]:
    """The tree as data: each step's path, kind, last run's counts, and contacts parked at a wait."""
    records = []
    for step in steps:
        counts = last.get(step.path) or {}
        record = {
            "path": step.path,
            "kind": step.kind,
            "reached": counts.get("contacts"),
            "changed": counts.get("changed"),
        }
        if step.kind == "wait":
            record["parked"] = parked.get(step.key, 0)
        if step.kind == "if":
            record["then"] = _step_records(step.then, last, parked)
            record["else"] = _step_records(step.otherwise or [], last, parked)
        records.append(record)
    return records


def _add_steps(node, steps, last: dict, parked: dict) -> None:
    for step in steps:
        counts = last.get(step.path)
        suffix = f"  [dim]({counts['contacts']} reached, {counts['changed']} changed)[/dim]" if counts else ""
        if step.kind == "wait":
            label = (
                f"[yellow]⏸ wait {_duration(step.seconds)}[/yellow] {_escape('[' + step.key + ']')}  "
                f"{parked.get(step.key, 0)} parked"
            )
            node.add(label)
        elif step.kind == "if":
            branch = node.add(f"if {_escape(step.condition)}{suffix}")
            _add_steps(branch.add("then"), step.then, last, parked)
            if step.otherwise:
                _add_steps(branch.add("else"), step.otherwise, last, parked)
        else:
            node.add(f"{step.kind} {_escape(_argument(step))}{suffix}")


def _argument(step) -> str:
    if step.kind in ("tag_add", "tag_remove"):
        return ", ".join(step.tags)
    if step.kind == "note":
        return repr(step.template)
    if step.kind == "set":
        return json.dumps(step.values)
    return ""


def _duration(seconds: int) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _escape(text: str) -> str:
    from rich.markup import escape

    from crmctl.text import visible

    return escape(visible(text))


@app.command("status")
@guarded
def status(
    flow: Annotated[
        str, typer.Argument(metavar="NAME_OR_FILE", help="Flow name or flow file.", autocompletion=complete_flow_file)
    ],
    fmt: opt.Summary = opt.SummaryFormat.text,
) -> None:
    """How many contacts are in progress, parked at each wait, completed, or left through exit_when.

    \b
    Examples:
      crmctl flow status trial-nurture -f json
      crmctl flow status sample_data/flows/trial-nurture.yaml
    """
    from pathlib import Path

    from crmctl.store import flows as flow_sql
    from crmctl.text import visible

    db = open_database()
    name, waits, from_file = flow, {}, Path(flow).is_file()
    if from_file:
        from crmctl.flows.loader import load_flow

        loaded = load_flow(flow, db)
        name = loaded.name
        waits = {w.key: w.path for w in loaded.wait_steps()}
    if not from_file and not flow_sql.known(db, name):
        from crmctl.errors import NotFound, quote

        raise NotFound(f"no flow named {quote(name)} has run in this database (give its file to see an empty status)")
    counts = flow_sql.state_counts(db, name)
    waiting = [
        {"path": waits.get(pos, pos), "contacts": n, "next_due": first, "last_due": last}
        for pos, n, first, last in flow_sql.positions(db, name)
    ]
    payload = {
        "flow": name,
        "in_progress": counts["active"],
        "completed": counts["completed"],
        "exited": counts["exited"],
        "waiting": waiting,
    }
    if fmt is opt.SummaryFormat.json:
        print(to_json(payload))
        return
    print(
        f"flow {visible(name)}: {payload['in_progress']} in progress, {payload['completed']} completed, "
        f"{payload['exited']} exited"
    )
    for w in waiting:
        print(f"  parked at {visible(str(w['path']))}: {w['contacts']} (due {w['next_due']} .. {w['last_due']})")
