"""The built-in fields, and which operators and values each kind of field accepts.

Any other name is a property. Its type comes from the catalog (through the `type_of`
callback of `check`); without a database a property is only checked for what no type
could make valid."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from crmctl import clock, value_types
from crmctl.errors import FilterError
from crmctl.query.nodes import MATCHES, ORDERINGS, And, Field, Node, Not, Or, Test, Truth, Value


@dataclass(frozen=True)
class Builtin:
    name: str
    kind: str  # number, email, text, time, bool, tags, count
    column: str | None = None  # over contact alias `c`
    nullable: bool = True


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin("id", "number", "c.id", nullable=False),
        Builtin("email", "email", "c.email", nullable=False),
        Builtin("name", "text", "c.name"),
        Builtin("phone", "text", "c.phone"),
        Builtin("user_id", "text", "c.user_id"),
        Builtin("created_at", "time", "c.created_at"),
        Builtin("last_seen_at", "time", "c.last_seen_at"),
        Builtin("blocked", "bool", "c.blocked_at"),
        Builtin("tags", "tags"),
        Builtin("conversations", "count"),
    )
}
TIME_FIELDS = tuple(b.name for b in BUILTINS.values() if b.kind == "time")

_WHAT = {
    "number": "a number",
    "count": "a count",
    "time": "a time",
    "bool": "true or false",
    "tags": "a set of tag names",
}
_EXAMPLE = {
    "number": "{name} == 1",
    "email": '{name} == "ada@example.com"',
    "text": '{name} == "..."',
    "time": "{name} > now - 30d",
    "tags": 'tags contains "vip"',
    "count": "{name} > 0",
}
_TAGS_HINT = 'use tags contains "vip", tags in ["vip", "trial"] or tags exists'


def builtin(field: Field) -> Builtin | None:
    """The built-in a field names, or None for a property."""
    return None if field.quoted else BUILTINS.get(field.name)


def check(node: Node, expression: str, type_of: Callable[[Field], str] | None = None) -> None:
    """Raise FilterError for the leftmost test that is invalid.

    type_of, when given, returns the type of the property a test names (raising FilterError
    when it is not declared); it is called just before that test is checked, so that an
    unknown field is reported in text order with other problems.
    """
    if isinstance(node, (Test, Truth)):
        kind = _kind(node.field, type_of)
        if isinstance(node, Test):
            _check_test(node, kind, expression)
        else:
            _check_truth(node, kind, expression)
    elif isinstance(node, Not):
        check(node.operand, expression, type_of)
    elif isinstance(node, (And, Or)):
        for operand in node.operands:
            check(operand, expression, type_of)


def _kind(field: Field, type_of: Callable[[Field], str] | None) -> str:
    """A built-in's kind; `property:TYPE` for a declared property; `property` when unknown."""
    known = builtin(field)
    if known is not None:
        return known.kind
    return f"property:{type_of(field)}" if type_of is not None else "property"


def _check_truth(node: Truth, kind: str, expression: str) -> None:
    if kind in ("bool", "property", "property:boolean"):
        return
    name = node.field.shown
    if kind.startswith("property:"):
        ptype = kind.split(":")[1]
        example = f"{name} {PROPERTY_EXAMPLE[ptype]}"
        message = f"{name} is a {ptype} property, not true or false: compare it, e.g. {example}"
    else:
        message = f"'{name}' alone is not a test: compare it, e.g. {_EXAMPLE[kind].format(name=name)}"
    raise FilterError(message, expression, node.field.position)


def _check_test(test: Test, kind: str, expression: str) -> None:
    def fail(message: str, position: int) -> NoReturn:
        raise FilterError(message, expression, position)

    if kind.startswith("property:"):
        _check_property_test(test, kind.split(":")[1], fail)
        return
    name = test.field.shown
    op = test.op

    # The operator, whatever the value.
    if kind == "tags":
        if op not in ("contains", "in", "not in", "exists"):
            fail(f"'{op}' does not apply to 'tags', a set of tag names: {_TAGS_HINT}", test.op_position)
    elif op in MATCHES and kind in _WHAT:
        fail(f"'{op}' works on text, but '{name}' is {_WHAT[kind]}", test.op_position)
    elif kind == "bool" and op in ORDERINGS:
        fail(f"'{op}' does not apply to '{name}', which is true or false: write {name} or not {name}", test.op_position)
    elif kind == "bool" and op == "exists":
        fail(f"'{name}' is always true or false: write {name} or not {name}", test.op_position)
    elif kind == "count" and op == "exists":
        fail(f"'{name}' is a count, always present: write {name} > 0", test.op_position)

    for value in test.values:
        _check_value(test, kind, name, value, fail)


