"""Caseless text matching, shared by the compiled SQL and anything that must agree with it.

`contains`, `startswith`, `endswith`, emails and tag names compare *folded* text, by the one
case rule of crmctl.folding (re-exported here as `fold`):

    fold(s) = NFC(casefold(NFD(s)))

so "MÜLLER" matches "müller" and "STRASSE" matches "straße", and a needle such as "e" does
not match the base letter of a decomposed "é". Emails and tag names are compared through
their stored, indexed keys; the matchers fold the stored side in SQL, through functions
registered on the connection. Needles are folded once, when compiling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmctl.folding import FOLD, _sql_fold, fold

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["CONTAINS", "ENDSWITH", "FOLD", "MATCH_FUNCTIONS", "STARTSWITH", "fold", "register"]

CONTAINS = "crmctl_contains"
STARTSWITH = "crmctl_startswith"
ENDSWITH = "crmctl_endswith"

MATCH_FUNCTIONS = {"contains": CONTAINS, "startswith": STARTSWITH, "endswith": ENDSWITH}


# The matchers take an already folded needle; they are false (0), never NULL, for a NULL,
# a number or a blob: text operators only ever match text.
def _sql_contains(value: object, needle: str) -> int:
    return int(isinstance(value, str) and needle in fold(value))


def _sql_startswith(value: object, needle: str) -> int:
    return int(isinstance(value, str) and fold(value).startswith(needle))


def _sql_endswith(value: object, needle: str) -> int:
    return int(isinstance(value, str) and fold(value).endswith(needle))


def register(db: Database) -> None:
    """Make the folding functions available on db's connection (idempotent). PostgreSQL has
    crmctl_fold as a function of the schema (crmctl.store.pg.functions), and the compiler
    writes the matchers in SQL there."""
    if getattr(db, "dialect", "sqlite") == "postgresql":
        return
    for name, function in (
        (FOLD, _sql_fold),
        (CONTAINS, _sql_contains),
        (STARTSWITH, _sql_startswith),
        (ENDSWITH, _sql_endswith),
    ):
        db.register_function(function, deterministic=True, name=name)
