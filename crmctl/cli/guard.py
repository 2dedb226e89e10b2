"""The one place where exceptions become `Error: …` on stderr and an exit code."""

from __future__ import annotations

import functools
import sqlite3
import sys
from collections.abc import Callable
from typing import TypeVar

import typer
from typer.exceptions import TyperException

from crmctl.errors import CrmError
from crmctl.text import visible_lines

F = TypeVar("F", bound=Callable)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TEMPFAIL, EXIT_INTERRUPTED = 0, 1, 2, 75, 130
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in crmctl, not the user's input
DEBUG_VARIABLE = "CRMCTL_DEBUG"


def fail(message: str, code: int, kind: str = "failed", *, as_json: bool = False) -> typer.Exit:
    """`Error: …` on stderr (control characters escaped); with `-f json` also one JSON object
    on stdout: {"error": {"message", "exit_code", "kind"}}."""
    if as_json:
        from crmctl.cli.render import to_json

        sys.stdout.write(to_json({"error": {"message": message, "exit_code": code, "kind": kind}}) + "\n")
        sys.stdout.flush()
    sys.stderr.write(f"Error: {visible_lines(message)}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def wants_json(fmt: object) -> bool:
    """Whether a command's parsed -f/--format value asks for JSON."""
    return str(getattr(fmt, "value", fmt)) == "json"


def guarded(function: F) -> F:
    """Wrap a command so typed errors end as one line and an exit code, never a traceback."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        as_json = wants_json(kwargs.get("fmt"))
        try:
            return function(*args, **kwargs)
        except CrmError as exc:
            raise fail(str(exc), exc.exit_code, exc.kind, as_json=as_json) from None
        except sqlite3.DatabaseError as exc:
            raise fail(*_database_failure(exc), as_json=as_json) from None
        except UnicodeError:  # e.g. an argument whose bytes are not UTF-8 reaching SQLite
            raise fail(
                "text that is not valid UTF-8 (in an argument or on standard input): "
                "crmctl reads and stores UTF-8 only",
                EXIT_USAGE,
                "invalid_input",
                as_json=as_json,
            ) from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing was changed", EXIT_INTERRUPTED, "interrupted", as_json=as_json) from None
        except BrokenPipeError:
            _silence_broken_pipe()
            raise typer.Exit(EXIT_OK) from None
        except (typer.Exit, typer.Abort, TyperException):  # Typer's own control flow and usage errors
            raise
        except Exception as exc:  # the last line of defence: a bug, never a traceback by default
            failure = _postgres_failure(exc)
            if failure is not None:
                raise fail(*failure, as_json=as_json) from None
            raise _internal_error(exc, as_json=as_json) from None

    return wrapper  # type: ignore[return-value]  # wraps() keeps F's signature; mypy types it as a new one


def _internal_error(exc: Exception, *, as_json: bool = False) -> typer.Exit:
    """One line naming the exception; its traceback only when CRMCTL_DEBUG=1 (locals are never
    shown: in a CRM they hold personal data)."""
    import os

    if os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    what = " ".join(str(exc).split())
    what = what if len(what) <= 200 else what[:199] + "…"
    described = f"{type(exc).__name__}: {what}" if what else type(exc).__name__
    return fail(
        f"internal error ({described}); rerun with {DEBUG_VARIABLE}=1 for details",
        EXIT_INTERNAL,
        "internal",
        as_json=as_json,
    )


def _database_failure(exc: sqlite3.DatabaseError) -> tuple[str, int, str]:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return "the database is locked by another process; gave up waiting", EXIT_TEMPFAIL, "busy"
    if "readonly" in text:
        return "the database is read-only: crmctl needs to write to it", EXIT_FAILED, "database"
    if "disk" in text and "full" in text:
        return "the disk is full; nothing was changed", EXIT_FAILED, "database"
    return f"database error: {text}", EXIT_FAILED, "database"


# SQLSTATEs (PostgreSQL's error codes) of a database that stayed busy: retrying may succeed.
_PG_BUSY = {
    "55P03": "the database is locked by another process; gave up waiting",  # lock_not_available
    "40001": "the database was busy with a conflicting change; nothing was changed",  # serialization_failure
    "40P01": "the database was busy with a conflicting change (deadlock); nothing was changed",
    "53300": "the PostgreSQL server has too many connections; nothing was changed",
    "57P03": "the PostgreSQL server is not accepting connections yet; nothing was changed",
    "57P01": "the PostgreSQL server shut down the connection; nothing was changed",
    "57014": "the PostgreSQL server cancelled the statement (statement_timeout?); nothing was changed",
}


def _postgres_failure(exc: Exception) -> tuple[str, int, str] | None:
    """A psycopg error as (message, exit code, kind); None for anything else, and for errors
    in crmctl's own SQL (syntax, unknown column: class 42), which are bugs (exit 70).

    Only the server's primary message is shown: its DETAIL may quote the row's values."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(exc, psycopg.Error):
        return None
    state = exc.sqlstate or ""
    primary = (exc.diag.message_primary if exc.diag else None) or str(exc).strip().split("\n")[0]
    if state in _PG_BUSY:
        return _PG_BUSY[state], EXIT_TEMPFAIL, "busy"
    if isinstance(exc, psycopg.OperationalError) and not state:  # the connection broke
        return f"lost the connection to the PostgreSQL server ({primary}); nothing was changed", EXIT_TEMPFAIL, "busy"
    if isinstance(exc, psycopg.DataError) and "NUL" in primary:
        return (
            "text with a NUL character (\\0) in an argument or on standard input: PostgreSQL cannot store it",
            EXIT_USAGE,
            "invalid_input",
        )
    if state == "25006":  # read_only_sql_transaction
        return "the database is read-only: crmctl needs to write to it", EXIT_FAILED, "database"
    if state == "42501":  # insufficient_privilege
        return f"the PostgreSQL role may not do this: {primary}", EXIT_FAILED, "database"
    if state == "53100":  # disk_full
        return "the disk is full; nothing was changed", EXIT_FAILED, "database"
    if state.startswith("42") or isinstance(exc, (psycopg.ProgrammingError, psycopg.InterfaceError)):
        return None
    return f"database error: {primary}", EXIT_FAILED, "database"


def usage_failure(message: str, command_path: str, *, as_json: bool) -> int:
    """A command line that could not be parsed: the error line and one hint line."""
    fail(message, EXIT_USAGE, "usage", as_json=as_json)
    sys.stderr.write(f"Try '{command_path} -h' for help.\n")
    return EXIT_USAGE


def _silence_broken_pipe() -> None:
    # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
