"""The import pipeline: read records, validate each, stage the valid ones in chunks, reject
repeats and suppressed addresses, declare new properties, and apply everything set-based
(SQL in crmctl.store.imports).

Every field is a built-in field or a declared property (crmctl.properties); a value must fit
its property's type. Other columns or keys refuse the import, unless `create_properties`:
then they are declared, each with the type inferred from all of its values in the file.
The catalog record that opens a `contact export` declares its properties with their types.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from crmctl import clock, value_types
from crmctl.actions import Context
from crmctl.errors import InvalidInput, Refused
from crmctl.importer import dates, decoding, dialect
from crmctl.importer.dates import DateReader
from crmctl.importer.dialect import Dialect
from crmctl.importer.mapping import KeyPlan, Mapping, Matcher, check_targets
from crmctl.importer.readers import _READERS, Reading, choose_format
from crmctl.importer.records import Rules, _Bad, _contact
from crmctl.importer.values import PropertyValues
from crmctl.properties import Catalog, Property, check_type, clean_name, create_many
from crmctl.query.folding import fold
from crmctl.store import audit
from crmctl.store import imports as store
from crmctl.store import suppressions as suppression_sql
from crmctl.store.pg import is_postgres

if TYPE_CHECKING:
    from sqlite_utils import Database

CHUNK = 5000  # records per executemany round, and per progress call
SHOWN = 20  # problems listed in a refusal
KEPT = 1000  # problems kept in a report


EXPORT_KEY = "crmctl_export"  # the key of the catalog record that opens a `contact export`


@dataclass
class ImportReport:
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)
    tags_created: list[str] = field(default_factory=list)
    properties_created: list[dict] = field(default_factory=list)
    readmitted: int = 0  # suppressed addresses imported with allow_suppressed (and no longer suppressed)
    format: str = "csv"
    dialect: Dialect | None = None
    columns: list[dict[str, str]] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    mapping: str = ""

    def to_dict(self) -> dict:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "problems": list(self.problems),
            "tags_created": list(self.tags_created),
            "properties_created": list(self.properties_created),
            **({"readmitted": self.readmitted} if self.readmitted else {}),
            "format": self.format,
            **({"dialect": self.dialect.to_dict()} if self.dialect else {}),
            **({"mapping": self.mapping} if self.mapping else {}),
            "columns": list(self.columns),
            **({"missing_columns": list(self.missing_columns)} if self.missing_columns else {}),
        }


def import_contacts(
    db: Database,
    stream: BinaryIO,
    *,
    fmt: str | None = None,
    filename: str = "-",
    skip_invalid: bool = False,
    actor: str = "unknown",
    progress: Callable[[int], None] | None = None,
    allow_suppressed: bool = False,
    mapping: Mapping | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    date_formats: tuple[str, ...] = (),
    timezone: str | None = None,
    keep_ids: bool = False,
    create_properties: bool = False,
) -> ImportReport:
    """Upsert contacts from `stream` by email. Raises InvalidInput, changing nothing, when the
    input cannot be read, names undeclared properties (unless `create_properties`), or when
    any record is bad and `skip_invalid` is false.

    An address erased with `delete --suppress` makes its record bad, unless `allow_suppressed`:
    then it is imported and no longer suppressed (the operator has decided it may come back).

    `mapping` says where columns go (see crmctl.importer.mapping); `encoding`, `delimiter`,
    `date_formats` and `timezone` override the mapping's own. With `keep_ids`, new contacts
    get the records' ids; a record whose id or email belongs to another contact, or an id
    this database has given out before, refuses the import (crmctl.errors.Refused)."""
    mapping = mapping or Mapping()
    chosen = choose_format(fmt, filename)
    catalog = Catalog.load(db)
    check_targets(mapping, catalog, create=create_properties)
    reader = DateReader(date_formats or mapping.formats, dates.zone(timezone or mapping.timezone))
    properties = PropertyValues(catalog, create=create_properties, columns=chosen == "csv", dates=reader)
    reading = Reading(
        codec=decoding.encoding(encoding or mapping.encoding),
        delimiter=dialect.delimiter(delimiter) or mapping.delimiter,
        mapping=mapping,
        properties=properties,
    )
    rules = Rules(
        properties=properties,
        dates=reader,
        keys=KeyPlan(mapping, Matcher(catalog)),
        keep_ids=keep_ids,
        no_nul=is_postgres(db),
    )
    records, typed = _READERS[chosen](stream, reading), chosen != "csv"
    now = clock.now_text()
    ctx = Context(actor=actor, now=now)
    store.create_staging(db)
    readmitted = 0
    # A failure rolls back to a savepoint first, so that the staging tables can still be
    # dropped: PostgreSQL runs no statement in a failed transaction, and would hide the failure.
    try:
        with db.atomic():
            problems = _stage_all(db, records, typed, rules, progress, ctx)
            properties.refuse_unknown()
            created = rules.declared + _declare_new(db, properties, ctx)
            store.index_staging(db)
            _reject_repeats(db, problems)
            if not allow_suppressed:
                _reject_suppressed(db, problems)
            if problems.total and not skip_invalid:
                raise InvalidInput(problems.refusal())
            if keep_ids:
                _check_kept_ids(db)
            outcome = store.apply(db, now=now, actor=actor, rejected=problems.total)
            if allow_suppressed:
                readmitted = _readmit(db, now, actor)
    finally:
        store.drop_staging(db)
    return ImportReport(
        inserted=outcome.inserted,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
        rejected=problems.total,
        problems=problems.listing(),
        tags_created=outcome.tags_created,
        properties_created=[{"name": p.name, "type": p.type} for p in created],
        readmitted=readmitted,
        format=chosen,
        dialect=reading.dialect,
        columns=_columns(reading.columns if chosen == "csv" else rules.keys.columns(), created),
        missing_columns=reading.missing,
        mapping=mapping.name,
    )


def _columns(columns: list[dict[str, str]], created: list[Property]) -> list[dict[str, str]]:
    """Where each column went; a property this import declared says so, with its type."""
    new = {f"property {p.name!r}": p.type for p in created}
    return [
        {**column, "to": f"{column['to']} (new, {new[column['to']]})"} if column["to"] in new else column
        for column in columns
    ]


def _declare_new(db: Database, properties: PropertyValues, ctx: Context) -> list[Property]:
    """Declare the undeclared names (--create-properties) and convert their staged values."""
    wanted = properties.new_properties()
    if not wanted:
        return []
    created = create_many(db, wanted, ctx)
    store.convert_new_values(db, [(p.name, p.id, p.type) for p in created], _IMPORT_VALUE, _import_value)
    return created


_IMPORT_VALUE = "crmctl_import_value"


def _import_value(kind: str, raw: str) -> Any:
    """A staged value (JSON text of what the file held) in its new property's stored form."""
    return value_types.parse(kind, json.loads(raw))


