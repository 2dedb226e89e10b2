"""SQL for the tag catalog and tag links."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from crmctl.folding import fold
from crmctl.store.pg import is_postgres
from crmctl.store.scopes import _checked

if TYPE_CHECKING:
    from sqlite_utils import Database

ACTION_TAGS = "action_tags"


def find(db: Database, names: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Catalog entries for `names`, keyed by folded name (crmctl.folding): (id, stored name).

    While case collisions wait to be resolved (m008_folded_keys) a key may have two entries:
    the one spelled exactly as asked wins, else the oldest."""
    wanted = {fold(name): name for name in names}
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    rows = db.execute(f"SELECT id, name, name_key FROM tags WHERE name_key IN ({marks}) ORDER BY id DESC", list(wanted))
    found: dict[str, tuple[int, str]] = {}
    for tag_id, name, key in rows:
        if key not in found or found[key][1] != wanted[key]:
            found[key] = (tag_id, name)
    return found


def create(db: Database, names: Iterable[str], now: str) -> list[str]:
    created = []
    for name in names:  # a few names at most: the catalog is written one entry at a time
        key = fold(name)
        cursor = db.execute(
            "INSERT INTO tags(name, name_key, created_at) SELECT ?, ?, ? "
            "WHERE NOT EXISTS (SELECT 1 FROM tags WHERE name_key = ?)",
            [name, key, now, key],
        )
        if cursor.rowcount:
            created.append(name)
    return created


# SQLite's NOCASE folds ASCII letters only; PostgreSQL gets the same order spelled out.
_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _nocase(db: Database, column: str) -> str:
    if not is_postgres(db):
        return f"{column} COLLATE NOCASE"
    return f"translate({column}, '{_ASCII_UPPER}', '{_ASCII_UPPER.lower()}') COLLATE \"C\""


def names(db: Database, limit: int = 10_000) -> list[str]:
    """Catalog names (at most `limit`), for suggestions and shell completion."""
    return [r[0] for r in db.execute(f"SELECT name FROM tags ORDER BY {_nocase(db, 'name')} LIMIT ?", [limit])]


def listing(db: Database) -> list[dict]:
    rows = db.execute(
        "SELECT t.name, (SELECT count(*) FROM contact_tags AS ct WHERE ct.tag_id = t.id), t.created_at "
        f"FROM tags AS t ORDER BY {_nocase(db, 't.name')}"
    )
    return [{"name": n, "contacts": c, "created_at": at} for n, c, at in rows]


def rename(db: Database, tag_id: int, new_name: str) -> None:
    db.execute("UPDATE tags SET name = ?, name_key = ? WHERE id = ?", [new_name, fold(new_name), tag_id])


def tagged_contacts(db: Database, tag_ids: list[int], target: str) -> None:
    """target := every contact holding any of tag_ids."""
    marks = ",".join("?" * len(tag_ids))
    db.execute(
        f"INSERT OR IGNORE INTO temp.{_checked(target)}(id) "
        f"SELECT contact_id FROM contact_tags WHERE tag_id IN ({marks})",
        tag_ids,
    )


def delete(db: Database, tag_ids: list[int]) -> None:
    marks = ",".join("?" * len(tag_ids))
    db.execute(f"DELETE FROM tags WHERE id IN ({marks})", tag_ids)


def stage_action_tags(db: Database, tag_ids: list[int]) -> None:
    db.execute(f"DROP TABLE IF EXISTS temp.{ACTION_TAGS}")
    db.execute(f"CREATE TEMP TABLE {ACTION_TAGS} (tag_id INTEGER PRIMARY KEY)")
    if tag_ids:  # a few ids (the names given), in one statement
        marks = ", ".join(["(?)"] * len(tag_ids))
        db.execute(f"INSERT OR IGNORE INTO temp.{ACTION_TAGS}(tag_id) VALUES {marks}", list(tag_ids))
    if is_postgres(db):  # as scopes.filled: a temporary table's size is unknown to the planner
        db.execute(f"ANALYZE temp.{ACTION_TAGS}")


def lacking_any(db: Database, scope: str, target: str) -> None:
    """target := contacts of scope that lack at least one staged action tag."""
    db.execute(
        f"INSERT INTO temp.{_checked(target)}(id) SELECT s.id FROM temp.{_checked(scope)} AS s "
        f"WHERE EXISTS (SELECT 1 FROM temp.{ACTION_TAGS} AS a WHERE NOT EXISTS ("
        "SELECT 1 FROM contact_tags AS ct WHERE ct.tag_id = a.tag_id AND ct.contact_id = s.id))"
    )


def holding_any(db: Database, scope: str, target: str) -> None:
    """target := contacts of scope that hold at least one staged action tag."""
    if is_postgres(db):  # a semi-join PostgreSQL can hash (the EXISTS below runs once per contact there)
        db.execute(
            f"INSERT INTO temp.{_checked(target)}(id) SELECT s.id FROM temp.{_checked(scope)} AS s "
            f"WHERE s.id IN (SELECT ct.contact_id FROM temp.{ACTION_TAGS} AS a "
            "JOIN contact_tags AS ct ON ct.tag_id = a.tag_id)"
        )
        return
    db.execute(
        f"INSERT INTO temp.{_checked(target)}(id) SELECT s.id FROM temp.{_checked(scope)} AS s "
        f"WHERE EXISTS (SELECT 1 FROM temp.{ACTION_TAGS} AS a JOIN contact_tags AS ct "
        "ON ct.tag_id = a.tag_id AND ct.contact_id = s.id)"
    )


def link(db: Database, scope: str, now: str) -> None:
    db.execute(
        "INSERT OR IGNORE INTO contact_tags(tag_id, contact_id, added_at) "
        f"SELECT a.tag_id, s.id, ? FROM temp.{ACTION_TAGS} AS a CROSS JOIN temp.{_checked(scope)} AS s",
        [now],
    )


def unlink(db: Database, scope: str) -> None:
    db.execute(
        f"DELETE FROM contact_tags WHERE tag_id IN (SELECT tag_id FROM temp.{ACTION_TAGS}) "
        f"AND contact_id IN (SELECT id FROM temp.{_checked(scope)})"
    )
