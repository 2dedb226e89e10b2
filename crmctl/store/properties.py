"""SQL for the property catalog (`properties`) and the values contacts hold (`property_values`).

A property's name is unique by `folded` (crmctl.query.folding.fold of the name, computed by
the caller), so `Plan` and `plan` are one property; values refer to their property by id, so a rename touches one
row. Values are stored in their type's form (see crmctl.value_types).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from crmctl import value_types
from crmctl.store.scopes import _checked

CONVERT = "crmctl_convert"  # (source type, target type, value) -> converted value, or NULL if it does not fit
NUMBER_TEXT = "crmctl_number_text"  # a stored number as the text that reads back the same


@dataclass(frozen=True)
class Property:
    id: int
    name: str
    type: str
    description: str | None = None
    created_at: str | None = None


_COLUMNS = "id, name, type, description, created_at"


def register_functions(db: Database) -> None:
    """The value rules as SQL functions, so SQL and Python convert alike (idempotent)."""
    db.register_function(_sql_convert, deterministic=True, name=CONVERT)
    db.register_function(_sql_number_text, deterministic=True, name=NUMBER_TEXT)


def _sql_convert(source: str, kind: str, value: Any) -> Any:
    try:
        converted = value_types.convert_from(source, kind, value)
    except value_types.Unfit:
        return None
    return converted


def _sql_number_text(value: Any) -> Any:
    return value_types.number_text(value) if isinstance(value, (int, float)) else value


# The catalog -------------------------------------------------------------------------------


def find(db: Database, folded_names: Iterable[str]) -> dict[str, Property]:
    """Catalog entries for already folded names, keyed by folded name."""
    folded = sorted(set(folded_names))
    found: dict[str, Property] = {}
    for start in range(0, len(folded), 500):
        part = folded[start : start + 500]
        rows = db.execute(
            f"SELECT folded, {_COLUMNS} FROM properties WHERE folded IN ({','.join('?' * len(part))})", part
        )
        found.update({row[0]: Property(*row[1:]) for row in rows})
    return found


def every(db: Database) -> list[Property]:
    return [Property(*row) for row in db.execute(f"SELECT {_COLUMNS} FROM properties ORDER BY folded, name")]


def create(db: Database, name: str, folded: str, kind: str, description: str | None, now: str) -> Property:
    cursor = db.execute(
        "INSERT INTO properties(name, folded, type, description, created_at) VALUES (?, ?, ?, ?, ?)",
        [name, folded, kind, description, now],
    )
    assert cursor.lastrowid is not None
    return Property(cursor.lastrowid, name, kind, description, now)


def listing(db: Database) -> list[dict]:
    """Every property with how many contacts hold a value (counted on the value index)."""
    rows = db.execute(
        "SELECT p.name, p.type, p.description, p.created_at, "
        "(SELECT count(*) FROM property_values AS v WHERE v.property_id = p.id) "
        "FROM properties AS p ORDER BY p.folded, p.name"
    )
    return [
        {"name": name, "type": kind, "description": description, "contacts": count, "created_at": created}
        for name, kind, description, created, count in rows
    ]


def holders(db: Database, property_id: int) -> int:
    return db.execute("SELECT count(*) FROM property_values WHERE property_id = ?", [property_id]).fetchone()[0]


def rename(db: Database, property_id: int, new_name: str, folded: str) -> None:
    db.execute("UPDATE properties SET name = ?, folded = ? WHERE id = ?", [new_name, folded, property_id])


def retype(db: Database, property_id: int, kind: str) -> None:
    db.execute("UPDATE properties SET type = ? WHERE id = ?", [kind, property_id])


def delete(db: Database, property_id: int) -> None:
    """Its values first: a transaction may run with foreign keys off (no cascade)."""
    db.execute("DELETE FROM property_values WHERE property_id = ?", [property_id])
    db.execute("DELETE FROM properties WHERE id = ?", [property_id])


def holders_scope(db: Database, property_id: int, target: str) -> None:
    """target := every contact holding a value of the property."""
    db.execute(
        f"INSERT OR IGNORE INTO temp.{_checked(target)}(id) "
        "SELECT contact_id FROM property_values WHERE property_id = ? ORDER BY contact_id",
        [property_id],
    )


# Retyping ---------------------------------------------------------------------------------


def unfit_values(db: Database, prop: Property, kind: str, limit: int) -> tuple[list[tuple[int, Any]], int]:
    """(contact id, value) of the first `limit` values that do not convert to `kind`; and how many."""
    register_functions(db)
    test = f"{CONVERT}(?, ?, v.value) IS NULL"
    params = [prop.type, kind, prop.id]
    total = db.execute(
        f"SELECT count(*) FROM property_values AS v WHERE {test} AND v.property_id = ?", params
    ).fetchone()[0]
    shown = db.execute(
        f"SELECT v.contact_id, v.value FROM property_values AS v WHERE {test} AND v.property_id = ? "
        "ORDER BY v.contact_id LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [(row[0], row[1]) for row in shown], total


def convert_values(db: Database, prop: Property, kind: str) -> int:
    """Drop the values that do not convert, convert the others; returns how many were dropped."""
    register_functions(db)
    dropped = db.execute(
        f"DELETE FROM property_values WHERE property_id = ? AND {CONVERT}(?, ?, value) IS NULL",
        [prop.id, prop.type, kind],
    ).rowcount
    db.execute(
        f"UPDATE property_values SET value = {CONVERT}(?, ?, value) WHERE property_id = ?",
        [prop.type, kind, prop.id],
    )
    return dropped


# Values of the contacts in a scope ---------------------------------------------------------


def differing(db: Database, scope: str, target: str, values: Sequence[tuple[int, Any]]) -> None:
    """target += contacts of scope for which writing `values` ((property id, value or None
    to remove), at least one) would change something."""
    tests, params = [], []
    for property_id, value in values:
        if value is None:
            tests.append("EXISTS (SELECT 1 FROM property_values AS v WHERE v.contact_id = s.id AND v.property_id = ?)")
            params.append(property_id)
        else:
            tests.append(
                "NOT EXISTS (SELECT 1 FROM property_values AS v WHERE v.contact_id = s.id AND v.property_id = ? "
                "AND v.value = ? AND typeof(v.value) = typeof(?))"
            )
            params.extend([property_id, value, value])
    db.execute(
        f"INSERT OR IGNORE INTO temp.{_checked(target)}(id) SELECT s.id FROM temp.{_checked(scope)} AS s "
        f"WHERE {' OR '.join(tests)}",
        params,
    )


def write(db: Database, scope: str, values: Sequence[tuple[int, Any]]) -> None:
    for property_id, value in values:
        if value is None:
            db.execute(
                "DELETE FROM property_values WHERE property_id = ? "
                f"AND contact_id IN (SELECT id FROM temp.{_checked(scope)})",
                [property_id],
            )
        else:
            db.execute(
                "INSERT INTO property_values(contact_id, property_id, value) "
                f"SELECT id, ?, ? FROM temp.{_checked(scope)} WHERE true "
                "ON CONFLICT(contact_id, property_id) DO UPDATE SET value = excluded.value "
                "WHERE property_values.value IS NOT excluded.value "
                "OR typeof(property_values.value) != typeof(excluded.value)",
                [property_id, value],
            )
