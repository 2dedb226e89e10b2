"""A flow's `set` values, checked as written in the file against their property's type.

PyYAML reads YAML 1.1, where `NO` is false, `on` is true, `007` is the octal 7 and
`12:30:00` is the sexagesimal 45000. A flow never stores such a surprise: the scalar's
text and style (plain or quoted) must fit the target's type as the user wrote it.

    text     a quoted scalar, or plain text; a plain decimal number is kept as written
             ("42", "007"); plain words YAML turns into something else must be quoted
    number   a plain decimal number: 50, -7, 2.5, 1e6 (not "50", 007, 0x1F or 12:30:00)
    boolean  plain true, false, yes, no, 1 or 0, any case (not "true", on or off)
    date     an ISO-8601 date or date-time, plain or quoted
"""

from __future__ import annotations

import re
from typing import Any

from yaml.nodes import ScalarNode  # type: ignore[import-untyped]

from crmctl import value_types

_TAG = "tag:yaml.org,2002:"
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_PLAIN_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_BOOLEAN_WORDS = value_types.TRUE_WORDS | value_types.FALSE_WORDS


def typed_value(key: str, kind: str, what: str, node: ScalarNode) -> Any:
    """The value `node` stores for a target of type `kind` (`what`: "a number property"),
    in the stored form a flow keeps (booleans as True/False). Raises ValueError(message)."""
    text, plain = node.value, node.style is None
    tag = node.tag[len(_TAG) :] if node.tag.startswith(_TAG) else node.tag
    if tag == "str" and not text.strip():
        raise ValueError(f"{key} is {what}: an empty value stores nothing (use null, or an unset step, to remove it)")
    if kind == "text":
        if tag in ("str", "timestamp") or (plain and _DECIMAL.fullmatch(text)):
            return text
        raise ValueError(
            f"{key} is {what}: YAML reads {text} as {_reading(tag, node)}; quote it to store the text: '{text}'"
        )
    if kind == "number":
        if plain and tag in ("int", "float", "str") and _PLAIN_NUMBER.fullmatch(text):
            return value_types.parse_number(text)  # YAML 1.1 reads 2.5e1 (no sign) as text
        raise ValueError(f"{key} is {what}: write {_number_hint(text, tag, plain)}, not {_written(node)}")
    if kind == "boolean":
        if plain and text.lower() in _BOOLEAN_WORDS:
            return text.lower() in value_types.TRUE_WORDS
        raise ValueError(f"{key} is {what}: write {_boolean_hint(text)}, not {_written(node)}")
    if tag in ("str", "timestamp"):
        try:
            return value_types.parse_date(text.strip())
        except value_types.Unfit as exc:
            raise ValueError(f"{key} is {what}: {exc}") from None
    raise ValueError(f"{key} is {what}: write a date such as 2027-01-31, not {_written(node)}")


def _written(node: ScalarNode) -> str:
    if node.style in ("'", '"'):
        return f"{node.style}{node.value}{node.style}"
    return node.value


def _reading(tag: str, node: ScalarNode) -> str:
    from yaml.constructor import SafeConstructor  # type: ignore[import-untyped]

    try:
        value = getattr(SafeConstructor(), f"construct_yaml_{tag}")(node)
    except Exception:
        return f"a {tag}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"the number {value}" if tag in ("int", "float") else repr(value)


def _number_hint(text: str, tag: str, plain: bool) -> str:
    word = text.strip()
    if _PLAIN_NUMBER.fullmatch(word.lstrip("+")) or (word.lstrip("+-").isdigit() and word.lstrip("+-")):
        try:
            return value_types.number_text(value_types.parse_number(word))
        except value_types.Unfit:
            pass
    return "a number"


def _boolean_hint(text: str) -> str:
    word = text.strip().lower()
    if word in _BOOLEAN_WORDS:
        return "true" if word in value_types.TRUE_WORDS else "false"
    return "true or false"
