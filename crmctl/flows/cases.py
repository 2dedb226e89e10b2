"""A `switch`'s field and its cases: what type the field has, what each case label means
for that type, and the filter test a case stands for.

    kind = field_type(db, "plan")                       # "text", "number", "time", …
    value = case_value(kind, "trial", "str")            # typed, or ValueError with the reason
    condition_text("plan", value)                       # 'plan == "trial"'

`field_type` is the one place that decides a field's type. Built-in fields have theirs
(`crmctl.query.fields`); a property has its declared type (`crmctl.properties`): text,
number, boolean (like `blocked`) or date (like the built-in times).

A case label is read by the field's type, from the text as written in the file, so YAML's
own guesses never change a value: on a text field `NO` is the text "NO" and `10` the text
"10"; on a number field `10` is 10 and `ten` is an error; on a time field `2026-01-31` is
that day; `blocked` and boolean properties take true and false.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from crmctl import clock
from crmctl.errors import FilterError

# Field types a switch knows. "mixed": a property whose type cannot be told (no database to
# read the catalog from); its labels are numbers when written as numbers, else text.
TEXT, EMAIL, NUMBER, TIME, BOOL, MIXED = "text", "email", "number", "time", "bool", "mixed"
_WHAT = {TEXT: "text", EMAIL: "an email address", NUMBER: "a number", TIME: "a time", BOOL: "true or false"}

# Numbers as the filter language writes them.
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_INT64_MAX = 2**63 - 1


def field_reference(text: str) -> tuple[str, bool]:
    """(name, is_attribute_form) of a field written as the filter language writes one: a plain
    name (`plan`, `created_at`) or `attr("any key")`. Raises ValueError otherwise."""
    from crmctl.query.lexer import tokenize

    try:
        tokens = tokenize(text)
    except FilterError as exc:
        raise ValueError(f"not a field name: {exc.reason}") from None
    if len(tokens) == 2 and tokens[0].kind == "name":
        return tokens[0].text, False
    if (
        len(tokens) == 5
        and tokens[0].kind == "name"
        and tokens[0].text.lower() == "attr"
        and tokens[1].is_punct("(")
        and tokens[2].kind == "string"
        and tokens[2].value
        and tokens[3].is_punct(")")
    ):
        return tokens[2].value, True
    raise ValueError(f'{text!r} is not a field name: write a name such as plan, or attr("first name")')


def field_type(db, text: str) -> str:
    """The type of the field `text` names. With a database, an undeclared property raises
    FilterError (with a "did you mean"); without one, a property's type is MIXED. `tags` cannot
    be switched on (a contact has several): ValueError."""
    from crmctl.query.fields import BUILTINS

    name, quoted = field_reference(text)
    builtin = None if quoted else BUILTINS.get(name)
    if builtin is not None:
        if builtin.kind == "tags":
            raise ValueError('a contact has several tags: branch on them with `if: tags contains "…"`')
        return {"email": EMAIL, "text": TEXT, "time": TIME, "bool": BOOL}.get(builtin.kind, NUMBER)
    if db is None:
        return MIXED
    from crmctl.query import value_expression

    value_expression(db, text)  # FilterError for an undeclared property
    from crmctl.properties import Catalog

    found = Catalog.load(db).get(name)
    assert found is not None
    return {"text": TEXT, "number": NUMBER, "boolean": BOOL, "date": TIME}[found.type]


def case_value(kind: str, label: str, written_as: str) -> Any:
    """The value a case label stands for on a field of type `kind`. `label` is the key's text as
    written; `written_as` what YAML would read it as (str, int, float, bool, null, timestamp;
    quoted labels are always str). Raises ValueError saying why the label does not fit."""
    if written_as == "null":
        raise ValueError(f"case {label!r} is no value: contacts without one go to `default`")
    if kind in (TEXT, EMAIL):
        return label
    if kind == TIME:
        try:
            return clock.normalise_time(label)
        except ValueError:
            raise ValueError(f"case {label!r} is not a time: write a date such as 2026-01-31") from None
    plain = written_as != "str"  # not quoted
    if kind == BOOL:
        if not (plain and label.lower() in ("true", "false")):
            raise ValueError(f"case {label!r} is not true or false")
        return label.lower() == "true"
    if plain and _NUMBER.fullmatch(label):
        if "." in label:
            return float(label)
        if len(label.lstrip("+-0")) > len(str(_INT64_MAX)) or abs(int(label)) > _INT64_MAX:
            raise ValueError(f"case {label!r} is out of range for a number")
        return int(label)
    if kind == NUMBER:
        hint = " (write it without quotes)" if _NUMBER.fullmatch(label) else ""
        raise ValueError(f"case {label!r} is not a number{hint}")
    return label  # MIXED: anything not written as a number is text


def same_case(kind: str, value: Any) -> Any:
    """A value's identity among a switch's cases: 1 and 1.0 are one case; emails ignore case
    as the contacts table does (ASCII letters)."""
    if kind == EMAIL:
        return value.translate(_ASCII_LOWER)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ("number", float(value))
    return (type(value).__name__, value)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def condition_text(field_text: str, value: Any) -> str:
    """The filter test a case stands for: `field == value`, in the filter language."""
    return f"{field_text} == {_literal(value)}"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def describe(kind: str) -> str:
    return _WHAT.get(kind, "text or a number")
