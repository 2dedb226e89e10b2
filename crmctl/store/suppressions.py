"""Suppressed addresses: `delete --suppress` remembers HMAC-SHA256(key, folded email) of each
erased contact, never the email itself, so a later import can recognise the address and refuse it.

The key is random, made once per database by its migration and kept in `meta`; without it
the digests cannot be tested against a list of guessed addresses. SQLite computes the
digests through a function registered on the connection, so the checks stay set-based.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlite_utils import Database

from crmctl.folding import fold
from crmctl.store.scopes import _checked

KEY = "suppression_key"
_FUNCTION = "crmctl_suppression_digest"


def digest(key: bytes, email: str) -> str:
    """Of the address folded by the one case rule (crmctl.folding): the addresses that are one
    contact under that rule are one suppressed address."""
    return hmac.new(key, fold(email.strip()).encode("utf-8"), hashlib.sha256).hexdigest()


def _register(db: Database) -> str:
    key = bytes.fromhex(db.execute("SELECT value FROM meta WHERE key = ?", [KEY]).fetchone()[0])
    db.conn.create_function(_FUNCTION, 1, lambda email: digest(key, email), deterministic=True)
    return _FUNCTION


def suppress(db: Database, scope: str, now: str) -> None:
    """Remember the addresses of the contacts in scope (before they are deleted)."""
    function = _register(db)
    db.execute(
        f"INSERT OR IGNORE INTO suppressions(digest, created_at) SELECT {function}(c.email), ? "
        f"FROM temp.{_checked(scope)} AS s CROSS JOIN contacts AS c ON c.id = s.id",
        [now],
    )


def count(db: Database) -> int:
    return db.execute("SELECT count(*) FROM suppressions").fetchone()[0]


# Imports: the staged rows of crmctl.store.imports --------------------------------------------

_STAGED = "FROM temp.import_rows WHERE {function}(email) IN (SELECT digest FROM suppressions)"


def staged_matches(db: Database, limit: int) -> tuple[list[tuple[int, str]], int]:
    """(pos, label) of the first `limit` staged rows whose address is suppressed; and their number."""
    if not count(db):
        return [], 0
    where = _STAGED.format(function=_register(db))
    total = db.execute(f"SELECT count(*) {where}").fetchone()[0]
    shown = db.execute(f"SELECT pos, label {where} ORDER BY pos LIMIT ?", [limit]).fetchall() if total else []
    return shown, total


def drop_staged_matches(db: Database) -> None:
    """Take the suppressed rows out of the import (the caller then drops their orphans)."""
    db.execute(f"DELETE {_STAGED.format(function=_register(db))}")


def forget_staged(db: Database) -> int:
    """--allow-suppressed: the staged addresses are wanted again; forget their suppression."""
    if not count(db):
        return 0
    function = _register(db)
    cursor = db.execute(f"DELETE FROM suppressions WHERE digest IN (SELECT {function}(email) FROM temp.import_rows)")
    return cursor.rowcount


def is_suppressed(db: Database, email: str) -> bool:
    """Whether one address was erased with `delete --suppress` (for `contact add`)."""
    key = bytes.fromhex(db.execute("SELECT value FROM meta WHERE key = ?", [KEY]).fetchone()[0])
    found = db.execute("SELECT 1 FROM suppressions WHERE digest = ?", [digest(key, email)]).fetchone()
    return found is not None
