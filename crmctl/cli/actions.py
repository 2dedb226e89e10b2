"""The contact action commands: parse the selection, call one action, render its summary."""

from collections.abc import Callable
from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.completion import complete_tag
from crmctl.cli.guard import guarded
from crmctl.cli.render import emit_summary, note_on_stderr, working
from crmctl.cli.state import is_terminal, open_database, stdin_lines, stdin_text


def selection_spec(contacts, where, everyone, ignore_missing, positional=None, others=()):
    """The selection the options describe. `others` are the command's other positional
    words (tag names), where an unquoted -w expression split by the shell would land."""
    from crmctl.cli.hints import split_filter
    from crmctl.errors import UsageError
    from crmctl.selection import SelectionSpec

    hint = split_filter(where, [*(positional or []), *others])
    if hint:
        raise UsageError(hint)
    return SelectionSpec(
        contacts=[*(positional or []), *(contacts or [])],
        where=list(where or []),
        everyone=everyone,
        ignore_missing=ignore_missing,
        stdin=stdin_lines(),
    )


def run_action(
    spec, act: Callable, *, label: str, dry_run: bool, fmt, quiet: bool, prompts: bool = False, deletes: bool = False
) -> None:
    """Resolve the selection and apply `act(db, scope, ctx)` in one transaction."""
    from crmctl import actions, selection
    from crmctl.store import transaction

    db = open_database(resolving=deletes)  # a delete may resolve a case collision
    ctx = actions.Context.for_user()
    with working(f"{label}…", enabled=not prompts), transaction(db, dry_run=dry_run, deletes_contacts=deletes):
        chosen = selection.resolve(db, spec)
        result = act(db, chosen.scope, ctx)
    if result.action == "delete" and result.changed and not dry_run and not actions.erase_leftovers(db):
        note_on_stderr(ERASE_DEFERRED)
    summary = {"action": result.action, "selected": result.selected, **chosen.to_dict()}
    summary.update({**result.to_dict(), "dry_run": dry_run})
    human = f"{label}: {chosen.describe()}, {result.changed} changed"
    if "suppressed" in result.detail:
        suppressed = result.detail["suppressed"]
        human += f", {suppressed} address{'es' if suppressed != 1 else ''} suppressed"
    if result.detail.get("created"):
        human += "; created tag" + ("s" if len(result.detail["created"]) > 1 else "") + " "
        human += ", ".join(result.detail["created"])
    if dry_run:
        human += " (dry run: nothing was written)"
    emit_summary(summary, as_json=fmt is opt.SummaryFormat.json, quiet=quiet, human=human)


ERASE_DEFERRED = (
    "note: the deletion is committed, but another process still reads an older snapshot of the "
    "database, so the deleted data is not yet overwritten in the file; the next crmctl command "
    "after that reader ends finishes erasing it (`crmctl db check` reports it while pending)"
)

Tags = Annotated[
    list[str], typer.Argument(metavar="TAG...", help="Tag names.", show_default=False, autocompletion=complete_tag)
]
Positional = Annotated[
    list[str] | None,
    typer.Argument(metavar="[ID_OR_EMAIL]...", help="Contact ids or emails.", show_default=False),
]


