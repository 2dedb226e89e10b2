"""The tag catalog: create, list, rename, delete. Names are unique without regard to case."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from crmctl.actions import Context, clean_tag_names, create_tags
from crmctl.errors import NotFound, Refused
from crmctl.folding import fold
from crmctl.store import audit, scopes
from crmctl.store import tags as tag_sql

if TYPE_CHECKING:
    from sqlite_utils import Database


def create(db: Database, names: Sequence[str], ctx: Context) -> tuple[list[str], list[str]]:
    """Returns (created, already present)."""
    wanted = clean_tag_names(names)
    created = create_tags(db, wanted, ctx)
    made = {fold(n) for n in created}
    return created, [n for n in wanted if fold(n) not in made]


def listing(db: Database) -> list[dict]:
    return tag_sql.listing(db)


def rename(db: Database, old: str, new: str, ctx: Context) -> None:
    (new_name,) = clean_tag_names([new])
    old = old.strip()
    found = tag_sql.find(db, [old])
    if fold(old) not in found:
        raise NotFound(f"unknown tag '{old}'")
    old_id, old_name = found[fold(old)]
    clash = tag_sql.find(db, [new_name]).get(fold(new_name))
    if clash and clash[0] != old_id:
        raise Refused(f"tag '{clash[1]}' already exists")
    if new_name == old_name:
        return
    tag_sql.rename(db, old_id, new_name)
    audit.record(db, at=ctx.now, actor=ctx.actor, action="tag_rename", detail=f"{old_name} -> {new_name}")


def delete(
    db: Database, names: Sequence[str], ctx: Context, *, confirm: Callable[[int, int], bool] | None
) -> tuple[int, int]:
    """Delete tags and their links; returns how many tags went and how many contacts lost one.
    Names that are one under the case rule name one tag."""
    wanted = clean_tag_names(names)
    found = tag_sql.find(db, wanted)
    unknown = [n for n in wanted if fold(n) not in found]
    if unknown:
        raise NotFound(f"unknown tag{'s' if len(unknown) > 1 else ''} " + ", ".join(f"'{n}'" for n in unknown))
    tag_ids = [found[fold(n)][0] for n in wanted]
    affected = scopes.create(db, "changed")
    tag_sql.tagged_contacts(db, tag_ids, affected)
    count = scopes.count(db, affected)
    if confirm is not None and count and not confirm(len(tag_ids), count):  # unused tags lose nobody anything
        raise Refused("not deleting tags: not confirmed")
    detail = "tags: " + ", ".join(found[fold(n)][1] for n in wanted)
    audit.record(db, at=ctx.now, actor=ctx.actor, action="tag_delete", detail=detail, scope=affected, contacts=count)
    tag_sql.delete(db, tag_ids)
    return len(tag_ids), count
