"""Storage of the appview: :func:`open_store` picks SQLite or PostgreSQL from a URL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from atdata.errors import AtdataError
from atdata_appview.store.base import DERIVED_TABLES, Derived, Rejection, Repo, Store, StoredRecord, Tx

__all__ = [
    "DERIVED_TABLES",
    "Derived",
    "Rejection",
    "Repo",
    "Store",
    "StoreError",
    "StoredRecord",
    "Tx",
    "open_store",
    "redact",
]


class StoreError(AtdataError, OSError):
    """The database cannot be opened or used; the message names it (without any password)."""


def redact(url: str) -> str:
    """``url`` with the password, if any, replaced: safe for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def open_store(url: str, *, migrate: bool = True) -> Store:
    """``sqlite:///path/to.db`` (or a bare path) or ``postgresql://user@host/db``; migrated by default."""
    store = _store_for(url)
    if migrate:
        try:
            store.migrate()
        except Exception as e:  # sqlite3 / psycopg errors alike: say which database and why
            store.close()
            message = str(e).replace(url, redact(url)).strip().splitlines()[0] if str(e).strip() else repr(e)
            raise StoreError(f"--db {redact(url)}: cannot open the database: {message}") from None
    return store


def _store_for(url: str) -> Store:
    store: Store
    if url.startswith(("postgresql://", "postgres://")):
        from atdata_appview.store.postgres import PostgresStore

        store = PostgresStore(url)
    elif url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        if path.startswith("//"):  # sqlite:////abs/path, the SQLAlchemy spelling, means the same
            path = path[1:]
        if not path.startswith("/"):
            raise StoreError(f"--db {url!r}: write sqlite:///absolute/path.db (or give a bare file path)")
        from atdata_appview.store.sqlite import SqliteStore

        store = SqliteStore(path)
    elif "://" in url:
        raise StoreError(
            f"--db {redact(url)!r}: unsupported database URL (use sqlite:///... or postgresql://...)"
        )
    else:
        from atdata_appview.store.sqlite import SqliteStore

        store = SqliteStore(url)
    return store
