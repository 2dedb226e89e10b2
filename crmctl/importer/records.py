"""Record validation: one record's fields (CSV: trimmed text; JSON: any value) → a Contact,
or `_Bad` with the reason.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime
from typing import Any, NamedTuple

from crmctl import clock
from crmctl.actions import clean_tag_names
from crmctl.errors import InvalidInput

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
    "attributes",
    "id",
)
_KNOWN = frozenset(KNOWN)
_CONVERSATION_KEYS = frozenset({"subject", "created_at", "messages"})
_MESSAGE_KEYS = frozenset({"body", "sender", "sent_at"})
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})
_INT64 = (-(2**63), 2**63 - 1)

# A CSV attribute value becomes a number only when it is plainly one: no leading zero
# (so "007" stays text), no sign other than "-" (so "+44…" stays text), no exponent.
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_NUMBER_START = frozenset("-0123456789")
_CONTROL = r"\x00-\x1f\x7f"
_EMAIL = re.compile(rf"[^@\s{_CONTROL}]+@[^@\s{_CONTROL}.]+(?:\.[^@\s{_CONTROL}.]+)+")
_STORED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_TAG_SPLIT = re.compile(r"[;,]")


class Contact(NamedTuple):
    row: tuple  # (email, name, phone, user_id, created_at, last_seen_at, block, blocked_at)
    tags: list[str]
    attributes: list[tuple[str, Any]]
    conversations: list[tuple]


class _Bad(Exception):
    """One record's problem; reported as `LABEL: message`."""


def _contact(item: Any, typed: bool) -> Contact:
    """A record's fields (CSV: non-empty trimmed text; JSON: any value) → a Contact."""
    if isinstance(item, _Bad):
        raise item
    fields = _json_fields(item) if typed else item
    email = _email(fields.pop("email", None))
    row = (
        email,
        _text(fields.pop("name", None), "name"),
        _text(fields.pop("phone", None), "phone"),
        _user_id(fields.pop("user_id", None)),
        _time(fields.pop("created_at", None), "created_at"),
        _time(fields.pop("last_seen_at", None), "last_seen_at"),
        *_block(fields.pop("blocked", None), fields.pop("blocked_at", None)),
    )
    tags = _tags(fields.pop("tags", None))
    conversations = _conversations(fields.pop("conversations", None))
    fields.pop("id", None)  # as written by `contact list`: contacts are matched by email, never by id
    if typed:
        _merge_attributes(fields, fields.pop("attributes", None))
        attributes = [(key, value) for key, raw in fields.items() if (value := _json_value(key, raw)) is not None]
    else:
        attributes = [(key, _csv_value(raw)) for key, raw in fields.items()]
    return Contact(row, tags, attributes, conversations)


def _merge_attributes(fields: dict[str, Any], nested: Any) -> None:
    """JSON records may carry data points as an `attributes` object (as `contact list` writes them)."""
    if nested is None:
        return
    if not isinstance(nested, dict):
        raise _Bad(f"attributes must be an object, not {_kind(nested)}")
    for key, value in nested.items():
        name = key.strip()
        if name in fields:
            raise _Bad(f"{name!r} is given twice")
        fields[name] = value


@functools.lru_cache(maxsize=4096)
def _canonical(key: str) -> str:
    """Known columns match without regard to case or surrounding spaces; attribute names keep their case."""
    name = key.strip()
    lowered = name.lower()
    return lowered if lowered in _KNOWN else name


