"""Record validation: one record's fields (CSV: non-blank cells as written; JSON: any value)
→ a Contact, or `_Bad` with the reason. Built-in fields are checked here; property values
by their type in crmctl.importer.values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from crmctl.actions import clean_tag_names
from crmctl.emails import clean_email
from crmctl.errors import InvalidInput
from crmctl.importer.dates import DateReader
from crmctl.importer.mapping import KeyPlan, Mapping
from crmctl.importer.values import Bad as _Bad
from crmctl.importer.values import PropertyValues, Verbatim
from crmctl.importer.values import kind_of as _kind
from crmctl.properties import Property

__all__ = ["KNOWN", "Contact", "PropertyValues", "Rules", "Verbatim", "_Bad", "_contact"]

KNOWN = (
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
    "notes",
    "attributes",
    "properties",
    "id",
)
_CONVERSATION_KEYS = frozenset({"subject", "created_at", "messages"})
_MESSAGE_KEYS = frozenset({"body", "sender", "sent_at"})
_NOTE_KEYS = frozenset({"body", "author", "created_at"})
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})
_TAG_SPLIT = re.compile(r"[;,]")


class Contact(NamedTuple):
    row: tuple  # (email, name, phone, user_id, created_at, last_seen_at, block, blocked_at)
    tags: list[str]
    values: list[tuple[int, Any]]  # (property id, stored value)
    new_values: list[tuple[str, str]]  # (undeclared name, the value as JSON), with create_properties
    conversations: list[tuple]
    notes: list[tuple] = []  # (body, author, created_at)
    kept_id: int | None = None  # the record's id, with --keep-ids


@dataclass
class Rules:
    """How a record's values are read: dates, JSON key resolution, properties, exactness, ids."""

    properties: PropertyValues
    dates: DateReader = field(default_factory=DateReader)
    keys: KeyPlan = field(default_factory=lambda: KeyPlan(Mapping()))
    exact: bool = False  # built-in text kept as written, untrimmed (crmctl's own exports)
    keep_ids: bool = False
    declared: list[Property] = field(default_factory=list)  # properties an export's catalog record declared
    no_nul: bool = False  # PostgreSQL: text cannot hold U+0000


def _contact(item: Any, typed: bool, rules: Rules) -> Contact:
    """A record's fields (CSV: non-blank cells as written; JSON: any value) → a Contact."""
    if isinstance(item, _Bad):
        raise item
    fields = _json_fields(item, rules.keys) if typed else item
    exact, dates = rules.exact, rules.dates
    email = _email(fields.pop("email", None))
    row = (
        email,
        _text(fields.pop("name", None), "name", exact),
        _text(fields.pop("phone", None), "phone", exact),
        _user_id(fields.pop("user_id", None), exact),
        _time(fields.pop("created_at", None), "created_at", dates),
        _time(fields.pop("last_seen_at", None), "last_seen_at", dates),
        *_block(fields.pop("blocked", None), fields.pop("blocked_at", None), dates),
    )
    tags = _tags(fields.pop("tags", None))
    given_id = fields.pop("id", None)  # contacts are matched by email; the id is kept only with --keep-ids
    kept = _kept_id(given_id) if rules.keep_ids else None
    conversations: list[tuple] = []
    notes: list[tuple] = []
    if typed:
        conversations = _conversations(fields.pop("conversations", None), rules)
        notes = _notes(fields.pop("notes", None), rules)
        _merge_nested(fields, "attributes")  # as `contact list` wrote property values before 0.2
        _merge_nested(fields, "properties")
    values, new_values = rules.properties.values(fields)
    contact = Contact(row, tags, values, new_values, conversations, notes, kept)
    if rules.no_nul and _has_nul(contact):
        raise _Bad("PostgreSQL cannot store the NUL character (U+0000)")
    return contact


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        # new_values hold JSON text, where U+0000 is written \u0000
        return "\x00" in value or ("\\u0000" in value and _has_nul(_loads(value)))
    if isinstance(value, (tuple, list)):
        return any(_has_nul(item) for item in value)
    return False


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _merge_nested(fields: dict[str, Any], key: str) -> None:
    """JSON records may carry property values as an object (as `contact list` writes them).
    Its names are taken as written: an export's property names never have outer spaces."""
    nested = fields.pop(key, None)
    if nested is None:
        return
    if not isinstance(nested, dict):
        raise _Bad(f"{key} must be an object, not {_kind(nested)}")
    for name, value in nested.items():
        if name in fields:
            raise _Bad(f"{name!r} is given twice")
        fields[name] = value


def _json_fields(item: Any, keys: KeyPlan) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _Bad(f"expected an object, not {_kind(item)}")
    fields: dict[str, Any] = {}
    for key, value in item.items():
        try:
            name = keys.key(key)
        except ValueError as exc:
            raise _Bad(str(exc)) from None
        if not name:
            continue
        if name in fields:
            raise _Bad(f"{name!r} is given twice")
        fields[name] = value
    for step in keys.steps:
        try:
            step(fields)
        except ValueError as exc:
            raise _Bad(str(exc)) from None
    return fields


