"""PostgreSQL database URLs: recognising one, the schema it selects, and a form safe to print."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit, urlunsplit

SCHEMES = ("postgresql://", "postgres://")
DEFAULT_SCHEMA = "public"

# libpq's `options` parameter passes server settings: `-c search_path=NAME`, `-csearch_path=NAME`
# or `--search_path=NAME` (the first schema of a list is where crmctl's tables live).
_SEARCH_PATH = re.compile(r"(?:-c\s*|--)search_path=(\S+)")
# Query parameters whose values are secrets (libpq's names).
_SECRETS = re.compile(r"(^|&)((?:ssl)?password)=[^&]*", re.IGNORECASE)
MASK = "***"


def is_postgres_url(value: str | None) -> bool:
    return bool(value) and value.lower().startswith(SCHEMES)  # type: ignore[union-attr]


def redacted(url: str) -> str:
    """The URL with any password replaced by ***: the only form of a URL crmctl ever prints or
    records (messages, lock-holder notes, the audit log, flow runs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{url.split('://', 1)[0]}://{MASK}"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, hosts = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":" + MASK
        netloc = f"{userinfo}@{hosts}"
    query = _SECRETS.sub(lambda m: f"{m.group(1)}{m.group(2)}={MASK}", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def schema_of(url: str) -> str:
    """The schema crmctl's tables live in: the first of the URL's search_path option, else public."""
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if key == "options":
            found = _SEARCH_PATH.findall(value)
            if found:
                first = found[-1].split(",")[0].strip()
                if len(first) >= 2 and first[0] == first[-1] == '"':
                    return first[1:-1].replace('""', '"')
                return first.lower() if first else DEFAULT_SCHEMA
    return DEFAULT_SCHEMA


@dataclass(frozen=True)
class PgLocation:
    """Where a PostgreSQL CRM lives, in place of a SQLite file's Path. str() is the redacted URL."""

    url: str

    @property
    def schema(self) -> str:
        return schema_of(self.url)

    def __str__(self) -> str:
        return redacted(self.url)

    def __repr__(self) -> str:
        return f"PgLocation({redacted(self.url)!r})"

    def exists(self) -> bool:
        """Whether the schema is there (as Path.exists() for a file). When the server cannot be
        asked (no driver, no connection), True: opening it then reports why."""
        try:
            import psycopg

            with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
                row = conn.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", [self.schema]).fetchone()
        except Exception:
            return True
        return row is not None
