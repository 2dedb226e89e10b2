"""The property catalog: the data points a contact may hold, each with a name, a type and a
description. Create, list, show, rename, delete and retype; and the lookups every other part
(filters, `set`, imports, flows) uses, so that names are matched against the catalog and
never against the data that happens to be stored.

Names: trimmed, not empty, no NUL (the rules data point keys always had), and not a built-in
field's name. They match without regard to case by `fold`, the rule tags use too.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crmctl import value_types
from crmctl.errors import InvalidInput, NotFound, Refused
from crmctl.query.folding import fold
from crmctl.store import audit, scopes
from crmctl.store import properties as property_sql
from crmctl.store.properties import Property

if TYPE_CHECKING:
    from sqlite_utils import Database

    from crmctl.actions import Context

TYPES = value_types.TYPES
SHOWN = 20  # contacts listed when a retype is refused

# Built-in fields and the other columns an import or export uses: never a property's name.
RESERVED = frozenset(
    fold(name)
    for name in (
        "id",
        "email",
        "name",
        "phone",
        "user_id",
        "created_at",
        "last_seen_at",
        "blocked",
        "blocked_at",
        "tags",
        "conversations",
        "attributes",
        "properties",
    )
)

__all__ = ["Catalog", "Property", "RESERVED", "TYPES"]


@dataclass
class Catalog:
    """Every declared property, looked up by name without regard to case."""

    by_folded: dict[str, Property] = field(default_factory=dict)

    @classmethod
    def load(cls, db: Database) -> Catalog:
        return cls({fold(p.name): p for p in property_sql.every(db)})

    def get(self, name: str) -> Property | None:
        return self.by_folded.get(fold(name))

    def names(self) -> list[str]:
        return [p.name for p in self.by_folded.values()]

    def closest(self, name: str, others: Iterable[str] = ()) -> str | None:
        """The declared name (or one of `others`) closest to `name`, ignoring case."""
        candidates: dict[str, str] = {}
        for candidate in [*others, *self.names()]:
            candidates.setdefault(fold(candidate), candidate)
        close = difflib.get_close_matches(fold(name), list(candidates), n=1)
        return candidates[close[0]] if close else None


def clean_name(raw: str, *, what: str = "a property name") -> str:
    name = raw.strip()
    if not name:
        raise InvalidInput(f"{what} must not be empty")
    if "\x00" in name:
        raise InvalidInput(f"{what} must not contain NUL")
    if fold(name) in RESERVED:
        raise InvalidInput(f"'{name}' is a built-in field: a property needs another name")
    return name


def check_type(kind: str) -> str:
    if kind not in TYPES:
        raise InvalidInput(f"unknown type {kind!r}: use {', '.join(TYPES)}")
    return kind


def find(db: Database, name: str) -> Property:
    """The declared property called `name` (any case); NotFound with a suggestion otherwise."""
    catalog = Catalog.load(db)
    found = catalog.get(name)
    if found is None:
        close = catalog.closest(name)
        hint = f" (did you mean '{close}'?)" if close else ""
        raise NotFound(f"unknown property '{name.strip()}'{hint}")
    return found


# Changing the catalog ----------------------------------------------------------------------


def create(db: Database, name: str, kind: str, ctx: Context, description: str | None = None) -> Property:
    name, kind = clean_name(name), check_type(kind)
    existing = property_sql.find(db, [fold(name)]).get(fold(name))
    if existing is not None:
        raise Refused(f"property '{existing.name}' already exists ({existing.type})")
    created = property_sql.create(db, name, fold(name), kind, description or None, ctx.now)
    _audit(db, ctx, "property_create", f"{name} ({kind})")
    return created


def create_many(
    db: Database, wanted: Sequence[tuple[str, str] | tuple[str, str, str | None]], ctx: Context
) -> list[Property]:
    """Declare several new properties at once (an import's --create-properties, or an export's
    catalog: (name, type) or (name, type, description)); one audit entry."""
    created = [
        property_sql.create(
            db, clean_name(item[0]), fold(item[0]), check_type(item[1]), (item[2] if len(item) > 2 else None), ctx.now
        )
        for item in wanted
    ]
    if created:
        _audit(db, ctx, "property_create", ", ".join(f"{p.name} ({p.type})" for p in created))
    return created


def listing(db: Database) -> list[dict]:
    return property_sql.listing(db)


def show(db: Database, name: str) -> dict:
    found = find(db, name)
    return next(row for row in property_sql.listing(db) if row["name"] == found.name)


def rename(db: Database, old: str, new: str, ctx: Context) -> tuple[str, str]:
    found = find(db, old)
    new_name = clean_name(new)
    clash = property_sql.find(db, [fold(new_name)]).get(fold(new_name))
    if clash is not None and clash.id != found.id:
        raise Refused(f"property '{clash.name}' already exists")
    if new_name == found.name:
        return found.name, new_name
    property_sql.rename(db, found.id, new_name, fold(new_name))
    _audit(db, ctx, "property_rename", f"{found.name} -> {new_name}")
    return found.name, new_name


def delete(db: Database, name: str, ctx: Context, *, confirm: Callable[[str, int], bool] | None) -> tuple[str, int]:
    """Delete a property and every value of it; returns (name, contacts that held one)."""
    found = find(db, name)
    holders = scopes.create(db, "changed")
    property_sql.holders_scope(db, found.id, holders)
    count = scopes.count(db, holders)
    if confirm is not None and not confirm(found.name, count):
        raise Refused(f"not deleting property '{found.name}': not confirmed")
    _audit(db, ctx, "property_delete", f"{found.name} ({found.type})", scope=holders, contacts=count)
    property_sql.delete(db, found.id)
    return found.name, count


@dataclass
class Retyped:
    name: str
    old_type: str
    new_type: str
    converted: int
    dropped: int

    def to_dict(self) -> dict:
        return {
            "property": self.name,
            "from": self.old_type,
            "to": self.new_type,
            "converted": self.converted,
            "dropped": self.dropped,
        }


class Unconvertible(Refused):
    """Values that do not fit the new type; nothing was changed."""


def retype(db: Database, name: str, kind: str, ctx: Context, *, drop_invalid: bool = False) -> Retyped:
    """Convert every stored value to `kind`. Values that do not fit refuse the whole change,
    listing up to SHOWN contacts, unless `drop_invalid`: then they are removed (audited)."""
    found, kind = find(db, name), check_type(kind)
    if kind == found.type:
        return Retyped(found.name, found.type, kind, 0, 0)
    unfit, total = property_sql.unfit_values(db, found, kind, SHOWN)
    if total and not drop_invalid:
        raise Unconvertible(_unfit_message(db, found, kind, unfit, total))
    holders = scopes.create(db, "changed")
    property_sql.holders_scope(db, found.id, holders)
    count = scopes.count(db, holders)
    dropped = property_sql.convert_values(db, found, kind)
    property_sql.retype(db, found.id, kind)
    detail = f"{found.name}: {found.type} -> {kind}" + (f"; dropped {dropped} values" if dropped else "")
    _audit(db, ctx, "property_retype", detail, scope=holders, contacts=count)
    return Retyped(found.name, found.type, kind, count - dropped, dropped)


def _unfit_message(db: Database, prop: Property, kind: str, unfit: list, total: int) -> str:
    emails = dict(
        db.execute(
            f"SELECT id, email FROM contacts WHERE id IN ({','.join('?' * len(unfit))})", [cid for cid, _ in unfit]
        ).fetchall()
    )
    plural = "s" if total != 1 else ""
    lines = [
        f"{total} value{plural} of {prop.name} cannot become {value_types.ARTICLE[kind]}; nothing was changed "
        "(pass --drop-invalid to remove them):"
    ]
    lines += [f"  {cid} {emails.get(cid, '')}: {_shown(value)}" for cid, value in unfit]
    if total > len(unfit):
        lines.append(f"  and {total - len(unfit)} more")
    return "\n".join(lines)


def _shown(value: object) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return value_types.number_text(value) if isinstance(value, (int, float)) else repr(value)


def _audit(
    db: Database, ctx: Context, action: str, detail: str, *, scope: str | None = None, contacts: int = 0
) -> None:
    audit.record(
        db,
        at=ctx.now,
        actor=ctx.actor,
        action=action,
        detail=detail,
        scope=scope if contacts else None,
        contacts=contacts,
        run_id=ctx.run_id,
    )
