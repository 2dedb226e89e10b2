"""Tokens of the filter language, each with its 0-based column.

The lexer never raises: a problem becomes an 'error' token carrying its message, and the
parser raises it only when it reaches that token, so the leftmost problem is the one reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

KEYWORDS = frozenset({"and", "or", "not", "in", "exists", "contains", "startswith", "endswith", "true", "false", "now"})
DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Whole durations beyond this many of a unit cannot be added to a date anyway.
DURATION_MAX = {"m": 10**10, "h": 10**9, "d": 10**7, "w": 10**6}
INT64_MAX = 2**63 - 1

NAME = re.compile(r"[^\W\d]\w*(?:\.\w+)*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# Slips the lexer recognises whole, to say what to write instead.
_BARE_DATE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_EXPONENT = re.compile(r"[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]+(?![\w.])")
_SUFFIX = re.compile(r"\w+")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_PUNCTUATION = "()[],+-"
_MISTAKES = {
    "<>": "'<>' is not an operator: use '!='",
    "&&": "'&&' is not an operator: use 'and'",
    "||": "'||' is not an operator: use 'or'",
    "=": "'=' is not an operator: use '==' to compare",
    "!": "'!' is not an operator: use 'not' or '!='",
    "&": "'&' is not an operator: use 'and'",
    "|": "'|' is not an operator: use 'or'",
}
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}


@dataclass(frozen=True)
class Token:
    """kind: name, keyword, string, number, duration, date, op, punct, end or error.

    A `date` is an unquoted date (`2026-01-01`): never valid, but the parser knows the
    field and operator to show in its hint.

    text is the source text; value is the decoded value (the lower-cased keyword, the
    string's contents, the number, the duration as a timedelta, or an error's message).
    """

    kind: str
    text: str
    position: int
    value: Any = None

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "keyword" and self.value in words

    def is_punct(self, *marks: str) -> bool:
        return self.kind == "punct" and self.text in marks

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the expression"
        shown = self.text if len(self.text) <= 30 else self.text[:29] + "…"
        if self.kind == "string":
            return f"the string {shown}"
        if self.kind == "number":
            return f"the number {shown}"
        return f"'{shown}'"


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, length = 0, len(text)
    while i < length:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char in "\"'":
            token = _string(text, i)
        elif date := _BARE_DATE.match(text, i):
            token = Token("date", date.group(), i)
        elif exponent := _EXPONENT.match(text, i):
            token = _exponent(exponent.group(), i)
        elif number := _NUMBER.match(text, i):
            token = _number(number.group(), text, i)
        elif name := NAME.match(text, i):
            word = name.group()
            lowered = word.lower()
            if lowered in KEYWORDS:
                token = Token("keyword", word, i, lowered)
            else:
                token = Token("name", word, i, word)
        else:
            token = _symbol(text, i)
        tokens.append(token)
        i = token.position + len(token.text)
    tokens.append(Token("end", "", length))
    return tokens


def _symbol(text: str, i: int) -> Token:
    for mistake in ("<>", "&&", "||"):
        if text.startswith(mistake, i):
            return Token("error", mistake, i, _MISTAKES[mistake])
    for operator in _OPERATORS:
        if text.startswith(operator, i):
            return Token("op", operator, i, operator)
    char = text[i]
    if char in _PUNCTUATION:
        return Token("punct", char, i, char)
    if char in _MISTAKES:
        return Token("error", char, i, _MISTAKES[char])
    if char == "`":
        message = "unexpected '`': write a property name that is not a plain name as attr(\"first name\")"
    elif char.isprintable():
        message = f"unexpected character '{char}'"
    else:
        message = f"unexpected character {char!r}"
    return Token("error", char, i, message)


def _string(text: str, start: int) -> Token:
    quote = text[start]
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return Token("string", text[start : i + 1], start, "".join(chars))
        if char == "\\":
            if i + 1 >= len(text):
                break
            escaped = text[i + 1]
            if escaped not in _ESCAPES:
                shown = "\\" + escaped
                return Token(
                    "error",
                    text[i:],
                    i,
                    f"unknown escape '{shown}' in a string: write '\\\\' for a backslash",
                )
            chars.append(_ESCAPES[escaped])
            i += 2
            continue
        chars.append(char)
        i += 1
    return Token("error", text[start:], start, "unterminated string: add the closing " + quote)


def _number(digits: str, text: str, start: int) -> Token:
    suffix_match = _SUFFIX.match(text, start + len(digits))
    if suffix_match:
        return _duration(digits, suffix_match.group(), start)
    if "." in digits:
        return Token("number", digits, start, float(digits))
    # More than 19 significant digits is out of range, and int() refuses over 4300 of them.
    if len(digits.lstrip("0")) > len(str(INT64_MAX)) or int(digits) > INT64_MAX:
        shown = digits if len(digits) <= 30 else digits[:29] + "…"
        return Token("error", digits, start, f"number out of range: {shown}")
    return Token("number", digits, start, int(digits))


def _exponent(text: str, start: int) -> Token:
    """`1e5`: the language has no exponents; say how the number is written."""
    from decimal import Decimal

    exponent = int(re.split("[eE]", text)[1])
    if abs(exponent) > 30:
        return Token("error", text, start, f"numbers are written without exponents, not {text}")
    written = format(Decimal(text).normalize(), "f")
    return Token("error", text, start, f"numbers are written {written}, not {text}")


def _duration(digits: str, unit: str, start: int) -> Token:
    text = digits + unit
    if unit not in DURATION_UNITS:
        return Token(
            "error",
            text,
            start,
            f"unknown duration unit '{unit}' in '{text}': use m (minutes), h (hours), d (days) or w (weeks)",
        )
    if "." in digits:
        return Token("error", text, start, f"a duration is a whole number followed by m, h, d or w, not '{text}'")
    if len(digits.lstrip("0")) > 12 or int(digits) > DURATION_MAX[unit]:
        return Token("error", text, start, f"duration out of range: {text[:30]}")
    return Token("duration", text, start, timedelta(**{DURATION_UNITS[unit]: int(digits)}))
