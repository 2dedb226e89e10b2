"""Dates and times in imports → the stored form (`YYYY-MM-DDTHH:MM:SSZ`, UTC).

Accepted without any option, because they cannot be misread: ISO-8601 dates and times
(`2026-11-27`, `2026-11-27 14:03`, `2026-11-27T14:03:00.000Z`, any offset), also followed
by ` UTC` or ` GMT`. Everything else needs a format: a strftime pattern, `unix` (seconds
since 1970) or `unix_ms` (milliseconds). `01/02/2026` is never guessed: it is a bad row that
names the option to use. Times without an offset are read in the given time zone (UTC
unless told otherwise); a date alone is the start of that day there.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache

from crmctl import clock
from crmctl.errors import InvalidInput

UNIX = ("unix", "unix_ms")
_ISO_START = re.compile(r"\d{4}-?\d\d")
_ZONE_WORD = re.compile(r"\s+(?:UTC|GMT)$", re.IGNORECASE)
_NUMERIC_DATE = re.compile(r"\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}\b")
_UNIX_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def zone(name: str | None) -> tzinfo:
    """A time zone by its IANA name (`Europe/Berlin`); UTC when none is given."""
    if name is None or name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or UTC") from None


def check_format(fmt: str, where: str = "--date-format") -> str:
    """A strftime pattern must contain at least one directive; `unix` and `unix_ms` are words."""
    if fmt in UNIX:
        return fmt
    if "%" not in fmt:
        raise InvalidInput(f"{where}: {fmt!r} is not a date format: use strftime directives such as %d/%m/%Y, or unix")
    try:
        datetime(2026, 11, 27, 14, 3, 9).strftime(fmt)
    except ValueError as exc:
        raise InvalidInput(f"{where}: {fmt!r} is not a date format: {exc}") from None
    return fmt


class DateReader:
    """Reads date and time text into the stored form. `formats` are tried in order, then the
    unambiguous ISO forms; `option` names where the formats come from, for messages."""

    def __init__(self, formats: tuple[str, ...] = (), tz: tzinfo = UTC, option: str = "--date-format"):
        self.formats = formats
        self.tz = tz
        self.option = option
        self.custom = bool(formats) or tz is not UTC  # property dates read through it only then

    def stored(self, text: str) -> str:
        """The stored form of `text`. Raises ValueError with a message for the row."""
        value = text.strip()
        if clock.is_stored_time(value):  # already in the stored form, a real time, a year allowed
            return value
        for fmt in self.formats:
            moment = self._with_format(value, fmt)
            if moment is not None:
                return _checked(moment, text)
        moment = _iso(_ZONE_WORD.sub("Z", value) if _ZONE_WORD.search(value) else value, self.tz)
        if moment is not None:
            return _checked(moment, text)
        raise ValueError(self._unreadable(value))

    def _with_format(self, value: str, fmt: str) -> datetime | None:
        if fmt in UNIX:
            if not _UNIX_NUMBER.fullmatch(value):
                return None
            seconds = float(value) / (1000 if fmt == "unix_ms" else 1)
            try:
                return datetime.fromtimestamp(seconds, UTC)
            except (OverflowError, OSError, ValueError):
                return None
        fast = _fast_pattern(fmt)
        if fast is not None:  # strptime is the slowest part of a mapped import: numeric formats skip it
            match = fast.fullmatch(value)
            if match is None:
                return None
            parts = match.groupdict()
            try:
                return datetime(
                    int(parts["Y"]),
                    int(parts["m"]),
                    int(parts["d"]),
                    int(parts.get("H") or 0),
                    int(parts.get("M") or 0),
                    int(parts.get("S") or 0),
                    tzinfo=self.tz,
                )
            except ValueError:
                return None
        try:
            moment = datetime.strptime(value, fmt)
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=self.tz)

    def _unreadable(self, value: str) -> str:
        shown = repr(value if len(value) <= 40 else value[:37] + "...")
        if self.formats:
            wanted = " or ".join(repr(f) for f in self.formats)
            return f"{shown} does not match {self.option} {wanted} (nor ISO-8601)"
        if _NUMERIC_DATE.match(value) and not _ISO_START.match(value):
            return f"{shown} is ambiguous (day or month first?): pass {self.option}, e.g. '%m/%d/%Y' (US) or '%d/%m/%Y'"
        return f"{shown} is not an ISO-8601 date or time: pass {self.option} (strftime, or unix)"


_DIRECTIVES = {
    "%Y": r"(?P<Y>\d{4})",
    "%m": r"(?P<m>\d{1,2})",
    "%d": r"(?P<d>\d{1,2})",
    "%H": r"(?P<H>\d{1,2})",
    "%M": r"(?P<M>\d{1,2})",
    "%S": r"(?P<S>\d{1,2})",
}


@lru_cache(maxsize=64)
def _fast_pattern(fmt: str) -> re.Pattern[str] | None:
    """A regex equivalent to strptime for formats made only of %Y %m %d %H %M %S (each at
    most once, with Y, m and d present) and literal characters; None for anything else."""
    pattern, i, seen = "", 0, set()
    while i < len(fmt):
        if fmt[i] == "%":
            directive = fmt[i : i + 2]
            if directive not in _DIRECTIVES or directive in seen:
                return None
            seen.add(directive)
            pattern += _DIRECTIVES[directive]
            i += 2
        else:
            pattern += r"\s+" if fmt[i] == " " else re.escape(fmt[i])
            i += 1
    return re.compile(pattern) if {"%Y", "%m", "%d"} <= seen else None


def _iso(value: str, tz: tzinfo) -> datetime | None:
    if not _ISO_START.match(value):
        return None
    try:
        if len(value) in (8, 10) and "T" not in value:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=tz)
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def _checked(moment: datetime, text: str) -> str:
    try:
        if moment.tzinfo is not UTC:
            moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"year out of range: {text.strip()!r}") from None
    if not clock.FIRST_YEAR <= moment.year <= clock.LAST_YEAR:
        # Stored times are fixed-width text; a four-digit year keeps them comparable.
        raise ValueError(f"year out of range: {text.strip()!r}")
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


@lru_cache(maxsize=1)
def default_reader() -> DateReader:
    return DateReader()
