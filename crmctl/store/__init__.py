"""The store: the only place SQL and the schema live."""

from crmctl.store.connection import default_path, open_db, resolve_path, transaction

__all__ = ["default_path", "open_db", "resolve_path", "transaction"]
