"""The one place where exceptions become `Error: …` on stderr and an exit code."""

from __future__ import annotations

import functools
import sqlite3
import sys
from collections.abc import Callable
from typing import TypeVar

import typer

from crmctl.errors import CrmError

F = TypeVar("F", bound=Callable)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def fail(message: str, code: int) -> typer.Exit:
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def guarded(function: F) -> F:
    """Wrap a command so typed errors end as one line and an exit code, never a traceback."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except CrmError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except sqlite3.DatabaseError as exc:
            raise fail(_database_message(exc), EXIT_FAILED) from None
        except UnicodeError:  # e.g. an argument whose bytes are not UTF-8 reaching SQLite
            raise fail(
                "text that is not valid UTF-8 (in an argument or on standard input): "
                "crmctl reads and stores UTF-8 only",
                EXIT_USAGE,
            ) from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing was changed", EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            _silence_broken_pipe()
            raise typer.Exit(EXIT_OK) from None

    return wrapper  # type: ignore[return-value]  # wraps() keeps F's signature; mypy types it as a new one


def _database_message(exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return "the database is locked by another process; gave up waiting"
    if "readonly" in text:
        return "the database is read-only: crmctl needs to write to it"
    if "disk" in text and "full" in text:
        return "the disk is full; nothing was changed"
    return f"database error: {text}"


def _silence_broken_pipe() -> None:
    # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