def _check_value(test: Test, kind: str, name: str, value: Value, fail: Callable[[str, int], NoReturn]) -> None:
    op = test.op
    if value.kind == "now" and kind != "time":
        fail(NOW_ONLY, value.position)
    if op in MATCHES:
        if value.kind != "string":
            fail(f"'{op}' needs a quoted string", value.position)
        return
    if kind in ("text", "email", "tags") and value.kind != "string":
        example = f' such as "{value.text}"' if value.kind == "number" else ""
        fail(f"'{name}' is text: compare it with a quoted string{example}", value.position)
    elif kind in ("number", "count") and value.kind != "number":
        fail(f"'{name}' is {_WHAT[kind]}: compare it with a number", value.position)
    elif kind == "bool" and value.kind != "bool":
        fail(f"'{name}' is true or false: compare it with true or false", value.position)
    elif kind == "time":
        if value.kind == "string":
            _check_time_literal(value, fail)
        elif value.kind != "now":
            fail(f"'{name}' is a time: compare it with a date such as \"2026-01-31\" or with now - 30d", value.position)
    elif kind == "property" and value.kind == "bool" and op in ORDERINGS:
        fail(f"true and false can only be compared with ==, != or in, not '{op}'", value.position)


# Properties: the operators and literals of each type ------------------------------------

NOW_ONLY = f"now can only be compared with dates: {', '.join(TIME_FIELDS)} and date properties"
_COMPARISONS = ("==", "!=", *ORDERINGS)
PROPERTY_OPERATORS = {
    "text": (*_COMPARISONS, *MATCHES, "in", "not in", "exists"),
    "number": (*_COMPARISONS, "in", "not in", "exists"),
    "boolean": ("==", "!=", "exists"),
    "date": (*_COMPARISONS, "exists"),
}
PROPERTY_EXAMPLE = {"text": '== "..."', "number": "> 0", "boolean": "== true", "date": "> now - 30d"}
_LITERAL = {"text": "string", "number": "number", "boolean": "bool"}


def _check_property_test(test: Test, ptype: str, fail: Callable[[str, int], NoReturn]) -> None:
    name, op = test.field.shown, test.op
    if op not in PROPERTY_OPERATORS[ptype]:
        hint = f": write {name} or not {name}" if ptype == "boolean" else ""
        fail(f"'{op}' does not apply to {name}, a {ptype} property{hint}", test.op_position)
    for value in test.values:
        if value.kind == "now" and ptype != "date":
            fail(NOW_ONLY, value.position)
        if op in MATCHES and value.kind != "string":
            fail(f"'{op}' needs a quoted string", value.position)
        if ptype == "date":
            if value.kind == "string":
                _check_time_literal(value, fail)
            elif value.kind != "now":
                fail(
                    f'{name} is a date property: write a date such as "2027-01-31" or now - 30d, not {value.text}',
                    value.position,
                )
        elif value.kind != _LITERAL[ptype]:
            fail(f"{name} is a {ptype} property: write {_written_as(ptype, value)}, not {value.text}", value.position)


def _written_as(ptype: str, value: Value) -> str:
    """The literal the user probably meant, written for the property's type."""
    if ptype == "text":
        text = value.text if value.kind != "string" else str(value.value)
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value.kind in ("string", "number", "bool"):
        raw = str(value.value).lower() if value.kind == "bool" else str(value.value)
        try:
            parsed = value_types.parse(ptype, raw)
        except value_types.Unfit:
            parsed = None
        if parsed is not None and value.kind == "string":
            return ("true" if parsed else "false") if ptype == "boolean" else value_types.number_text(parsed)
        if parsed is not None and ptype == "boolean":
            return "true" if parsed else "false"
    return "true or false" if ptype == "boolean" else "a number"


_FRACTION = re.compile(r"\d:\d\d[.,]\d")


def _check_time_literal(value: Value, fail: Callable[[str, int], NoReturn]) -> None:
    try:
        clock.parse_time(value.string)
    except ValueError as exc:
        if "out of range" in str(exc):
            fail(f"date out of range: {value.text}", value.position)
        fail(
            f'not a date or time: {value.text} (write ISO-8601 such as "2026-01-31" '
            'or "2026-01-31T09:30:00Z", or now - 30d)',
            value.position,
        )
    if _FRACTION.search(value.string):
        # Stored times have whole seconds; a truncated fraction would shift <, >= and ==.
        fail(f"times are stored to the second: drop the fraction in {value.text}", value.position)
