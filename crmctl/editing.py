"""Editing contacts: `set KEY=VALUE…`, `unset KEY…` and `contact add`, and the same rules for
flow steps. Keys are properties (from the catalog, any case) or the editable built-ins;
values are parsed by the target's type (crmctl.value_types), so `score=90` is a number
and `zip=007` stays the text "007" when zip is a text property.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crmctl import actions, value_types
from crmctl.actions import Context, Edits
from crmctl.emails import clean_email
from crmctl.errors import InvalidInput, Refused, UnknownTags
from crmctl.properties import Catalog, Property
from crmctl.query.fields import BUILTINS
from crmctl.store import audit, scopes
from crmctl.store import contacts as contact_sql
from crmctl.store import properties as property_sql
from crmctl.store import suppressions as suppression_sql
from crmctl.store import tags as tag_sql

if TYPE_CHECKING:
    from sqlite_utils import Database

# Built-in fields `set` may change, with their type; `unset` may clear the text ones.
EDITABLE = {"name": "text", "phone": "text", "user_id": "text", "last_seen_at": "date"}
CLEARABLE = ("name", "phone", "user_id")
_NOT_EDITABLE = {
    "email": "the email is how contacts are matched: it cannot be changed",
    "id": "ids never change",
    "created_at": "created_at records when the contact was added",
    "blocked": "use `crmctl block` or `crmctl unblock`",
    "blocked_at": "use `crmctl block` or `crmctl unblock`",
    "tags": "use `crmctl tag add` or `crmctl tag remove`",
    "conversations": "conversations come from imports",
}


@dataclass(frozen=True)
class Target:
    """What a key names: a built-in column (`column`) or a declared property."""

    key: str
    type: str
    column: str | None = None
    prop: Property | None = None


def refuse_builtin(key: str, *, clearing: bool = False) -> None:
    """InvalidInput when `key` is a built-in field that cannot be set (or cleared)."""
    name = key.strip()
    if not name:
        raise InvalidInput("a property name must not be empty")
    if name in EDITABLE and clearing and name not in CLEARABLE:
        raise InvalidInput(f"{name} cannot be cleared: set it to another time instead")
    if name in _NOT_EDITABLE:
        verb = "cleared" if clearing else "set"
        raise InvalidInput(f"'{name}' is a built-in field that cannot be {verb}: {_NOT_EDITABLE[name]}")


def resolve_key(catalog: Catalog, key: str, *, clearing: bool = False) -> Target:
    """The built-in or property `key` names; InvalidInput for anything else."""
    refuse_builtin(key, clearing=clearing)
    name = key.strip()
    if name in EDITABLE:
        return Target(name, EDITABLE[name], column=name)
    found = catalog.get(name)
    if found is None:
        close = catalog.closest(name, BUILTINS)
        hint = f" (did you mean '{close}'?)" if close else ""
        raise InvalidInput(
            f"unknown property '{name}'{hint}: declare it with `crmctl property create {_word(name)} --type TYPE`"
        )
    return Target(found.name, found.type, prop=found)


def parse_assignments(db: Database, texts: Sequence[str]) -> Edits:
    """`KEY=VALUE` words from the command line, each value parsed by its target's type."""
    catalog = Catalog.load(db)
    values: list[tuple[str, Any]] = []
    for text in texts:
        key, sep, raw = text.partition("=")
        if not sep:
            raise InvalidInput(f"expected KEY=VALUE, not {_shown(text)}")
        if not raw.strip():
            name = key.strip()
            raise InvalidInput(f"{name}= has no value: to remove a value, use `crmctl unset {_word(name)}`")
        values.append((key, raw))
    return _edits(catalog, values)


def typed_edits(db: Database, values: Mapping[str, Any]) -> Edits:
    """Values already in their stored form (a checked flow's `set`), None removing one."""
    catalog = Catalog.load(db)
    edits = Edits()
    seen: dict[str, str] = {}
    for key, value in values.items():
        target = resolve_key(catalog, key, clearing=value is None)
        _once(seen, target, key)
        _add(edits, target, value)
    return edits


