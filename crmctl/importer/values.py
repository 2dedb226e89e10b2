"""Property values in a record: each name is a declared property (crmctl.properties) and each
value must fit its type (crmctl.value_types), or the record is bad.

Names that are neither a built-in field nor a declared property refuse the import, unless
`create`: then they are declared, each with the type inferred from all of its values in the
file (CSV cells as text: "007" stays text, 42 is a number; JSON by its own types), and the
values staged as written until then (crmctl.store.imports.convert_new_values).

Date properties read dates like the built-in date fields when the import has date formats
or a time zone (`--date-format unix` makes 1767225600 a date); otherwise ISO-8601, as
everywhere else.
"""

from __future__ import annotations

import json
from typing import Any

from crmctl import value_types
from crmctl.errors import InvalidInput
from crmctl.importer.dates import DateReader
from crmctl.properties import Catalog, Property, clean_name
from crmctl.query.folding import fold

UNKNOWN_SHOWN = 20  # unknown columns or keys named in a refusal


class Bad(Exception):
    """One record's problem; reported as `LABEL: message`."""


class Verbatim(str):
    """A CSV cell that was protected with a leading apostrophe: kept exactly, always text."""


class PropertyValues:
    """Turns a record's property fields into (property id, stored value) pairs, and keeps
    the undeclared names met (refused, or declared later with `create`)."""

    def __init__(self, catalog: Catalog, *, create: bool, columns: bool, dates: DateReader | None = None):
        self.catalog = catalog
        self.create = create
        self.columns = columns  # CSV: the fields are columns named by the header
        self.dates = dates
        self.unknown: dict[str, str] = {}  # folded -> the first spelling met
        self.inferred: dict[str, value_types.Inference] = {}
        self._props: dict[str, Property | None] = {}  # a field's key -> its property (a cache)

    def known(self, name: str) -> Property | None:
        return self.catalog.get(name)

    def declare_columns(self, names: list[str], line: int = 1) -> None:
        """CSV: the header's property columns, so undeclared ones are refused before any row."""
        for name in names:
            if self.catalog.get(name) is None:
                try:
                    self._unknown(name)
                except Bad as bad:
                    raise InvalidInput(f"line {line}: column {name!r}: {bad}") from None
        if not self.create:
            self.refuse_unknown()

    def values(self, fields: dict[Any, Any]) -> tuple[list[tuple[int, Any]], list[tuple[str, str]]]:
        """A record's remaining fields (every built-in popped) → (known values, undeclared ones
        as (name, JSON text)). Raises Bad for a value that does not fit its property."""
        known: list[tuple[int, Any]] = []
        undeclared: list[tuple[str, Any]] = []
        seen: dict[str, str] = {}
        for raw_key, raw in fields.items():
            key = raw_key if type(raw_key) is str else raw_key[0]  # see mapping.Marked
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue  # no value
            folded = fold(key)
            if folded in seen:
                raise Bad(f"{seen[folded]!r} and {key!r} name the same property")
            seen[folded] = key
            if isinstance(raw, (list, dict)):
                raise Bad(f"{key} must be text, a number or a boolean, not {kind_of(raw)}")
            if raw_key in self._props:
                prop = self._props[raw_key]
            else:
                prop = self._props[raw_key] = self.catalog.get(key)
            if prop is None:
                try:
                    value_types.parse("text", raw)  # text takes every value some type takes
                except value_types.Unfit as exc:
                    raise Bad(f"{key}: {exc}") from None
                undeclared.append((self._unknown(key), raw))
                continue
            try:
                known.append((prop.id, self.parse(prop.type, raw)))
            except value_types.Unfit as exc:
                raise Bad(f"{prop.name} is a {prop.type} property: {exc}") from None
        if not undeclared:
            return known, []
        if not self.create:
            return known, []  # refused as a whole by refuse_unknown
        for name, raw in undeclared:
            source = "json" if not self.columns else "text"
            value = str(raw) if type(raw) is Verbatim else raw
            inference = self.inferred.setdefault(fold(name), value_types.Inference(source))
            if type(raw) is Verbatim:
                inference.candidates.clear()  # a guarded cell is text, whatever it looks like
            inference.add(value)
        return known, [(name, json.dumps(str(raw) if type(raw) is Verbatim else raw)) for name, raw in undeclared]

    def parse(self, kind: str, raw: Any) -> Any:
        if type(raw) is Verbatim:
            return value_types.parse(kind, str(raw))
        if kind == "date" and self.dates is not None and self.dates.custom:
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                raw = repr(raw) if isinstance(raw, float) else str(raw)
            if isinstance(raw, str) and raw.strip():
                try:
                    raw = self.dates.stored(raw)
                except ValueError as exc:
                    raise value_types.Unfit(str(exc)) from None
        return value_types.parse(kind, raw)

    def _unknown(self, key: str) -> str:
        folded = fold(key)
        if folded not in self.unknown:
            if self.create:
                try:
                    clean_name(key)
                except InvalidInput as exc:
                    raise Bad(str(exc)) from None
            self.unknown[folded] = key
        return self.unknown[folded]

    def refuse_unknown(self) -> None:
        if not self.unknown or self.create:
            return
        names = list(self.unknown.values())
        shown = ", ".join(repr(n) for n in names[:UNKNOWN_SHOWN])
        if len(names) > UNKNOWN_SHOWN:
            shown += f" and {len(names) - UNKNOWN_SHOWN} more"
        what = ("column" if self.columns else "key") + ("s are" if len(names) > 1 else " is")
        raise InvalidInput(
            f"{len(names)} {what} neither a built-in field nor a declared property: {shown} "
            "(declare them with `crmctl property create NAME --type TYPE`, map them with --map 'COLUMN=TARGET' "
            "or --map 'COLUMN=-', or pass --create-properties)"
        )

    def new_properties(self) -> list[tuple[str, str]]:
        """(name, inferred type) of each undeclared name met (text when it never had a value)."""
        return [
            (name, self.inferred[folded].kind if folded in self.inferred else "text")
            for folded, name in self.unknown.items()
        ]

    def new_type(self, name: str) -> str:
        folded = fold(name)
        return self.inferred[folded].kind if folded in self.inferred else "text"


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text"
