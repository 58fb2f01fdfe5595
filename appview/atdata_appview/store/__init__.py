"""Storage of the appview: :func:`open_store` picks SQLite or PostgreSQL from a URL."""

from __future__ import annotations

from atdata.errors import AtdataError
from atdata_appview.store.base import DERIVED_TABLES, Derived, Rejection, Repo, Store, StoredRecord, Tx

__all__ = ["DERIVED_TABLES", "Derived", "Rejection", "Repo", "Store", "StoredRecord", "Tx", "open_store"]


def open_store(url: str, *, migrate: bool = True) -> Store:
    """``sqlite:///path/to.db`` (or a bare path) or ``postgresql://user@host/db``; migrated by default."""
    store: Store
    if url.startswith(("postgresql://", "postgres://")):
        from atdata_appview.store.postgres import PostgresStore

        store = PostgresStore(url)
    elif url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        if path.startswith("//"):  # sqlite:////abs/path, the SQLAlchemy spelling, means the same
            path = path[1:]
        if not path.startswith("/"):
            raise AtdataError(f"--db {url!r}: write sqlite:///absolute/path.db (or give a bare file path)")
        from atdata_appview.store.sqlite import SqliteStore

        store = SqliteStore(path)
    elif "://" in url:
        raise AtdataError(f"--db {url!r}: unsupported database URL (use sqlite:///... or postgresql://...)")
    else:
        from atdata_appview.store.sqlite import SqliteStore

        store = SqliteStore(url)
    if migrate:
        store.migrate()
    return store