def unset_keys(db: Database, keys: Sequence[str]) -> Edits:
    catalog = Catalog.load(db)
    edits = Edits()
    seen: dict[str, str] = {}
    for key in keys:
        target = resolve_key(catalog, key, clearing=True)
        _once(seen, target, key)
        _add(edits, target, None)
    return edits


def parse_value(target: Target, raw: Any) -> Any:
    """A value given as text (or a JSON scalar) in the target's stored form; InvalidInput if it does not fit."""
    try:
        value = value_types.parse(target.type, raw)
    except value_types.Unfit as exc:
        what = f"a {target.type} property" if target.prop else f"a built-in {target.type} field"
        raise InvalidInput(f"{target.key} is {what}: {exc}") from None
    if target.column is not None and target.type == "text":
        value = value.strip()  # built-in text fields are trimmed, as imports trim them
    return value


def _edits(catalog: Catalog, raw_values: Sequence[tuple[str, Any]]) -> Edits:
    edits = Edits()
    seen: dict[str, str] = {}
    for key, raw in raw_values:
        target = resolve_key(catalog, key)
        _once(seen, target, key)
        _add(edits, target, parse_value(target, raw))
    return edits


def _once(seen: dict[str, str], target: Target, key: str) -> None:
    identity = target.column or f"#{target.prop.id if target.prop else key}"
    if identity in seen:
        raise InvalidInput(f"{target.key} is given twice ({seen[identity].strip()!r} and {key.strip()!r})")
    seen[identity] = key


def _add(edits: Edits, target: Target, value: Any) -> None:
    if target.column is not None:
        edits.columns[target.column] = value
    else:
        assert target.prop is not None
        edits.properties.append((target.prop.id, value))
    edits.keys.append(target.key)


# contact add -------------------------------------------------------------------------------


def add_contact(
    db: Database,
    email: str,
    ctx: Context,
    *,
    name: str | None = None,
    phone: str | None = None,
    tags: Sequence[str] = (),
    assignments: Sequence[str] = (),
) -> int:
    """Add one contact and return its id. An existing (or erased and suppressed) email is refused."""
    try:
        address = clean_email(email)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    existing = contact_sql.exists_email(db, address)
    if existing is not None:
        raise Refused(
            f"a contact with email {address} already exists (id {existing}): "
            f"change it with `crmctl set KEY=VALUE -c {_word(address)}`"
        )
    if suppression_sql.is_suppressed(db, address):
        raise Refused(f"{address} was erased with `delete --suppress`: import it with --allow-suppressed to readmit it")
    given = {"name": name, "phone": phone}
    words = [f"{key}={value}" for key, value in given.items() if value is not None]
    edits = parse_assignments(db, [*words, *assignments])
    try:
        tag_ids = actions.resolve_tags(db, tags, ctx) if tags else []
    except UnknownTags as exc:
        raise UnknownTags(exc.names, hint="") from None
    contact_id = contact_sql.insert(db, {"email": address, "created_at": ctx.now, **edits.columns})
    added = scopes.create(db, "added")
    scopes.add_ids(db, added, [contact_id])
    property_sql.write(db, added, edits.properties)
    if tag_ids:
        tag_sql.stage_action_tags(db, tag_ids)
        tag_sql.link(db, added, ctx.now)
    detail = "keys: " + ", ".join(sorted(edits.keys)) if edits.keys else ""
    if tags:
        detail += ("; " if detail else "") + "tags: " + ", ".join(actions.clean_tag_names(tags))
    audit.record(
        db, at=ctx.now, actor=ctx.actor, action="contact_add", detail=detail, scope=added, contacts=1, run_id=ctx.run_id
    )
    return contact_id


def _word(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")
