"""Outboxes: how a flow hands contacts to the program that sends the message.

An `emit` step writes one record per contact into an outbox, inside the run's transaction
(so a run that fails or is killed emits nothing). A deliverer then

    crmctl outbox read welcome -f ndjson > batch          # reading consumes nothing
    mailer < batch
    crmctl outbox ack welcome --through "$(tail -1 batch | jq .outbox_id)"

and every record is delivered at least once: a record stays pending, and is read again,
until an ack covers it. Delivered records are kept for `DELIVERED_RETENTION_DAYS`, then
pruned by the next `outbox ack` (or `db prune`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from crmctl import clock
from crmctl.errors import NotFound, Refused
from crmctl.store import outbox as outbox_sql
from crmctl.store.properties import NUMBER_TEXT

if TYPE_CHECKING:
    from sqlite_utils import Database

DELIVERED_RETENTION_DAYS = 30


def record_fields_sql(names: Sequence[str], *, postgres: bool = False) -> tuple[str, list[Any]]:
    """A JSON object (as text) over contact alias `c` holding each named field's value, typed as
    `contact list` shows it (numbers stay numbers, blocked is true/false, tags a list)."""
    from crmctl.flows.cases import field_reference
    from crmctl.query.fields import BUILTINS
    from crmctl.query.folding import fold

    pg = postgres
    parts: list[str] = []
    params: list[Any] = []
    for text in names:
        name, quoted = field_reference(text)
        known = None if quoted else BUILTINS.get(name)
        params.append(name)
        if known is None:
            parts.append(_PROPERTY_PG if pg else _PROPERTY)
            params.append(fold(name))
        elif known.kind == "bool":
            parts.append(
                f"?::text, {known.column} IS NOT NULL"
                if pg
                else f"?, json(CASE WHEN {known.column} IS NULL THEN 'false' ELSE 'true' END)"
            )
        elif known.kind == "tags":
            parts.append(_TAGS_PG if pg else _TAGS)
        elif known.kind == "count":
            parts.append(
                ("?::text" if pg else "?") + ", (SELECT count(*) FROM conversations AS v WHERE v.contact_id = c.id)"
            )
        else:
            parts.append(("?::text" if pg else "?") + f", {known.column}")
    if not parts:
        return "'{}'", []
    if pg:  # json, not jsonb: the fields keep their order
        return "json_build_object(" + ", ".join(parts) + ")::text", params
    return "json_object(" + ", ".join(parts) + ")", params


# A property's value in its type, as JSON text made in the subquery (a JSON subtype does not
# survive one) and read back by json(): booleans true/false, exact decimals.
_PROPERTY = (
    "?, json((SELECT CASE WHEN p.type = 'boolean' THEN CASE v.value WHEN 0 THEN 'false' ELSE 'true' END "
    f"WHEN typeof(v.value) = 'real' THEN {NUMBER_TEXT}(v.value) "
    "WHEN typeof(v.value) = 'text' THEN json_quote(v.value) ELSE v.value END "
    "FROM property_values AS v JOIN properties AS p ON p.id = v.property_id "
    "WHERE v.contact_id = c.id AND p.folded = ?))"
)
# PostgreSQL stores the value as jsonb already (numbers that read back exactly, text as a string).
_PROPERTY_PG = (
    "?::text, (SELECT CASE WHEN p.type = 'boolean' THEN to_jsonb(v.value <> '0'::jsonb) ELSE v.value END "
    "FROM property_values AS v JOIN properties AS p ON p.id = v.property_id "
    "WHERE v.contact_id = c.id AND p.folded = ?)"
)
_TAGS = (
    "?, json(coalesce((SELECT json_group_array(name) FROM (SELECT t.name FROM contact_tags AS ct "
    "JOIN tags AS t ON t.id = ct.tag_id WHERE ct.contact_id = c.id ORDER BY t.name COLLATE NOCASE)), '[]'))"
)
# NOCASE folds ASCII letters only.
_TAGS_PG = (
    "?::text, coalesce((SELECT json_agg(t.name ORDER BY translate(t.name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
    "'abcdefghijklmnopqrstuvwxyz') COLLATE \"C\") FROM contact_tags AS ct JOIN tags AS t ON t.id = ct.tag_id "
    "WHERE ct.contact_id = c.id), '[]'::json)"
)


def listing(db: Database) -> Iterator[dict]:
    return outbox_sql.listing(db)


def pending(db: Database, name: str, limit: int | None) -> Iterator[dict]:
    _require(db, name)
    return outbox_sql.pending(db, name, limit)


def pending_field_names(db: Database, name: str, limit: int | None) -> list[str]:
    _require(db, name)
    return outbox_sql.pending_field_names(db, name, limit)


def count_pending(db: Database, name: str) -> int:
    _require(db, name)
    return outbox_sql.count_pending(db, name)


@dataclass
class AckReport:
    outbox: str
    through: int
    acknowledged: int
    pending: int
    pruned: int

    def to_dict(self) -> dict:
        return {
            "outbox": self.outbox,
            "through": self.through,
            "acknowledged": self.acknowledged,
            "pending": self.pending,
            "pruned": self.pruned,
        }


def acknowledge(db: Database, name: str, through: int, now: str) -> AckReport:
    """Mark the outbox's pending records up to `through` delivered (inside the caller's
    transaction), then prune records delivered longer ago than the retention period.

    `through` must be a record of this outbox: a typo'd larger number would otherwise mark
    records nobody has read as delivered."""
    _require(db, name)
    owner = outbox_sql.record_outbox(db, through)
    if owner != name:
        where = f"it belongs to outbox '{owner}'" if owner else "there is no such record (pruned, or never written)"
        raise Refused(f"cannot acknowledge through {through} in outbox '{name}': {where}")
    acknowledged = outbox_sql.acknowledge(db, name, through, now)
    pruned = prune_delivered(db, now)
    return AckReport(name, through, acknowledged, outbox_sql.count_pending(db, name), pruned)


def retention_cutoff(now: str) -> str:
    return clock.format_time(clock.parse_time(now) - timedelta(days=DELIVERED_RETENTION_DAYS))


def prune_delivered(db: Database, now: str, *, dry_run: bool = False) -> int:
    return outbox_sql.prune_delivered(db, retention_cutoff(now), dry_run=dry_run)


def _require(db: Database, name: str) -> None:
    if not outbox_sql.known(db, name):
        known = outbox_sql.names(db)
        hint = f" (outboxes: {', '.join(known)})" if known else " (no flow has emitted to an outbox yet)"
        raise NotFound(f"no outbox named '{name}'{hint}")
