"""`crmctl flow …`: validate, run, runs, show, status."""

import json
import os
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

    With a database, fields, placeholders and tags are checked against it; without one the
    output says "checked without a database". Exit 2 when a file has problems. With -f json,
    one object per file on stdout: file, ok, problems.

    \b
    Examples:
      crmctl flow validate sample_data/flows/*.yaml
    """
    from crmctl.flows.loader import validate_file

    db = _database_if_present()
    suffix = "" if db is not None else " (checked without a database)"
    failed = 0
    for path in files:
        problems = validate_file(path, db)
        _print_json(fmt is opt.SummaryFormat.json, {"file": path, "ok": not problems, "problems": problems})
        for problem in problems:
            note_on_stderr(problem)
        if problems:
            failed += 1
        elif not quiet:
            note_on_stderr(f"{path}: ok{suffix}")
    if failed:
        if db is None and not quiet:
            note_on_stderr(f"checked without a database (none at {database_path()}): fields and tags were not checked")
        raise typer.Exit(EXIT_USAGE)


def _database_if_present():
    """Validation checks field names and tags against the database when there is one."""
    from crmctl.errors import NoDatabase

    if not database_path().exists():
        return None
    try:
        return open_database()
    except NoDatabase:  # PostgreSQL: the URL names a schema that crmctl init has not made
        return None


@app.command("run")
@guarded
def run(
    files: Files,
    dry_run: opt.DryRun = False,
    yes: opt.Yes = False,
    fmt: opt.SummaryShort = opt.SummaryFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success (for cron).")] = False,
    lock_timeout: opt.LockTimeoutSeconds = 60.0,
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
      crmctl flow run --quiet --yes --lock-timeout 300 /srv/crm/flows/*.yaml
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
    _warn_if_moved(db, flow)
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
    refused = report.status == "refused"
    if (not quiet or refused) and not as_json:
        _render_report(report)
    if refused:  # a dry run that a real run would refuse: its whole plan, then why
        note_on_stderr(f"Error: {flow.name}: a real run would be refused: {report.error}")
        return EXIT_FAILED
    return EXIT_OK


def _warn_if_moved(db, flow) -> None:
    """A flow name run from another file than last time shares that file's history: say so."""
    from crmctl.flows.engine import source_of
    from crmctl.store import flows as flow_sql

    before, now = flow_sql.last_source(db, flow.name), source_of(flow)
    if before and before != now and os.path.isabs(before):
        note_on_stderr(
            f"Warning: flow '{flow.name}' last ran from {before}, now from {now}; both share one history "
            "(give a copied file its own name:)"
        )


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
    emitted = sum(report.emitted.values())
    note_on_stderr(
        f"{head} {report.flow}{run}: {report.matched} matched, {report.resumed} resumed, "
        f"{report.parked} parked, {report.exited} exited, {report.completed} completed"
        + (f", {report.deleted} deleted" if report.deleted else "")
        + (f", {emitted} emitted" if report.emitted else "")
    )
    rows = [[step.name, _action_cell(step), str(step.contacts), str(step.changed)] for step in report.steps]
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


def _action_cell(step) -> str:
    """The action, with where a branching step sent its contacts."""
    ways: dict = {}
    if step.action == "if":
        ways = {"then": step.extra.get("then", 0), "else": step.extra.get("else", 0)}
    elif step.action == "switch":
        ways = {**step.extra.get("cases", {}), "default": step.extra.get("default", 0)}
    elif step.action == "split":
        ways = step.extra.get("branches", {})
    if not ways:
        return step.action
    return f"{step.action} (" + ", ".join(f"{label} {count}" for label, count in ways.items()) + ")"


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
    every: Annotated[bool, typer.Option("--all", help="Also the runs that changed nothing.")] = False,
    limit: opt.Limit = 20,
    fmt: opt.Listing = opt.ListFormat.table,
    no_pager: opt.NoPager = False,
) -> None:
    """List run history, newest first: runs that changed something, failed or were refused.

    \b
    Examples:
      crmctl flow runs --flow trial-nurture --limit 5
      crmctl flow runs --all -f ndjson
    """
    from crmctl.store import flows as flow_sql

    db = open_database()
    if flow is not None and not flow_sql.known(db, flow):
        from crmctl.errors import NotFound, quote

        raise NotFound(f"no flow named {quote(flow)} has run in this database")
    records = flow_sql.runs(db, flow, limit, include_noop=every)
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


LIST_COLUMNS = [
    "flow",
    "source",
    "last_run_at",
    "last_status",
    "runs",
    "in_progress",
    "parked",
    "completed",
    "exited",
]


@app.command("list")
@guarded
def list_flows(fmt: opt.Listing = opt.ListFormat.table, no_pager: opt.NoPager = False) -> None:
    """Every flow this database knows: the file it last ran from, its last run, how many runs,
    and its contacts in progress, parked (waiting, not yet due), completed and exited.

    \b
    Examples:
      crmctl flow list
      crmctl flow list -f json
    """
    from crmctl import clock
    from crmctl.store import flows as flow_sql

    db = open_database()
    emit_records(flow_sql.listing(db, clock.now_text()), fmt, LIST_COLUMNS, title="Flows", pager=not no_pager)


# show and status -----------------------------------------------------------------------------

FlowArgument = Annotated[
    str,
    typer.Argument(
        metavar="NAME_OR_FILE", help="Flow name (from the database) or flow file.", autocompletion=complete_flow_file
    ),
]


def _resolve(db, name_or_file: str):
    """The flow a NAME or FILE argument means: a file is loaded; a name comes from the definition
    the database stored when the flow last ran, so no file is needed."""
    from pathlib import Path

    from crmctl.errors import FlowInvalid, NotFound, quote
    from crmctl.flows.loader import load_flow, parse_flow
    from crmctl.store import flows as flow_sql

    if Path(name_or_file).is_file():
        return load_flow(name_or_file, db)
    stored = flow_sql.stored_definition(db, name_or_file) if db is not None else None
    if stored is None:
        raise NotFound(
            f"no flow named {quote(name_or_file)} has run in this database (give its file to see an empty status)"
        )
    text, source = stored
    try:
        return parse_flow(text, source or f"<stored definition of {name_or_file}>")
    except FlowInvalid:
        raise NotFound(
            f"the definition of flow {quote(name_or_file)} stored by its last run no longer passes this version's "
            "checks: give its file"
        ) from None


@app.command("show")
@guarded
def show(flow: FlowArgument, fmt: opt.SummaryShort = opt.SummaryFormat.text) -> None:
    """Draw the flow as a tree, with each step's counts from the last run and contacts parked at waits.

    Steps are named by their id, else by their path. Works from the stored definition when
    given a name, so the file is not needed.

    \b
    Examples:
      crmctl flow show trial-nurture
      crmctl flow show sample_data/flows/trial-nurture.yaml -f json
    """
    from crmctl.store import flows as flow_sql

    db = _database_if_present()
    loaded = _resolve(db, flow)
    last = {s["path"]: s for s in flow_sql.last_run_steps(db, loaded.name)} if db else {}
    parked = {pos: n for pos, n, _, _ in flow_sql.positions(db, loaded.name)} if db else {}
    branches = _branch_counts(db, loaded.name) if db else {}
    if fmt is opt.SummaryFormat.json:
        print(to_json(_show_payload(loaded, last, parked, branches)))
        return
    from rich.tree import Tree

    tree = Tree(f"[bold]{_escape(loaded.name)}[/bold]  match: {_escape(loaded.match)}")
    if loaded.exit_when:
        exits = tree.add(f"exit when: {_escape(loaded.exit_when)}")
        if loaded.on_exit:
            _add_steps(exits.add("on_exit"), loaded.on_exit, last, parked, branches)
    _add_steps(tree, loaded.steps, last, parked, branches)
    stdout_console().print(tree)


def _branch_counts(db, name: str) -> dict[str, dict[str, int]]:
    from crmctl.store import flows as flow_sql

    counts: dict[str, dict[str, int]] = {}
    for step, branch, n in flow_sql.branch_counts(db, name):
        counts.setdefault(step, {})[branch] = n
    return counts


def _show_payload(flow, last: dict, parked: dict, branches: dict) -> dict:
    def describe(step) -> dict:
        counts = last.get(step.path, {})
        out = {
            "step": step.key,
            "path": step.path,
            "id": step.id,
            "action": step.kind,
            "describe": step.describe(),
            "contacts": counts.get("contacts"),
            "changed": counts.get("changed"),
        }
        if step.kind == "wait":
            out["parked"] = parked.get(step.key, 0)
        if step.kind == "split":
            out["branches"] = {b.label: branches.get(step.key, {}).get(b.label, 0) for b in step.branches}
        return out

    return {
        "flow": flow.name,
        "description": flow.description,
        "match": flow.match,
        "exit_when": flow.exit_when,
        "steps": [describe(step) for step in flow.all_steps()],
    }


def _add_steps(node, steps, last: dict, parked: dict, branches: dict) -> None:
    for step in steps:
        counts = last.get(step.path)
        suffix = f"  [dim]({counts['contacts']} reached, {counts['changed']} changed)[/dim]" if counts else ""
        name = f"  [dim]{_escape('[' + step.key + ']')}[/dim]"
        if step.kind == "wait":
            node.add(f"[yellow]⏸ wait {_duration(step.seconds)}[/yellow]{name}  {parked.get(step.key, 0)} parked")
        elif step.kind == "if":
            branch = node.add(f"if {_escape(step.condition)}{name}{suffix}")
            _add_steps(branch.add("then"), step.then, last, parked, branches)
            if step.otherwise:
                _add_steps(branch.add("else"), step.otherwise, last, parked, branches)
        elif step.kind == "switch":
            branch = node.add(f"switch {_escape(step.switch_field)}{name}{suffix}")
            for case in step.branches:
                _add_steps(branch.add(f"case {_escape(case.label)}"), case.steps, last, parked, branches)
            if step.otherwise:
                _add_steps(branch.add("default"), step.otherwise, last, parked, branches)
        elif step.kind == "split":
            branch = node.add(f"split{name}{suffix}")
            taken = branches.get(step.key, {})
            for way in step.branches:
                label = f"{_escape(way.label)} {way.percent}%  [dim]({taken.get(way.label, 0)} contacts)[/dim]"
                _add_steps(branch.add(label), way.steps, last, parked, branches)
        else:
            node.add(f"{step.kind} {_escape(_argument(step))}".rstrip() + f"{name}{suffix}")


def _argument(step) -> str:
    if step.kind in ("tag_add", "tag_remove"):
        return ", ".join(step.tags)
    if step.kind == "note":
        return repr(step.template)
    if step.kind == "set":
        return json.dumps(step.values)
    if step.kind == "emit":
        return step.outbox + (f" ({', '.join(step.fields)})" if step.fields else "")
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
def status(flow: FlowArgument, fmt: opt.SummaryShort = opt.SummaryFormat.text) -> None:
    """How many contacts are in progress, parked at each wait, completed, or left through
    exit_when, and how many took each branch of each split.

    \b
    Examples:
      crmctl flow status trial-nurture
      crmctl flow status trial-nurture -f json
    """
    from crmctl.errors import NotFound
    from crmctl.store import flows as flow_sql

    db = open_database()
    try:
        loaded = _resolve(db, flow)
    except NotFound:
        if not flow_sql.known(db, flow):
            raise
        loaded = None  # enrolments without a stored definition (pruned): names come from the rows
    name = loaded.name if loaded else flow
    waits = {w.key: w for w in loaded.wait_steps()} if loaded else {}
    counts = flow_sql.state_counts(db, name)
    waiting = [
        {
            "step": pos,
            "path": waits[pos].path if pos in waits else None,
            "id": waits[pos].id if pos in waits else None,
            "contacts": n,
            "next_due": first,
            "last_due": last,
        }
        for pos, n, first, last in flow_sql.positions(db, name)
    ]
    splits = {s.key: s for s in loaded.all_steps() if s.kind == "split"} if loaded else {}
    taken = _branch_counts(db, name)
    branches = [
        {
            "step": key,
            "path": splits[key].path if key in splits else None,
            "id": splits[key].id if key in splits else key,
            "branch": label,
            "contacts": taken.get(key, {}).get(label, 0),
        }
        for key in sorted(set(splits) | set(taken))
        for label in _branch_labels(splits.get(key), taken.get(key, {}))
    ]
    payload = {
        "flow": name,
        "in_progress": counts["active"],
        "completed": counts["completed"],
        "exited": counts["exited"],
        "waiting": waiting,
        "branches": branches,
    }
    if fmt is opt.SummaryFormat.json:
        print(to_json(payload))
        return
    from crmctl.text import visible

    print(
        f"flow {visible(name)}: {payload['in_progress']} in progress, {payload['completed']} completed, "
        f"{payload['exited']} exited"
    )
    for w in waiting:
        print(f"  parked at {visible(str(w['step']))}: {w['contacts']} (due {w['next_due']} .. {w['last_due']})")
    for b in branches:
        print(f"  split {visible(str(b['step']))}, branch {visible(str(b['branch']))}: {b['contacts']}")


def _branch_labels(split, taken: dict[str, int]) -> list[str]:
    """A split's branches in file order, then any recorded branch it no longer has."""
    labels = [b.label for b in split.branches] if split is not None else []
    return labels + sorted(label for label in taken if label not in labels)