def _check_kept_ids(db: Database) -> None:
    repeated = store.repeated_ids(db)
    if repeated:
        raise InvalidInput("--keep-ids: ids must be unique in the file:\n" + "\n".join(f"  {m}" for m in repeated))
    shown, total = store.kept_id_conflicts(db, SHOWN)
    if total:
        records = f"{total} record{'s' if total != 1 else ''}"
        verb = "clashes" if total == 1 else "clash"
        lines = [f"--keep-ids: {records} {verb} with contacts or ids already here; nothing was imported:"]
        lines += [f"  {message}" for message in shown]
        if total > len(shown):
            lines.append(f"  and {total - len(shown)} more")
        raise Refused("\n".join(lines))


# Loading ----------------------------------------------------------------------------------


class _Problems:
    """Bad records by position. Counts them all, keeps the first KEPT messages."""

    def __init__(self) -> None:
        self.total = 0
        self.kept: list[tuple[int, str]] = []

    def add(self, pos: int, message: str) -> None:
        self.total += 1
        self.kept.append((pos, message))
        if len(self.kept) > 2 * KEPT:
            self.kept = sorted(self.kept)[:KEPT]

    def listing(self) -> list[str]:
        shown = [message for _, message in sorted(self.kept)[:KEPT]]
        if self.total > len(shown):
            shown.append(f"and {self.total - len(shown)} more")
        return shown

    def refusal(self) -> str:
        shown = [message for _, message in sorted(self.kept)[:SHOWN]]
        lines = [
            f"{self.total} invalid record{'s' if self.total != 1 else ''}; nothing was imported "
            "(pass --skip-invalid to import the valid ones):"
        ]
        lines += [f"  {message}" for message in shown]
        if self.total > len(shown):
            lines.append(f"  and {self.total - len(shown)} more")
        return "\n".join(lines)


