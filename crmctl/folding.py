"""THE case rule: one folding for names and emails, everywhere.

    fold(s) = NFC(casefold(NFD(s)))

is Unicode full case folding (so "MÜLLER" and "müller" are one name, and so are "STRASSE"
and "straße") applied to canonically decomposed text and recomposed afterwards, so that a
decomposed "é" and a precomposed one are also one name. Two emails, or two tag names, are
the same when their folds are equal: the contacts and tags tables keep each fold in an
indexed key column (`email_key`, `name_key`, unique), which lookups (-c EMAIL, tag names),
the import upsert key, catalog uniqueness and suppression all use. The filter language's
`contains`, `startswith` and `endswith` compare folded text too (crmctl.query.folding).

SQLite's own lower()/NOCASE fold only ASCII, so the rule runs in Python, registered on
every connection as the deterministic SQL function crmctl_fold().
"""

from __future__ import annotations

import sqlite3
import unicodedata
from functools import lru_cache

FOLD = "crmctl_fold"


@lru_cache(maxsize=8192)
def _fold_non_ascii(text: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    return _fold_non_ascii(text)


def _sql_fold(value: object) -> str | None:
    return fold(value) if isinstance(value, str) else None


def register(conn: sqlite3.Connection) -> None:
    """crmctl_fold() on this connection: the key columns' triggers call it."""
    conn.create_function(FOLD, 1, _sql_fold, deterministic=True)
