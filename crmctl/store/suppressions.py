"""Suppressed addresses: `delete --suppress` remembers HMAC-SHA256(key, folded email) of each
erased contact, never the email itself, so a later import can recognise the address and refuse it.

The key is random, made once per database by its migration and kept in `meta`; without it
the digests cannot be tested against a list of guessed addresses. SQLite computes the
digests through a function registered on the connection, PostgreSQL through an SQL function
over its sha256(), so the checks stay set-based.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from crmctl.folding import fold
from crmctl.store.pg import is_postgres
from crmctl.store.scopes import _checked

if TYPE_CHECKING:
    from sqlite_utils import Database

KEY = "suppression_key"
_FUNCTION = "crmctl_suppression_digest"


def digest(key: bytes, email: str) -> str:
    """Of the address folded by the one case rule (crmctl.folding): the addresses that are one
    contact under that rule are one suppressed address."""
    return hmac.new(key, fold(email.strip()).encode("utf-8"), hashlib.sha256).hexdigest()


def _key(db: Database) -> bytes:
    return bytes.fromhex(db.execute("SELECT value FROM meta WHERE key = ?", [KEY]).fetchone()[0])


def _digest_of(db: Database, column: str) -> tuple[str, list]:
    """SQL for the digest of `column`, and its parameters. SQLite calls a Python function
    registered on the connection; PostgreSQL its SQL function over sha256() (crmctl.store.pg.functions),
    given the key's HMAC pads."""
    if is_postgres(db):
        from crmctl.store.pg.functions import suppression_pads

        key_hex = db.execute("SELECT value FROM meta WHERE key = ?", [KEY]).fetchone()[0]
        return f"{_FUNCTION}(?, ?, {column})", list(suppression_pads(key_hex))
    key = _key(db)
    db.conn.create_function(_FUNCTION, 1, lambda email: digest(key, email), deterministic=True)
    return f"{_FUNCTION}({column})", []


def suppress(db: Database, scope: str, now: str) -> None:
    """Remember the addresses of the contacts in scope (before they are deleted)."""
    from crmctl.store.contacts import scope_join

    function, params = _digest_of(db, "c.email")
    db.execute(
        f"INSERT OR IGNORE INTO suppressions(digest, created_at) SELECT {function}, ? "
        f"FROM temp.{_checked(scope)} AS s {scope_join(db)} contacts AS c ON c.id = s.id",
        [*params, now],
    )


def count(db: Database) -> int:
    return db.execute("SELECT count(*) FROM suppressions").fetchone()[0]


# Imports: the staged rows of crmctl.store.imports --------------------------------------------


def _staged(db: Database) -> tuple[str, list]:
    function, params = _digest_of(db, "email")
    return f"FROM temp.import_rows WHERE {function} IN (SELECT digest FROM suppressions)", params


def staged_matches(db: Database, limit: int) -> tuple[list[tuple[int, str]], int]:
    """(pos, label) of the first `limit` staged rows whose address is suppressed; and their number."""
    if not count(db):
        return [], 0
    where, params = _staged(db)
    total = db.execute(f"SELECT count(*) {where}", params).fetchone()[0]
    shown = db.execute(f"SELECT pos, label {where} ORDER BY pos LIMIT ?", [*params, limit]).fetchall() if total else []
    return [(pos, label) for pos, label in shown], total


def drop_staged_matches(db: Database) -> None:
    """Take the suppressed rows out of the import (the caller then drops their orphans)."""
    where, params = _staged(db)
    db.execute(f"DELETE {where}", params)


def forget_staged(db: Database) -> int:
    """--allow-suppressed: the staged addresses are wanted again; forget their suppression."""
    if not count(db):
        return 0
    function, params = _digest_of(db, "email")
    cursor = db.execute(f"DELETE FROM suppressions WHERE digest IN (SELECT {function} FROM temp.import_rows)", params)
    return cursor.rowcount


def is_suppressed(db: Database, email: str) -> bool:
    """Whether one address was erased with `delete --suppress` (for `contact add`)."""
    found = db.execute("SELECT 1 FROM suppressions WHERE digest = ?", [digest(_key(db), email)]).fetchone()
    return found is not None
