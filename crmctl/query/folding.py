"""Caseless text matching, shared by the compiled SQL and anything that must agree with it.

`contains`, `startswith`, `endswith` and tag names compare *folded* text, where

    fold(s) = NFC(casefold(NFD(s)))

is Unicode full case folding (so "MÜLLER" matches "müller" and "STRASSE" matches "straße")
applied to canonically decomposed text, recomposed afterwards so that a needle such as "e"
does not match the base letter of a decomposed "é". SQLite's own lower()/NOCASE only fold
ASCII, so the folding runs in Python, registered on the connection as deterministic SQL
functions. Only the stored side is folded in SQL: needles are folded once, when compiling.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from sqlite_utils import Database

FOLD = "crmctl_fold"
CONTAINS = "crmctl_contains"
STARTSWITH = "crmctl_startswith"
ENDSWITH = "crmctl_endswith"

MATCH_FUNCTIONS = {"contains": CONTAINS, "startswith": STARTSWITH, "endswith": ENDSWITH}


@lru_cache(maxsize=8192)
def _fold_non_ascii(text: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    return _fold_non_ascii(text)


def _sql_fold(value: object) -> object:
    return fold(value) if isinstance(value, str) else None


# The matchers take an already folded needle; they are false (0), never NULL, for a NULL,
# a number or a blob: text operators only ever match text.
def _sql_contains(value: object, needle: str) -> int:
    return int(isinstance(value, str) and needle in fold(value))


def _sql_startswith(value: object, needle: str) -> int:
    return int(isinstance(value, str) and fold(value).startswith(needle))


def _sql_endswith(value: object, needle: str) -> int:
    return int(isinstance(value, str) and fold(value).endswith(needle))


def register(db: Database) -> None:
    """Make the folding functions available on db's connection (idempotent)."""
    for name, function in (
        (FOLD, _sql_fold),
        (CONTAINS, _sql_contains),
        (STARTSWITH, _sql_startswith),
        (ENDSWITH, _sql_endswith),
    ):
        db.register_function(function, deterministic=True, name=name)
