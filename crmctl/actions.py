"""The contact actions. Each is set-based over a scope (a temp table of contact ids),
writes its audit entry, and is shared by the CLI commands and the flow engine.

None of them opens or ends a transaction: the caller wraps a whole command or flow run.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crmctl import clock
from crmctl.errors import InvalidInput, Refused, UnknownTags
from crmctl.folding import fold
from crmctl.store import audit, erasure, scopes
from crmctl.store import contacts as contact_sql
from crmctl.store import properties as property_sql
from crmctl.store import suppressions as suppression_sql
from crmctl.store import tags as tag_sql
from crmctl.testhook import pause_point

if TYPE_CHECKING:
    from sqlite_utils import Database

CHANGED = "changed"
TAG_NAME_MAX = 100


@dataclass
class Context:
    """Who is acting, and when. A flow run sets actor `flow:NAME` and its run id."""

    actor: str
    now: str
    run_id: int | None = None

    @classmethod
    def for_user(cls) -> Context:
        return cls(actor=current_user(), now=clock.now_text())


@dataclass
class ActionResult:
    action: str
    selected: int
    changed: int
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"action": self.action, "selected": self.selected, "changed": self.changed, **self.detail}


@dataclass
class NoteBody:
    """A note body as SQL over contact alias `c`: `?` for plain text, or a compiled template."""

    sql: str
    params: Sequence[Any]

    @classmethod
    def plain(cls, text: str) -> NoteBody:
        return cls("?", [text])


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


# Tags -------------------------------------------------------------------------------------


def clean_tag_names(names: Sequence[str]) -> list[str]:
    """Trim, refuse empty or over-long names, and drop repeats under the case rule (fold)."""
    cleaned, seen = [], set()
    for raw in names:
        name = raw.strip()
        if not name:
            raise InvalidInput("a tag name must not be empty")
        if len(name) > TAG_NAME_MAX:
            raise InvalidInput(f"tag name longer than {TAG_NAME_MAX} characters: {name[:20]!r}…")
        if "\x00" in name:
            raise InvalidInput("a tag name must not contain NUL")
        if fold(name) not in seen:
            seen.add(fold(name))
            cleaned.append(name)
    return cleaned


def resolve_tags(db: Database, names: Sequence[str], ctx: Context, *, create: bool = False) -> list[int]:
    """Catalog ids for `names`; unknown names are refused unless `create`."""
    wanted = clean_tag_names(names)
    found = tag_sql.find(db, wanted)
    unknown = [n for n in wanted if fold(n) not in found]
    if unknown and not create:
        raise UnknownTags(unknown, suggestions=suggest_tags(db, unknown))
    if unknown:
        create_tags(db, unknown, ctx)
        found = tag_sql.find(db, wanted)
    return [found[fold(n)][0] for n in wanted]


def suggest_tags(db: Database, unknown: Sequence[str]) -> dict[str, str]:
    """The closest catalog name for each unknown name that has one ("did you mean")."""
    import difflib

    catalog = {name.lower(): name for name in tag_sql.names(db)}
    suggestions = {}
    for name in unknown:
        close = difflib.get_close_matches(name.lower(), list(catalog), n=1)
        if close:
            suggestions[name] = catalog[close[0]]
    return suggestions


def create_tags(db: Database, names: Sequence[str], ctx: Context) -> list[str]:
    created = tag_sql.create(db, clean_tag_names(names), ctx.now)
    if created:
        audit.record(db, at=ctx.now, actor=ctx.actor, action="tag_create", detail=", ".join(created), run_id=ctx.run_id)
    return created


def tag_add(db: Database, scope: str, names: Sequence[str], ctx: Context, *, create: bool = False) -> ActionResult:
    before = set(tag_sql.find(db, clean_tag_names(names))) if create else set()  # folded names
    tag_ids = resolve_tags(db, names, ctx, create=create)
    tag_sql.stage_action_tags(db, tag_ids)
    changed = _changed(db, lambda target: tag_sql.lacking_any(db, scope, target))
    tag_sql.link(db, CHANGED, ctx.now)
    result = _finish(db, "tag_add", scope, changed, ctx, tags=clean_tag_names(names))
    if create:  # reported, not audited: the catalog's own tag_create entry records it
        result.detail["created"] = [n for n in clean_tag_names(names) if fold(n) not in before]
    return result


def tag_remove(db: Database, scope: str, names: Sequence[str], ctx: Context) -> ActionResult:
    tag_ids = resolve_tags(db, names, ctx)
    tag_sql.stage_action_tags(db, tag_ids)
    changed = _changed(db, lambda target: tag_sql.holding_any(db, scope, target))
    tag_sql.unlink(db, CHANGED)
    return _finish(db, "tag_remove", scope, changed, ctx, tags=clean_tag_names(names))


# Notes, block state, properties ----------------------------------------------------------


def note(db: Database, scope: str, body: NoteBody | str, ctx: Context, *, author: str | None = None) -> ActionResult:
    if isinstance(body, str):
        if not body.strip():
            raise InvalidInput("a note must not be empty")
        body = NoteBody.plain(body)
    contact_sql.add_notes(db, scope, body.sql, body.params, author or ctx.actor, ctx.now)
    return _finish(db, "note", scope, scopes.count(db, scope), ctx, audited=scope)  # every contact gets one


def block(db: Database, scope: str, ctx: Context) -> ActionResult:
    changed = _changed(db, lambda target: contact_sql.with_block_state(db, scope, target, blocked=False))
    contact_sql.set_blocked_at(db, CHANGED, ctx.now)
    return _finish(db, "block", scope, changed, ctx)


def unblock(db: Database, scope: str, ctx: Context) -> ActionResult:
    changed = _changed(db, lambda target: contact_sql.with_block_state(db, scope, target, blocked=True))
    contact_sql.set_blocked_at(db, CHANGED, None)
    return _finish(db, "unblock", scope, changed, ctx)


@dataclass(frozen=True)
class Edits:
    """What `set` and `unset` write, resolved and typed (see crmctl.editing): built-in
    columns and property values, None removing a value. `keys` name them as the user did,
    for the summary and the audit log (never their values)."""

    columns: dict[str, Any] = field(default_factory=dict)
    properties: list[tuple[int, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


def set_values(db: Database, scope: str, edits: Edits, ctx: Context, *, action: str = "set") -> ActionResult:
    """Write `edits` to every contact of scope; `changed` counts contacts whose stored
    values actually changed (only those are written and audited)."""
    if not edits.columns and not edits.properties:
        raise InvalidInput(f"{action} needs at least one property")

    def differing(target: str) -> None:
        if edits.columns:
            contact_sql.differing_columns(db, scope, target, edits.columns)
        if edits.properties:
            property_sql.differing(db, scope, target, edits.properties)

    changed = _changed(db, differing)
    if changed:
        if edits.columns:
            contact_sql.write_columns(db, CHANGED, edits.columns)
        if edits.properties:
            property_sql.write(db, CHANGED, edits.properties)
    return _finish(db, action, scope, changed, ctx, keys=sorted(edits.keys))


def unset_values(db: Database, scope: str, edits: Edits, ctx: Context) -> ActionResult:
    return set_values(db, scope, edits, ctx, action="unset")


# Outboxes ---------------------------------------------------------------------------------


def emit(
    db: Database, scope: str, outbox: str, fields: Sequence[str], ctx: Context, *, flow: str, step: str
) -> ActionResult:
    """One outbox record per contact of scope (a flow's `emit` step): contact id, email, name,
    the listed fields, and which flow, step and run wrote it."""
    from crmctl.outbox import record_fields_sql
    from crmctl.store import outbox as outbox_sql
    from crmctl.store.pg import is_postgres

    fields_sql, params = record_fields_sql(fields, postgres=is_postgres(db))
    outbox_sql.emit(db, scope, outbox, fields_sql, params, flow=flow, step=step, run_id=ctx.run_id, now=ctx.now)
    return _finish(db, "emit", scope, scopes.count(db, scope), ctx, audited=scope, outbox=outbox)


# Deletion ---------------------------------------------------------------------------------


def delete(
    db: Database, scope: str, ctx: Context, *, confirm: Callable[[int], bool] | None = None, suppress: bool = False
) -> ActionResult:
    """Permanently delete the contacts of scope and everything attached to them.

    `confirm` is asked with the number of contacts; None means the caller already has
    the operator's consent (--yes, or a flow run's own guard). `suppress` remembers a keyed
    hash of each address (never the address), so later imports refuse it.
    """
    count = scopes.count(db, scope)
    if count and confirm is not None and not confirm(count):
        raise Refused(f"not deleting {count} contact{'s' if count != 1 else ''}: not confirmed")
    scopes.copy(db, scope, CHANGED)
    detail: dict[str, Any] = {}
    if suppress:
        suppression_sql.suppress(db, CHANGED, ctx.now)
        detail["suppressed"] = count
    result = _finish(db, "delete", scope, count, ctx, **detail)
    contact_sql.delete(db, CHANGED)
    if count:
        erasure.mark_pending(db)
    return result


def erase_leftovers(db: Database) -> bool:
    """After a delete has committed: checkpoint and truncate the WAL, so no copy of the erased
    data is left in the database file or the WAL (on PostgreSQL: VACUUM the tables it reached).
    False when other processes kept that from happening now; the next crmctl process to open
    the database then finishes it."""
    return erasure.finish(db)


# Shared steps -----------------------------------------------------------------------------


def _changed(db: Database, fill: Callable[[str], None]) -> int:
    scopes.create(db, CHANGED)
    fill(CHANGED)
    return scopes.filled(db, CHANGED)


def _finish(
    db: Database, action: str, scope: str, changed: int, ctx: Context, *, audited: str = CHANGED, **detail: Any
) -> ActionResult:
    """Audit the `changed` contacts (the ids in temp table `audited`) and report."""
    pause_point(f"action:{action}")
    if changed:
        audit.record(
            db,
            at=ctx.now,
            actor=ctx.actor,
            action=action,
            detail=_describe(detail),
            scope=audited,
            contacts=changed,
            run_id=ctx.run_id,
        )
    return ActionResult(action, scopes.count(db, scope), changed, detail)


def _describe(detail: dict) -> str:
    parts = []
    for key, value in detail.items():
        shown = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        parts.append(f"{key}: {shown}")
    return "; ".join(parts)
