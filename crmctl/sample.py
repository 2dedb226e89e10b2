"""The bundled sample data, loaded by `crmctl init --sample`: the sample's property catalog
(`properties.json`, which the sample flows name) and its contacts (`contacts.ndjson`)."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database


def sample_file(name: str = "contacts.ndjson") -> Path:
    """A sample file: next to the package in a checkout, or installed as package data."""
    for candidate in (
        Path(__file__).resolve().parent.parent / "sample_data" / name,
        Path(__file__).resolve().parent / "sample_data" / name,
    ):
        if candidate.exists():
            return candidate
    from crmctl.errors import NotFound

    raise NotFound(f"sample data not found (expected sample_data/{name} beside the package)")


def load_sample(db: Database):
    from crmctl.actions import current_user
    from crmctl.importer import import_contacts
    from crmctl.store import transaction

    path = sample_file()
    with open(path, "rb") as stream, transaction(db):
        declare_sample_properties(db, current_user())
        return import_contacts(db, stream, fmt="ndjson", filename=str(path), skip_invalid=False, actor=current_user())


def declare_sample_properties(db: Database, actor: str) -> list[str]:
    """Declare the sample's properties that are missing (an existing one keeps its type)."""
    import json

    from crmctl import clock, properties
    from crmctl.actions import Context

    wanted = json.loads(sample_file("properties.json").read_text(encoding="utf-8"))
    catalog = properties.Catalog.load(db)
    ctx = Context(actor=actor, now=clock.now_text())
    created = []
    for entry in wanted:
        if catalog.get(entry["name"]) is None:
            properties.create(db, entry["name"], entry["type"], ctx, entry.get("description"))
            created.append(entry["name"])
    return created
