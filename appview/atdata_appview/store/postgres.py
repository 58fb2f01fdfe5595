"""PostgreSQL backend (psycopg 3): same SQL as SQLite with ``%s`` placeholders."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from atdata.extras import require
from atdata_appview.store.base import Store
from atdata_appview.store.migrations import POSTGRES

# Any constant works; it only has to be the same for every appview process sharing the database.
_MIGRATION_LOCK_ID = 0x61746461


class PostgresStore(Store):
    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        require("psycopg", "postgres")  # fail here, naming the extra, not at the first query
        super().__init__()
        self.url = url

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    @contextmanager
    def _raw_transaction(self, conn: Any, *, write: bool) -> Iterator[None]:
        from psycopg.pq import TransactionStatus

        # Inside an open transaction, join it (a savepoint would cost two more round trips); a read
        # on its own is one statement, which autocommit already makes atomic.
        if conn.info.transaction_status != TransactionStatus.IDLE or not write:
            yield
            return
        with conn.transaction():
            yield

    def _lock_for_migration(self, conn: Any) -> None:
        self._execute(conn, "SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK_ID,))

    def search_clause(self, words: Sequence[str]) -> tuple[str, list[Any]]:
        return "d.search_tsv @@ to_tsquery('simple', ?)", [" & ".join(f"{w}:*" for w in words)]