def _json_fields(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _Bad(f"expected an object, not {_kind(item)}")
    fields: dict[str, Any] = {}
    for key, value in item.items():
        name = _canonical(key)
        if name in fields:
            raise _Bad(f"{name!r} is given twice")
        fields[name] = value
    return fields


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _email(value: Any) -> str:
    if value is None:
        raise _Bad("no email")
    if not isinstance(value, str):
        raise _Bad(f"email must be text, not {_kind(value)}")
    email = value.strip()
    if not email:
        raise _Bad("no email")
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise _Bad(f"invalid email {_shown(email)}")
    return email


def _text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{what} must be text, not {_kind(value)}")
    return value.strip() or None


def _user_id(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value, "user_id")


def _time(value: Any, what: str) -> str | None:
    text = _text(value, what)
    if text is None:
        return None
    if _STORED_TIME.fullmatch(text):  # already in the stored form: only check it is a real time
        try:
            datetime.fromisoformat(text)
            return text
        except ValueError:
            pass
    try:
        stored = clock.normalise_time(text)
    except ValueError as exc:
        raise _Bad(f"{what}: {exc}") from None
    return stored


def _block(blocked: Any, blocked_at: Any) -> tuple[int | None, str | None]:
    """(block, blocked_at): true blocks now (keeping an earlier block time), a time blocks
    since then, false unblocks, nothing leaves the contact as it is."""
    if blocked_at is not None and blocked is not None:
        raise _Bad("give blocked or blocked_at, not both")
    if blocked_at is not None:
        at = _time(blocked_at, "blocked_at")
        return (None, None) if at is None else (1, at)
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
        return 1, _time(blocked, "blocked")
    except _Bad:
        raise _Bad(f"blocked must be true, false or an ISO-8601 time, not {_shown(blocked.strip())}") from None


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        names = _TAG_SPLIT.split(value)
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


def _csv_value(text: str) -> Any:
    """CSV cells arrive trimmed and non-empty; plain numbers become numbers."""
    if text[0] not in _NUMBER_START or not _NUMBER.fullmatch(text):
        return text
    if "." in text:
        number = float(text)
        return number if math.isfinite(number) else text
    if len(text) > 20:  # beyond 64 bits (and beyond int()'s digit limit): keep the digits as text
        return text
    number = int(text)
    return number if _INT64[0] <= number <= _INT64[1] else text


def _json_value(key: str, value: Any) -> Any:
    if not key:
        raise _Bad("an attribute name must not be empty")
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise _Bad(f"{key}: number out of range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Bad(f"{key}: not a finite number")
        return value
    raise _Bad(f"{key} must be text, a number or a boolean, not {_kind(value)}")


def _conversations(value: Any) -> list[tuple]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"conversations must be a list, not {_kind(value)}")
    return [_conversation(item, f"conversations[{i}]") for i, item in enumerate(value)]


def _conversation(item: Any, where: str) -> tuple:
    """(subject, created_at, first_sent_at, messages); created_at defaults to the first message's time."""
    _check_object(item, where, _CONVERSATION_KEYS)
    messages = item.get("messages")
    if messages is None:
        messages = []
    if not isinstance(messages, list):
        raise _Bad(f"{where}.messages must be a list, not {_kind(messages)}")
    parsed = [_message(message, f"{where}.messages[{j}]") for j, message in enumerate(messages)]
    sent = [message[2] for message in parsed if message[2] is not None]
    first = min(sent) if sent else None
    created_at = _time(item.get("created_at"), f"{where}.created_at") or first
    return _text(item.get("subject"), f"{where}.subject"), created_at, first, parsed


def _message(item: Any, where: str) -> tuple:
    """(body, sender, sent_at)"""
    _check_object(item, where, _MESSAGE_KEYS)
    return (
        _text(item.get("body"), f"{where}.body"),
        _text(item.get("sender"), f"{where}.sender"),
        _time(item.get("sent_at"), f"{where}.sent_at"),
    )


def _check_object(item: Any, where: str, keys: frozenset[str]) -> None:
    if not isinstance(item, dict):
        raise _Bad(f"{where} must be an object, not {_kind(item)}")
    if not item.keys() <= keys:
        unknown = min(set(item) - keys)
        raise _Bad(f"{where}: unknown key {_shown(unknown)} (expected {', '.join(sorted(keys))})")
