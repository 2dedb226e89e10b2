"""SQL for the property catalog (`properties`) and the values contacts hold (`property_values`).

A property's name is unique by `folded` (crmctl.query.folding.fold of the name, computed by
the caller), so `Plan` and `plan` are one property; values refer to their property by id, so a rename touches one
row. Values are stored in their type's form (see crmctl.value_types).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crmctl import value_types
from crmctl.store.pg import is_postgres
from crmctl.store.scopes import _checked
from crmctl.store.script import insert_returning_id

if TYPE_CHECKING:
    from sqlite_utils import Database

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
_CURSORS = itertools.count(1)


def value_sql(db: Database) -> str:
    """The placeholder of a property value: on PostgreSQL `property_values.value` is jsonb."""
    return "CAST(? AS jsonb)" if is_postgres(db) else "?"


def stored(db: Database, value: Any) -> Any:
    """A value (int, float or str) as the parameter `value_sql` reads."""
    if is_postgres(db):
        from crmctl.store.pg.values import to_jsonb_text

        return to_jsonb_text(value)
    return value


def batches(db: Database, sql: str, params: Sequence[Any] = (), size: int = 5000) -> Iterator[list[tuple]]:
    """The rows of a query in lists of `size`, never all in memory (a server-side cursor on
    PostgreSQL; SQLite's cursor steps through the rows anyway)."""
    if not is_postgres(db):
        cursor = db.execute(sql, list(params))
        while rows := cursor.fetchmany(size):
            yield rows
        return
    from crmctl.store.pg.translate import translate

    translated = translate(sql)
    conn = db.conn
    name = f"crmctl_batches_{next(_CURSORS)}"
    with conn.cursor(name=name, withhold=not getattr(db, "in_transaction", False)) as cursor:  # type: ignore[call-overload]
        cursor.execute(translated.text, translated.arguments(list(params)))
        while rows := cursor.fetchmany(size):
            yield rows


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
    property_id = insert_returning_id(
        db,
        "INSERT INTO properties(name, folded, type, description, created_at) VALUES (?, ?, ?, ?, ?)",
        [name, folded, kind, description, now],
    )
    return Property(property_id, name, kind, description, now)


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
    if is_postgres(db):
        shown: list[tuple[int, Any]] = []
        total = 0
        for rows in batches(db, _VALUES, [prop.id]):
            for contact_id, value in rows:
                if _sql_convert(prop.type, kind, value) is None:
                    total += 1
                    if len(shown) < limit:
                        shown.append((contact_id, value))
        return shown, total
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
    if is_postgres(db):
        return _convert_values_pg(db, prop, kind)
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


_VALUES = "SELECT contact_id, value FROM property_values WHERE property_id = ? ORDER BY contact_id"


def _convert_values_pg(db: Database, prop: Property, kind: str) -> int:
    """PostgreSQL: the values converted in Python (value_types is the one rule), batch by
    batch into a temp table (NULL: does not fit), then applied set-based."""
    db.execute("DROP TABLE IF EXISTS temp.retyped_values")
    db.execute("CREATE TEMP TABLE retyped_values (contact_id BIGINT PRIMARY KEY, value jsonb)")
    for rows in batches(db, _VALUES, [prop.id]):
        converted = [(contact_id, _sql_convert(prop.type, kind, value)) for contact_id, value in rows]
        db.executemany(  # type: ignore[attr-defined]
            "INSERT INTO temp.retyped_values(contact_id, value) VALUES (?, CAST(? AS jsonb))",
            [(contact_id, None if value is None else stored(db, value)) for contact_id, value in converted],
        )
    dropped = db.execute(
        "DELETE FROM property_values AS v USING temp.retyped_values AS r "
        "WHERE v.property_id = ? AND v.contact_id = r.contact_id AND r.value IS NULL",
        [prop.id],
    ).rowcount
    db.execute(
        "UPDATE property_values AS v SET value = r.value FROM temp.retyped_values AS r "
        "WHERE v.property_id = ? AND v.contact_id = r.contact_id AND r.value IS NOT NULL",
        [prop.id],
    )
    db.execute("DROP TABLE temp.retyped_values")
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
        elif is_postgres(db):  # jsonb text keeps 3 and 3.0 apart, as typeof does on SQLite
            tests.append(
                "NOT EXISTS (SELECT 1 FROM property_values AS v WHERE v.contact_id = s.id AND v.property_id = ? "
                "AND v.value::text = CAST(? AS jsonb)::text)"
            )
            params.extend([property_id, stored(db, value)])
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
                f"SELECT id, ?, {value_sql(db)} FROM temp.{_checked(scope)} WHERE true "
                f"ON CONFLICT(contact_id, property_id) DO UPDATE SET value = excluded.value WHERE {changed_value(db)}",
                [property_id, stored(db, value)],
            )


def changed_value(db: Database) -> str:
    """In an upsert of property_values: the stored value differs from the new one (in type too)."""
    if is_postgres(db):
        return "property_values.value::text <> excluded.value::text"
    return "property_values.value IS NOT excluded.value OR typeof(property_values.value) != typeof(excluded.value)"
