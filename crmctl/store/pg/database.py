"""PgDatabase: the PostgreSQL handle, with the part of sqlite-utils' Database API the store uses.

The connection is in autocommit mode, as sqlite-utils runs SQLite: a statement outside a
transaction commits by itself; `crmctl.store.transaction` (BEGIN … COMMIT) and `atomic()`
(BEGIN, or a savepoint inside a transaction) group statements. Every statement goes through
the token-level translation of crmctl.store.pg.translate.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from crmctl.store.connection import DEFAULT_LOCK_TIMEOUT
from crmctl.store.pg.translate import translate
from crmctl.store.pg.url import PgLocation

if TYPE_CHECKING:
    import psycopg


class PgDatabase:
    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection, location: PgLocation, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT):
        self.conn = conn
        self.location = location
        self.schema = location.schema
        self.lock_timeout = lock_timeout
        # What migrations want the operator told (as CrmDatabase.migration_notes).
        self.migration_notes: list[str] = []

    def __repr__(self) -> str:
        return f"<PgDatabase {self.location}>"

    def __enter__(self) -> PgDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()  # as sqlite-utils' Database: the block's end closes the connection

    # Statements

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> psycopg.Cursor:
        translated = translate(sql)
        if translated.plain is not None and not params:
            # No placeholders and nothing to bind: the simple protocol (several statements may run).
            return self.conn.execute(translated.plain.encode(), prepare=False)  # type: ignore[call-overload]
        return self.conn.execute(translated.text, translated.arguments(params))  # type: ignore[call-overload]

    def stream(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None, size: int = 1000
    ) -> Iterator[list[Any]]:
        """The rows of a query, `size` at a time, from a server-side (named) cursor: flat client
        memory however many rows. A named cursor lives in a transaction: the caller's, else one
        opened (read only in effect, committed) for the iteration."""
        if not self.in_transaction:
            with self.atomic():
                yield from self.stream(sql, params, size)
            return
        translated = translate(sql)
        cursor = self.conn.cursor(name=f"crmctl_{secrets.token_hex(8)}")
        cursor.itersize = size
        try:
            if translated.plain is not None and not params:
                cursor.execute(translated.plain.encode())  # type: ignore[call-overload]
            else:
                cursor.execute(translated.text, translated.arguments(params))  # type: ignore[call-overload]
            while rows := cursor.fetchmany(size):
                yield rows
        finally:
            if not self.conn.closed:
                import psycopg

                with suppress(psycopg.Error):  # in a failed transaction, the rollback closes it
                    cursor.close()

    def executemany(self, sql: str, seq_of_params: Iterable[Sequence[Any] | dict[str, Any]]) -> psycopg.Cursor:
        translated = translate(sql)
        cursor = self.conn.cursor()
        cursor.executemany(translated.text, (translated.arguments(p) for p in seq_of_params))  # type: ignore[call-overload]
        return cursor

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        if not self.conn.closed:  # a lost (or closed) connection has nothing left to roll back
            self.conn.rollback()

    def close(self) -> None:
        self.conn.close()

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.conn.info.transaction_status in (
            TransactionStatus.INTRANS,
            TransactionStatus.INERROR,
            TransactionStatus.ACTIVE,
        )

    @contextmanager
    def atomic(self) -> Iterator[PgDatabase]:
        """As sqlite-utils' Database.atomic(): a savepoint inside a transaction, else BEGIN … COMMIT."""
        if self.in_transaction:
            savepoint = f"crmctl_{secrets.token_hex(8)}"
            self.conn.execute(f"SAVEPOINT {savepoint}".encode())
            try:
                yield self
            except BaseException:
                if self.in_transaction and not self.conn.closed:
                    self.conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}".encode())
                    self.conn.execute(f"RELEASE SAVEPOINT {savepoint}".encode())
                raise
            else:
                self.conn.execute(f"RELEASE SAVEPOINT {savepoint}".encode())
        else:
            self.conn.execute(b"BEGIN")
            try:
                yield self
            except BaseException:
                self.rollback()
                raise
            else:
                try:
                    self.conn.execute(b"COMMIT")
                except BaseException:
                    self.rollback()
                    raise

    # The catalog

    def table_names(self) -> list[str]:
        """The tables of the CRM's schema, in name order."""
        rows = self.conn.execute(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = %s ORDER BY tablename",
            [self.schema],
        ).fetchall()
        return [row[0] for row in rows]