def _stage_all(
    db: Database,
    records: Iterator[tuple[str, Any]],
    typed: bool,
    rules: Rules,
    progress: Callable[[int], None] | None,
    ctx: Context,
) -> _Problems:
    problems, batch, pos = _Problems(), store.Batch(), 0
    for pos, (label, item) in enumerate(records, start=1):
        if typed and isinstance(item, dict) and EXPORT_KEY in item:
            if pos == 1:
                _catalog_record(db, item, rules, ctx)
            else:
                problems.add(pos, f"{label}: a catalog record ({EXPORT_KEY}) may only come first")
            continue
        try:
            contact = _contact(item, typed, rules)
        except _Bad as bad:
            problems.add(pos, f"{label}: {bad}")
        else:
            batch.add(pos, label, *contact)
        if pos % CHUNK == 0:
            store.stage(db, batch)
            batch = store.Batch()
            if progress is not None:
                progress(pos)
    store.stage(db, batch)
    if progress is not None:
        progress(pos)
    return problems


def _catalog_record(db: Database, item: dict, rules: Rules, ctx: Context) -> None:
    """The first record of a `contact export`: its tag and property catalogs, and the promise
    that every value is written exactly (so strings are not trimmed). Its properties are
    declared here with their types (a declaration, not a guess); one declared here with
    another type refuses the import, since its values would change meaning."""
    if item.get(EXPORT_KEY) != 1:
        raise InvalidInput(f"record 1: {EXPORT_KEY} {item.get(EXPORT_KEY)!r} is not a version this crmctl reads")
    unknown = sorted(set(item) - {EXPORT_KEY, "tags", "properties"})
    if unknown:
        raise InvalidInput(f"record 1: {EXPORT_KEY}: unknown key {unknown[0]!r} (expected tags, properties)")
    tags = item.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise InvalidInput(f"record 1: {EXPORT_KEY}: tags must be a list of tag names")
    rules.exact = True
    store.stage_catalog_tags(db, [t.strip() for t in tags])
    wanted = _catalog_properties(item.get("properties", []), rules.properties.catalog)
    if wanted:
        rules.declared.extend(create_many(db, wanted, ctx))
        rules.properties.catalog = Catalog.load(db)
        rules.keys.matcher = Matcher(rules.properties.catalog)


def _catalog_properties(listed: Any, catalog: Catalog) -> list[tuple[str, str, str | None]]:
    """(name, type, description) of the catalog record's properties this database lacks."""
    where = f"record 1: {EXPORT_KEY}: properties"
    if not isinstance(listed, list):
        raise InvalidInput(f"{where} must be a list of {{name, type, description}}")
    wanted: list[tuple[str, str, str | None]] = []
    for entry in listed:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not entry.keys()
            <= {
                "name",
                "type",
                "description",
            }
        ):
            raise InvalidInput(f"{where} must be a list of {{name, type, description}}")
        try:
            name, kind = clean_name(entry["name"]), check_type(str(entry.get("type")))
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc}") from None
        description = entry.get("description")
        if description is not None and not isinstance(description, str):
            raise InvalidInput(f"{where}: {name}: description must be text")
        existing = catalog.get(name)
        if existing is None:
            if all(fold(name) != fold(other) for other, _, _ in wanted):
                wanted.append((name, kind, description))
        elif existing.type != kind:
            raise InvalidInput(
                f"{where}: {name} is a {kind} property in the export but a {existing.type} property here; "
                f"nothing was imported (retype it first: crmctl property retype {existing.name} --type {kind})"
            )
    return wanted


def _reject_repeats(db: Database, problems: _Problems) -> None:
    """A second record with the same email (ignoring case) is a bad record, not a merge."""
    shown, total = store.repeated_emails(db, KEPT)
    for pos, label, first in shown:
        problems.add(pos, f"{label}: same email as {first}")
    problems.total += total - len(shown)
    if total:
        store.drop_repeats(db)


def _reject_suppressed(db: Database, problems: _Problems) -> None:
    """An address erased with `delete --suppress` is a bad record: it must not come back unnoticed."""
    shown, total = suppression_sql.staged_matches(db, KEPT)
    for pos, label in shown:
        problems.add(pos, f"{label}: address was erased and suppressed (pass --allow-suppressed to import it again)")
    problems.total += total - len(shown)
    if total:
        suppression_sql.drop_staged_matches(db)
        store.drop_orphans(db)


def _readmit(db: Database, now: str, actor: str) -> int:
    readmitted = suppression_sql.forget_staged(db)
    if readmitted:
        audit.record(db, at=now, actor=actor, action="unsuppress", detail=f"readmitted {readmitted}")
    return readmitted