def _kept_id(value: Any) -> int:
    """--keep-ids: the record's id, a positive whole number."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise _Bad("--keep-ids needs an id, a positive whole number" if value is None else f"invalid id {value!r}")
    return value


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _email(value: Any) -> str:
    if value is None:
        raise _Bad("no email")
    if not isinstance(value, str):
        raise _Bad(f"email must be text, not {_kind(value)}")
    try:
        return clean_email(value)
    except ValueError as exc:
        raise _Bad(str(exc)) from None


def _text(value: Any, what: str, exact: bool = False) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{what} must be text, not {_kind(value)}")
    if exact or type(value) is Verbatim:  # a guarded CSV cell is kept as written, like an export's text
        return str(value) if value else None
    return value.strip() or None


def _user_id(value: Any, exact: bool = False) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value, "user_id", exact)


def _time(value: Any, what: str, dates: DateReader) -> str | None:
    text = _text(value, what)
    if text is None:
        return None
    try:
        return dates.stored(text)
    except ValueError as exc:
        raise _Bad(f"{what}: {exc}") from None


def _block(blocked: Any, blocked_at: Any, dates: DateReader) -> tuple[int | None, str | None]:
    """(block, blocked_at): true blocks now (keeping an earlier block time), a time blocks
    since then, false unblocks, nothing leaves the contact as it is. blocked_at with
    blocked (as full exports write them) must agree with it."""
    at = _time(blocked_at, "blocked_at", dates) if blocked_at is not None else None
    if at is not None:
        state = _block(blocked, None, dates) if blocked is not None else (1, None)
        if state[0] == 0:
            raise _Bad("blocked is false but blocked_at is given")
        if state[1] is not None and state[1] != at:
            raise _Bad("blocked and blocked_at give different times")
        return 1, at
    if blocked is None or isinstance(blocked, bool):
        return (None if blocked is None else int(blocked)), None
    if not isinstance(blocked, str):
        raise _Bad(f"blocked must be true, false or an ISO-8601 time, not {_kind(blocked)}")
    word = blocked.strip().lower()
    if not word:
        return None, None
    if word in _TRUE or word in _FALSE:
        return int(word in _TRUE), None
    try:
        return 1, _time(blocked, "blocked", dates)
    except _Bad:
        raise _Bad(f"blocked must be true, false or an ISO-8601 time, not {_shown(blocked.strip())}") from None


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        names = _tag_list(value) if value.startswith("[") else _TAG_SPLIT.split(value)
    elif isinstance(value, list):
        names = value
        odd = [name for name in names if not isinstance(name, str)]
        if odd:
            raise _Bad(f"tags must be a list of text, not of {_kind(odd[0])}")
    else:
        raise _Bad(f"tags must be text or a list of text, not {_kind(value)}")
    try:
        return clean_tag_names([name for name in names if name.strip()])
    except InvalidInput as exc:
        raise _Bad(f"tags: {exc}") from None


def _tag_list(value: str) -> list[str]:
    """A cell holding a JSON array of names (how CSV exports write tags containing , or ;)."""
    try:
        names = json.loads(value)
    except ValueError:
        return _TAG_SPLIT.split(value)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return _TAG_SPLIT.split(value)
    return names


def _conversations(value: Any, rules: Rules) -> list[tuple]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"conversations must be a list, not {_kind(value)}")
    return [_conversation(item, f"conversations[{i}]", rules) for i, item in enumerate(value)]


def _conversation(item: Any, where: str, rules: Rules) -> tuple:
    """(subject, created_at, first_sent_at, messages); created_at defaults to the first message's time."""
    _check_object(item, where, _CONVERSATION_KEYS)
    messages = item.get("messages")
    if messages is None:
        messages = []
    if not isinstance(messages, list):
        raise _Bad(f"{where}.messages must be a list, not {_kind(messages)}")
    parsed = [_message(message, f"{where}.messages[{j}]", rules) for j, message in enumerate(messages)]
    sent = [message[2] for message in parsed if message[2] is not None]
    first = min(sent) if sent else None
    created_at = _time(item.get("created_at"), f"{where}.created_at", rules.dates) or first
    return _text(item.get("subject"), f"{where}.subject", rules.exact), created_at, first, parsed


def _message(item: Any, where: str, rules: Rules) -> tuple:
    """(body, sender, sent_at)"""
    _check_object(item, where, _MESSAGE_KEYS)
    return (
        _text(item.get("body"), f"{where}.body", rules.exact),
        _text(item.get("sender"), f"{where}.sender", rules.exact),
        _time(item.get("sent_at"), f"{where}.sent_at", rules.dates),
    )


def _notes(value: Any, rules: Rules) -> list[tuple]:
    """[(body, author, created_at)]: bodies and authors exactly as written, like `crmctl note`."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"notes must be a list, not {_kind(value)}")
    notes = []
    for i, item in enumerate(value):
        where = f"notes[{i}]"
        _check_object(item, where, _NOTE_KEYS)
        body = item.get("body")
        if not isinstance(body, str) or not body.strip():
            raise _Bad(f"{where}.body must be text that is not empty")
        author = _text(item.get("author"), f"{where}.author", exact=True)
        notes.append((body, author, _time(item.get("created_at"), f"{where}.created_at", rules.dates)))
    return notes


def _check_object(item: Any, where: str, keys: frozenset[str]) -> None:
    if not isinstance(item, dict):
        raise _Bad(f"{where} must be an object, not {_kind(item)}")
    if not item.keys() <= keys:
        unknown = min(set(item) - keys)
        raise _Bad(f"{where}: unknown key {_shown(unknown)} (expected {', '.join(sorted(keys))})")
