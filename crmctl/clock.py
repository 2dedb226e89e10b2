"""The one clock: UTC now, replaceable through CRMCTL_NOW, and the stored time format."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta

from crmctl.errors import InvalidInput, Refused

# Fixed width, second precision, so stored times sort and compare as text. One rule for every
# path (imports, CRMCTL_NOW, filters, flows): years 1000 to 9999, always four digits.
FIRST_YEAR, LAST_YEAR = 1000, 9999
_STORED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def now() -> datetime:
    override = os.environ.get("CRMCTL_NOW")
    if override:
        try:
            return parse_time(override)
        except ValueError as exc:
            raise InvalidInput(f"CRMCTL_NOW: {exc}") from None
    return datetime.now(UTC).replace(microsecond=0)


def now_text() -> str:
    return format_time(now())


def format_time(moment: datetime) -> str:
    """The stored form, its year always four digits (strftime writes year 999 as '999', which
    would sort after '1000' as text)."""
    moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"


def is_stored_time(text: str) -> bool:
    """Text already in the stored form, naming a real time within the years allowed."""
    if not _STORED.fullmatch(text) or not FIRST_YEAR <= int(text[:4]) <= LAST_YEAR:
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def shift(moment: datetime, seconds: int, what: str) -> datetime:
    """moment + seconds (negative: before). A result past the year 9999 is refused, clearly; one
    before the year 1000 is kept (it only ever serves as a lower bound, which format_time
    writes with four digits, so it still compares right with stored times)."""
    try:
        return moment + timedelta(seconds=seconds)
    except OverflowError:
        direction = "after the year 9999" if seconds > 0 else "before the year 1"
        raise Refused(f"{what} falls {direction} (now is {format_time(moment)})") from None


def parse_time(text: str) -> datetime:
    """Parse ISO-8601 (date or date-time); naive times are UTC. Raises ValueError."""
    value = text.strip()
    if not value:
        raise ValueError("empty time")
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value.replace(" ", "T", 1) if "T" not in value else value)
    except ValueError:
        raise ValueError(f"not an ISO-8601 date or time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError:
        raise ValueError(f"year out of range: {text!r}") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        # Stored times are fixed-width text; a four-digit year keeps them comparable.
        raise ValueError(f"year out of range: {text!r}")
    return moment


def normalise_time(text: str) -> str:
    """ISO-8601 text in any accepted form → the stored form. Raises ValueError."""
    return format_time(parse_time(text))


_RELATIVE = re.compile(r"now\s*(?:([+-])\s*([0-9]{1,9})\s*([mhdw]))?", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_moment(text: str) -> datetime:
    """An ISO-8601 time, `now`, or `now - 7d` / `now + 2h` (m, h, d, w), as the filter language
    writes it. Raises ValueError."""
    match = _RELATIVE.fullmatch(text.strip())
    if match is None:
        return parse_time(text)
    sign, amount, unit = match.groups()
    moment = now()
    if sign:
        seconds = int(amount) * _UNIT_SECONDS[unit.lower()]
        try:
            moment = moment + timedelta(seconds=seconds if sign == "+" else -seconds)
        except OverflowError:
            raise ValueError(f"out of range: {text!r}") from None
        if not 1000 <= moment.year <= 9999:
            raise ValueError(f"year out of range: {text!r}")
    return moment