@guarded
def tag_add(
    tags: Tags,
    contact: opt.Contact = None,
    where: opt.Where = None,
    everyone: opt.Everyone = False,
    ignore_missing: opt.IgnoreMissing = False,
    create: Annotated[bool, typer.Option("--create", help="Create tags missing from the catalog.")] = False,
    dry_run: opt.DryRun = False,
    fmt: opt.Summary = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Assign tags to the selected contacts (the tags must exist, or pass --create).

    \b
    Examples:
      crmctl tag add vip -w 'score >= 80'
      crmctl tag add gold -c ada@example.com --create
      crmctl contact list -f ndjson | crmctl tag add churned -c - -w 'last_seen_at < now - 365d'
    """
    from crmctl import actions
    from crmctl.errors import UnknownTags

    def act(db, scope, ctx):
        try:
            return actions.tag_add(db, scope, tags, ctx, create=create)
        except UnknownTags as exc:  # this command can create them: say how
            raise UnknownTags(exc.names, hint="--create", suggestions=exc.suggestions) from None

    spec = selection_spec(contact, where, everyone, ignore_missing, others=tags)
    run_action(
        spec,
        act,
        label="tag add",
        dry_run=dry_run,
        fmt=fmt,
        quiet=quiet,
    )


@guarded
def tag_remove(
    tags: Tags,
    contact: opt.Contact = None,
    where: opt.Where = None,
    everyone: opt.Everyone = False,
    ignore_missing: opt.IgnoreMissing = False,
    dry_run: opt.DryRun = False,
    fmt: opt.Summary = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Remove tags from the selected contacts (only tags in the catalog).

    \b
    Examples:
      crmctl tag remove trial-active -w 'plan == "paid"'
      crmctl log show 812 -f ndjson | crmctl tag remove vip -c -
    """
    from crmctl import actions

    spec = selection_spec(contact, where, everyone, ignore_missing, others=tags)
    run_action(
        spec,
        lambda db, scope, ctx: actions.tag_remove(db, scope, tags, ctx),
        label="tag remove",
        dry_run=dry_run,
        fmt=fmt,
        quiet=quiet,
    )


@guarded
def note(
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The note body; `-` reads it from stdin.")],
    contact: opt.Contact = None,
    where: opt.Where = None,
    everyone: opt.Everyone = False,
    ignore_missing: opt.IgnoreMissing = False,
    author: Annotated[
        str | None, typer.Option("--author", metavar="NAME", help="Author name (default: the OS user).")
    ] = None,
    dry_run: opt.DryRun = False,
    fmt: opt.Summary = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Add an internal note to each selected contact.

    \b
    Examples:
      crmctl note "Called, left a voicemail" -c 42 --author sam
      echo "Long note from a file" | crmctl note - -c 42
    """
    from crmctl import actions
    from crmctl.errors import InvalidInput

    if text == "-":
        if contact and "-" in contact:
            raise InvalidInput("stdin cannot carry both the note body and contact identifiers")
        text = stdin_text()
    spec = selection_spec(contact, where, everyone, ignore_missing)
    run_action(
        spec,
        lambda db, scope, ctx: actions.note(db, scope, text, ctx, author=author),
        label="note",
        dry_run=dry_run,
        fmt=fmt,
        quiet=quiet,
    )


Assignments = Annotated[
    list[str],
    typer.Argument(
        metavar="KEY=VALUE...",
        help="A property, or name, phone, user_id, last_seen_at, and its value.",
        show_default=False,
    ),
]
Keys = Annotated[
    list[str], typer.Argument(metavar="KEY...", help="Property names, or name, phone, user_id.", show_default=False)
]


@guarded
def set_command(
    assignments: Assignments,
    contact: opt.Contact = None,
    where: opt.Where = None,
    everyone: opt.Everyone = False,
    ignore_missing: opt.IgnoreMissing = False,
    dry_run: opt.DryRun = False,
    fmt: opt.Summary = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Set properties (a data point on a contact) and editable built-in fields of the selected contacts.

    Each VALUE is read by its property's type: `score=90` is a number, `vip=yes` a boolean,
    `renewal=2027-01-01` a date, `zip=007` text when zip is a text property. A KEY with an
    empty VALUE is refused: `unset` removes values.

    \b
    Examples:
      crmctl set score=90 vip=true renewal=2027-01-01 -w 'plan == "paid"'
      crmctl set name="Ada Lovelace" phone="+44 20 7946 0000" -c ada@example.com
    """
    from crmctl import actions, editing

    spec = selection_spec(contact, where, everyone, ignore_missing)

    def act(db, scope, ctx):
        return actions.set_values(db, scope, editing.parse_assignments(db, assignments), ctx)

    run_action(spec, act, label="set", dry_run=dry_run, fmt=fmt, quiet=quiet)


@guarded
def unset_command(
    keys: Keys,
    contact: opt.Contact = None,
    where: opt.Where = None,
    everyone: opt.Everyone = False,
    ignore_missing: opt.IgnoreMissing = False,
    dry_run: opt.DryRun = False,
    fmt: opt.Summary = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Remove properties (or name, phone, user_id) from the selected contacts.

    \b
    Examples:
      crmctl unset nurture_stage -w 'tags contains "churned"'
      crmctl unset phone -c ada@example.com --dry-run
    """
    from crmctl import actions, editing

    spec = selection_spec(contact, where, everyone, ignore_missing)

    def act(db, scope, ctx):
        return actions.unset_values(db, scope, editing.unset_keys(db, keys), ctx)

    run_action(spec, act, label="unset", dry_run=dry_run, fmt=fmt, quiet=quiet)


def _block_state_command(action: str, summary: str) -> Callable:
    """`block` and `unblock` differ only in the action they call."""

    def command(
        contacts: Positional = None,
        contact: opt.Contact = None,
        where: opt.Where = None,
        everyone: opt.Everyone = False,
        ignore_missing: opt.IgnoreMissing = False,
        dry_run: opt.DryRun = False,
        fmt: opt.Summary = opt.SummaryFormat.text,
        quiet: opt.Quiet = False,
    ) -> None:
        from crmctl import actions

        spec = selection_spec(contact, where, everyone, ignore_missing, contacts)
        run_action(spec, getattr(actions, action), label=action, dry_run=dry_run, fmt=fmt, quiet=quiet)

    command.__doc__ = summary
    command.__name__ = action
    return guarded(command)


block = _block_state_command(
    "block",
    """Block the selected contacts: automation (flows) then ignores them.

    \b
    Examples:
      crmctl block 17 spam@example.net
      crmctl block -w 'tags contains "spam-suspect"' --dry-run
    """,
)
unblock = _block_state_command(
    "unblock",
    """Unblock the selected contacts.

    \b
    Examples:
      crmctl unblock -c 17
    """,
)


@guarded
def delete(
    contacts: Positional = None,
    contact: opt.Contact = None,
    where: opt.Where = None,
    everyone: opt.Everyone = False,
    ignore_missing: opt.IgnoreMissing = False,
    yes: opt.Yes = False,
    suppress: Annotated[
        bool, typer.Option("--suppress", help="Remember a keyed hash of each address so imports refuse it later.")
    ] = False,
    dry_run: opt.DryRun = False,
    fmt: opt.Summary = opt.SummaryFormat.text,
    quiet: opt.Quiet = False,
) -> None:
    """Permanently delete the selected contacts with their properties, tags, notes and conversations.

    Asks on a terminal; elsewhere needs --yes.

    \b
    Examples:
      crmctl delete -w 'last_seen_at < now - 730d' --dry-run
      crmctl delete ada@example.com --yes --suppress
    """
    from crmctl import actions

    spec = selection_spec(contact, where, everyone, ignore_missing, contacts)
    confirm = None if (yes or dry_run) else confirm_delete
    run_action(
        spec,
        lambda db, scope, ctx: actions.delete(db, scope, ctx, confirm=confirm, suppress=suppress),
        label="delete",
        dry_run=dry_run,
        fmt=fmt,
        quiet=quiet,
        prompts=confirm is not None,
        deletes=True,
    )


def confirm_delete(count: int) -> bool:
    from crmctl.errors import Refused

    noun = f"{count} contact{'s' if count != 1 else ''}"
    if not is_terminal():
        raise Refused(f"refusing to delete {noun} without confirmation: pass --yes")
    return typer.confirm(f"Permanently delete {noun} and all their data?", default=False, err=True)
