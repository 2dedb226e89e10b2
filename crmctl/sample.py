"""The bundled sample data, loaded by `crmctl init --sample`."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database


def sample_file() -> Path:
    """The sample NDJSON: next to the package in a checkout, or installed as package data."""
    for candidate in (
        Path(__file__).resolve().parent.parent / "sample_data" / "contacts.ndjson",
        Path(__file__).resolve().parent / "sample_data" / "contacts.ndjson",
    ):
        if candidate.exists():
            return candidate
    from crmctl.errors import NotFound

    raise NotFound("sample data not found (expected sample_data/contacts.ndjson beside the package)")


def load_sample(db: Database):
    from crmctl.actions import current_user
    from crmctl.importer import import_contacts
    from crmctl.store import transaction

    path = sample_file()
    with open(path, "rb") as stream, transaction(db):
        return import_contacts(db, stream, fmt="ndjson", filename=str(path), skip_invalid=False, actor=current_user())
