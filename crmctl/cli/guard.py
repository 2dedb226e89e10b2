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

F = TypeVar("F", bound=Callable)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in crmctl, not the user's input
DEBUG_VARIABLE = "CRMCTL_DEBUG"


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
        except (typer.Exit, typer.Abort, TyperException):  # Typer's own control flow and usage errors
            raise
        except Exception as exc:  # the last line of defence: a bug, never a traceback by default
            raise _internal_error(exc) from None

    return wrapper  # type: ignore[return-value]  # wraps() keeps F's signature; mypy types it as a new one


def _internal_error(exc: Exception) -> typer.Exit:
    """One line naming the exception; its traceback only when CRMCTL_DEBUG=1 (locals are never
    shown: in a CRM they hold personal data)."""
    import os

    if os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    what = " ".join(str(exc).split())
    what = what if len(what) <= 200 else what[:199] + "…"
    described = f"{type(exc).__name__}: {what}" if what else type(exc).__name__
    return fail(f"internal error ({described}); rerun with {DEBUG_VARIABLE}=1 for details", EXIT_INTERNAL)


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
