"""Pruning old flow history: `crmctl db prune --runs-before DATE`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmctl import clock
from crmctl.errors import InvalidInput
from crmctl.flows.model import DURATION_RULE, parse_duration
from crmctl.outbox import prune_delivered
from crmctl.store import flows as flow_sql

if TYPE_CHECKING:
    from sqlite_utils import Database


def cutoff(text: str, now: str) -> str:
    """A date or time (ISO-8601), or an age such as 90d counted back from now, as a stored time."""
    value = text.strip()
    try:
        return clock.normalise_time(value)
    except ValueError:
        pass
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise InvalidInput(
            f"--runs-before takes a date or time such as 2026-01-31, or an age ({DURATION_RULE}), not {text!r}"
        ) from None
    return clock.format_time(clock.shift(clock.parse_time(now), -seconds, f"--runs-before {value}"))


def prune_history(db: Database, before_text: str, now: str, *, dry_run: bool) -> dict:
    """Inside the caller's transaction: delete (or count) flow runs and definitions older than
    the cut that nothing needs, and outbox records past their retention."""
    before = cutoff(before_text, now)
    counts = flow_sql.prune_history(db, before, dry_run=dry_run)
    return {"before": before, **counts, "outbox_records": prune_delivered(db, now, dry_run=dry_run)}
