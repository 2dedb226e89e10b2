"""The four property types: what each accepts on input, how it is stored, and inference.

    type     accepts                                          stored as
    text     any text that is not blank; a number as its text  str
    number   integers (64-bit) and decimals (finite doubles)   int or float
    boolean  true false yes no 1 0, any case                   1 or 0
    date     ISO-8601 date or date-time, any offset            str, UTC YYYY-MM-DDTHH:MM:SSZ

Every way in (the command line, CSV cells, JSON values, flow files) ends in `parse`, so a
value means the same whichever way it arrives. Pure Python: the store registers `convert`
as an SQL function for retyping and migrating, so SQL and Python agree on every value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from crmctl import clock

TYPES = ("text", "number", "boolean", "date")
TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})
INT64 = (-(2**63), 2**63 - 1)

# Decimal numbers as people and programs write them: 42, -7, 2.5, .5, 1e6, 6.02e+23.
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INTEGER = re.compile(r"[-+]?[0-9]+")
# ISO-8601 in its extended form only: 20261231 is an order number far more often than a date.
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_STORED_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")

ARTICLE = {"text": "a text", "number": "a number", "boolean": "a boolean", "date": "a date"}
EXAMPLE = {"text": '"…"', "number": "50", "boolean": "true", "date": '"2027-01-31"'}


class Unfit(ValueError):
    """A value that does not fit a type; the message says why, without naming the property."""


def parse(kind: str, value: Any) -> Any:
    """`value` (text from a command line or CSV cell, or a JSON scalar) in kind's stored form.

    Raises Unfit. Blank text is no value at all: callers treat it as missing or refuse it."""
    if isinstance(value, str):
        return _from_text(kind, value)
    if isinstance(value, bool):
        if kind == "boolean":
            return int(value)
        if kind == "text":
            return "true" if value else "false"
        raise Unfit(f"{value!r} is true/false, not {_noun(kind)}".replace("True", "true").replace("False", "false"))
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise Unfit(f"{value} is out of the 64-bit integer range")
        if kind == "number":
            return value
        if kind == "text":
            return str(value)
        if kind == "boolean" and value in (0, 1):
            return value
        raise Unfit(f"{value} is a number, not {_noun(kind)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Unfit(f"{value} is not a finite number")
        if kind == "number":
            return value
        if kind == "text":
            return number_text(value)
        raise Unfit(f"{number_text(value)} is a number, not {_noun(kind)}")
    raise Unfit(f"expected text, a number or true/false, not {type(value).__name__}")


def _from_text(kind: str, text: str) -> Any:
    if not text.strip():
        raise Unfit("an empty value is no value")
    if kind == "text":
        return text
    word = text.strip()
    if kind == "number":
        return parse_number(word)
    if kind == "boolean":
        lowered = word.lower()
        if lowered in TRUE_WORDS or lowered in FALSE_WORDS:
            return int(lowered in TRUE_WORDS)
        raise Unfit(f"{_shown(word)} is not true, false, yes, no, 1 or 0")
    if kind == "date":
        return parse_date(word)
    raise Unfit(f"unknown type {kind!r}")


def parse_number(word: str) -> int | float:
    if not _NUMBER.fullmatch(word):
        raise Unfit(f"{_shown(word)} is not a number")
    if _INTEGER.fullmatch(word):
        if len(word.lstrip("+-").lstrip("0")) > 19:  # before int(): no 4300-digit surprises
            raise Unfit(f"{_shown(word)} is out of the 64-bit integer range")
        number = int(word)
        if not INT64[0] <= number <= INT64[1]:
            raise Unfit(f"{_shown(word)} is out of the 64-bit integer range")
        return number
    value = float(word)
    if not math.isfinite(value):
        raise Unfit(f"{_shown(word)} is out of the double range")
    return value


def parse_date(word: str) -> str:
    if _STORED_DATE.fullmatch(word):
        try:
            clock.parse_time(word)
            return word
        except ValueError:
            pass
    if not _ISO.fullmatch(word):
        raise Unfit(f"{_shown(word)} is not an ISO-8601 date or time (such as 2027-01-31 or 2027-01-31T09:30:00Z)")
    try:
        return clock.normalise_time(word)
    except ValueError:
        raise Unfit(f"{_shown(word)} is not a valid date or time") from None


def number_text(value: int | float) -> str:
    """The shortest text that reads back as the same number (repr, never 15 digits)."""
    return repr(value) if isinstance(value, float) else str(value)


def convert(kind: str, value: Any) -> Any:
    """A stored value (of any type) in kind's stored form, for retype; raises Unfit.

    Booleans are stored as 1/0, so a stored 1 becomes "true" as text, not "1"; a number
    becomes a boolean only when it is 0 or 1."""
    if value is None:
        return None
    if isinstance(value, bytes):
        raise Unfit("binary data fits no property type")
    return parse(kind, value)


def convert_from(source: str, kind: str, value: Any) -> Any:
    """A value of property type `source` converted to `kind` (booleans render as words)."""
    if source == "boolean" and kind == "text" and value in (0, 1):
        return "true" if value else "false"
    if source == "date" and kind == "number":
        raise Unfit(f"{value} is a date, not a number")
    return convert(kind, value)


def fits(kind: str, value: Any) -> bool:
    try:
        parse(kind, value)
    except Unfit:
        return False
    return True


class Inference:
    """The type of a column of values seen one at a time, from where the values come from:

    `json`    JSON's own types decide: true/false is boolean, a number is number, a string is
              a date when every one is an ISO-8601 time, else text ("42" stays text).
    `text`    CSV cells: boolean when every value is true/false/yes/no/1/0, else number when
              every value is plainly a number (no leading zero or plus sign, so "007" and
              "+44 20…" stay text), else date, else text.
    `stored`  values already stored before types (the migration): numbers that are all 0 or
              1 are booleans (how booleans were stored), other numbers number; stored text is
              never a number nor 1/0, and a time with a fraction of a second stays text, so
              inferring a type never changes a value's meaning.
    """

    def __init__(self, source: str = "text"):
        self.candidates = {"boolean", "number", "date"}
        self.source = source
        self.seen = 0

    def add(self, value: Any) -> None:
        if value is None:
            return
        self.seen += 1
        for kind in list(self.candidates):
            if not self._fits(kind, value):
                self.candidates.discard(kind)

    def extend(self, values: Iterable[Any]) -> Inference:
        for value in values:
            self.add(value)
        return self

    @property
    def kind(self) -> str:
        if not self.seen:
            return "text"
        return next((kind for kind in ("boolean", "number", "date") if kind in self.candidates), "text")

    def _fits(self, kind: str, value: Any) -> bool:
        if self.source == "json":
            if isinstance(value, bool):
                return kind == "boolean"
            if isinstance(value, (int, float)):
                return kind == "number" and fits(kind, value)
            return kind == "date" and isinstance(value, str) and fits(kind, value)
        if isinstance(value, str):
            word = value.strip()
            if kind == "number" and (self.source == "stored" or not _PLAIN_NUMBER.fullmatch(word)):
                return False
            if kind == "boolean" and self.source == "stored" and word in ("1", "0"):
                return False
            if kind == "date" and self.source == "stored" and _FRACTION.search(word):
                return False
        return fits(kind, value)


_PLAIN_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_FRACTION = re.compile(r":[0-9]{2}[.,][0-9]*[1-9]")


def _noun(kind: str) -> str:
    return {"text": "text", "number": "a number", "boolean": "true or false", "date": "a date"}[kind]


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")
