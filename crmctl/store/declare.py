"""The property catalog's migration: declare every data point key an older database holds,
with the type all of its stored values fit, and move the values across unchanged in meaning.

A value may change form to fit its type ("yes" becomes true, "2026-12-01" becomes
2026-12-01T00:00:00Z, the number 42 in a text property becomes "42"), never its meaning:
`Inference("stored")` only picks a type every stored value converts to without loss.
What was declared is written to the audit log (actor `migration`) and left on the
connection as `migration_notes`, for the command that opened the database to show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmctl import clock, value_types
from crmctl.store import audit
from crmctl.store.properties import CONVERT, register_functions

if TYPE_CHECKING:
    from sqlite_utils import Database

NOTE_NAMES = 20
_STORED_TIME_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z"
# Values already in their type's stored form are copied as they are; only the others pass
# through Python.
_ALREADY = {
    "text": "typeof(a.value) = 'text'",
    "number": "typeof(a.value) IN ('integer', 'real')",
    "boolean": "typeof(a.value) = 'integer'",
    "date": f"typeof(a.value) = 'text' AND a.value GLOB '{_STORED_TIME_GLOB}'",
}


def declare_existing_keys(db: Database) -> list[tuple[str, str]]:
    """Declare every key of the old `attributes` table and copy its values; returns (name, type)."""
    from crmctl.folding import fold  # the one case rule for names

    register_functions(db)
    now = clock.now_text()
    counts = dict(db.execute("SELECT key, count(value) FROM attributes GROUP BY key").fetchall())
    names = _unique_names(sorted(counts, key=lambda k: (fold(k), -counts[k], k)), fold)
    declared = []
    db.execute("CREATE TEMP TABLE declared_keys (key TEXT PRIMARY KEY, property_id INTEGER, type TEXT)")
    for key, name in names.items():
        kind = _infer(db, key)
        property_id = db.execute(
            "INSERT INTO properties(name, folded, type, description, created_at) VALUES (?, ?, ?, NULL, ?)",
            [name, fold(name), kind, now],
        ).lastrowid
        db.execute("INSERT INTO temp.declared_keys VALUES (?, ?, ?)", [key, property_id, kind])
        declared.append((name, kind))
    for kind, already in _ALREADY.items():
        db.execute(
            "INSERT INTO property_values(contact_id, property_id, value) "
            f"SELECT a.contact_id, d.property_id, CASE WHEN {already} THEN a.value "
            f"ELSE {CONVERT}('', d.type, a.value) END "
            "FROM temp.declared_keys AS d JOIN attributes AS a ON a.key = d.key "
            "WHERE d.type = ? AND a.value IS NOT NULL ORDER BY a.contact_id",
            [kind],
        )
    db.execute("DROP TABLE temp.declared_keys")
    renamed = {key: name for key, name in names.items() if key != name}
    _report(db, declared, renamed, now)
    return declared


def _unique_names(keys: list[str], fold) -> dict[str, str]:
    """key -> property name. Keys that differ only in case (`Plan`, `plan`) cannot share one
    name: the one most contacts hold keeps it, the others become `Plan (2)`, `Plan (3)`…"""
    taken: set[str] = set()
    names = {}
    for key in keys:
        name, n = key, 1
        while fold(name) in taken:
            n += 1
            name = f"{key} ({n})"
        taken.add(fold(name))
        names[key] = name
    return names


def _infer(db: Database, key: str) -> str:
    """The type of one key's stored values. Numbers are summed up in SQL; text values are
    checked one distinct value at a time until no type but text is left."""
    inference = value_types.Inference("stored")
    blobs, numbers, non_flags = db.execute(
        "SELECT sum(typeof(value) = 'blob'), sum(typeof(value) IN ('integer', 'real')), "
        "sum(typeof(value) = 'real' OR (typeof(value) = 'integer' AND value NOT IN (0, 1))) "
        "FROM attributes WHERE key = ?",
        [key],
    ).fetchone()
    if blobs:
        return "text"
    if numbers:
        inference.add(2 if non_flags else 1)  # stands for all of them: only their kind matters
    rows = db.execute(
        "SELECT DISTINCT value FROM attributes WHERE key = ? AND typeof(value) = 'text' ORDER BY value", [key]
    )
    for (value,) in rows:
        inference.add(value)
        if not inference.candidates:
            break
    return inference.kind


def _report(db: Database, declared: list[tuple[str, str]], renamed: dict[str, str], now: str) -> None:
    notes = getattr(db, "migration_notes", None)
    if not declared:
        return
    listed = [f"{name} ({kind})" for name, kind in declared]
    audit.record(
        db,
        at=now,
        actor="migration",
        action="property_create",
        detail="declared from existing data points: " + ", ".join(listed),
    )
    if notes is None:
        return
    more = len(listed) - NOTE_NAMES
    shown = ", ".join(listed[:NOTE_NAMES]) + (f" and {more} more" if more > 0 else "")
    notes.append(
        f"note: properties now have types; declared {len(declared)} from the data points already stored: "
        f"{shown} (see `crmctl property list`; `crmctl property retype` changes a type)"
    )
    for key, name in renamed.items():
        notes.append(f"note: data point {key!r} differs from another only in case: it is now the property {name!r}")
