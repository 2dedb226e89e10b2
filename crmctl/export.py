"""Exports that lose nothing: full records as JSON/NDJSON, and contacts as CSV.

`contact export -f ndjson|json` writes a catalog record first,
`{"crmctl_export": 1, "tags": [...], "properties": [{"name", "type", "description"}, ...]}`,
then one full record per contact (built by SQLite, streamed in batches, so memory stays
flat). `contact import` reads that record back: it declares the properties with their types,
recreates tags no contact has, and takes every value exactly as written.

CSV (`contact list -f csv`, `contact export -f csv`) holds contacts, properties and tags:
- built-in columns, `blocked_at` after `blocked`, then one column per declared property,
  named by `crmctl.importer.mapping.property_header` (`property:NAME` when NAME would read
  as a built-in column, such as `E-mail` or `Phone Number`);
- numbers in the shortest form that reads back exactly (value_types.number_text, the one
  rule every output uses), booleans as true/false, dates in the stored form;
- tags joined with `;`, or, when a name contains `,` or `;`, a JSON array of names;
- text guarded against spreadsheet formulas unless `raw` (see crmctl.csvcells);
- cells with the delimiter, a quote, CR or LF quoted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from crmctl import csvcells, value_types
from crmctl.importer.mapping import property_header
from crmctl.store import properties as property_sql
from crmctl.store import reads

if TYPE_CHECKING:
    from sqlite_utils import Database

EXPORT_KEY = "crmctl_export"
VERSION = 1
CSV_BUILTINS = [
    "id",
    "email",
    "name",
    "phone",
    "user_id",
    "created_at",
    "last_seen_at",
    "blocked",
    "blocked_at",
    "tags",
]


def catalog_record(db: Database) -> dict[str, Any]:
    properties = [{"name": p.name, "type": p.type, "description": p.description} for p in property_sql.every(db)]
    return {EXPORT_KEY: VERSION, "tags": reads.tag_names(db), "properties": properties}


def full_batches(db: Database, scope: str | None = None) -> Iterator[list[str]]:
    """The catalog record, then full records, as lists of JSON lines."""
    yield [json.dumps(catalog_record(db), ensure_ascii=False, separators=(",", ":"))]
    yield from reads.record_batches(db, scope, full=True)


def csv_lines(db: Database, scope: str | None = None, limit: int | None = None, *, raw: bool = False) -> Iterator[str]:
    """The header line, then one line per contact."""
    keys = reads.property_names(db)
    cell = _raw_cell if raw else _guarded_cell
    yield csvcells.line([cell(name) for name in CSV_BUILTINS + [property_header(k) for k in keys]])
    for batch in reads.record_batches(db, scope, limit, blocked_at=True):
        out = []
        for text in batch:
            record = json.loads(text)
            properties = record["properties"]
            cells = [
                str(record["id"]),
                cell(record["email"]),
                cell(record["name"]),
                cell(record["phone"]),
                cell(record["user_id"]),
                record["created_at"] or "",
                record["last_seen_at"] or "",
                "true" if record["blocked"] else "false",
                record.get("blocked_at") or "",
                cell(tags_cell(record["tags"])),
            ]
            cells += [_value(properties.get(key), cell) for key in keys]
            out.append(csvcells.line(cells))
        yield "".join(out)


def tags_cell(names: list[str]) -> str:
    if any("," in n or ";" in n for n in names) or (names and names[0].startswith("[")):
        return json.dumps(names, ensure_ascii=False, separators=(",", ":"))
    return ";".join(names)


def _value(value: Any, cell: Callable[[str | None], str]) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value_types.number_text(value)
    return cell(str(value))


def _guarded_cell(value: str | None) -> str:
    return "" if value is None else csvcells.guard(value)


def _raw_cell(value: str | None) -> str:
    return "" if value is None else value
