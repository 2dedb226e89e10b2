"""PostgreSQL as a second store backend: a `postgresql://` database URL selects it.

psycopg is imported only when such a URL is opened (`pip install 'crmctl[postgres]'`)."""


def is_postgres(db: object) -> bool:
    """Whether a store handle is a PostgreSQL one (db.dialect, read without typing trouble)."""
    return getattr(db, "dialect", "sqlite") == "postgresql"
