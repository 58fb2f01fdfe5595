"""PostgreSQL backend (psycopg 3): a ``psycopg_pool`` connection pool, ``%s`` placeholders."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from atdata.extras import require
from atdata_appview.store.base import Store
from atdata_appview.store.migrations import POSTGRES

# Any constant works; it only has to be the same for every appview process sharing the database.
_MIGRATION_LOCK_ID = 0x61746461
_WRITE_LOCK_ID = 0x61746462
# Enough for the firehose followers, the resync workers, the identity refresher and the web
# server's threads at once; more connections than that would only queue on the database's locks.
POOL_SIZE = 16


class PostgresStore(Store):
    dialect = POSTGRES
    P = "%s"

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        # Fail here, naming the extra, not at the first query.
        require("psycopg", "postgres")
        require("psycopg_pool", "postgres")
        from psycopg_pool import ConnectionPool

        super().__init__()
        self.url = url
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, kwargs={"autocommit": True}, open=False, timeout=60
        )
        self._opened = False
        self._open_lock = threading.Lock()

    def migrate(self) -> int:
        import psycopg

        # One plain connection first: a wrong URL or a database that is down fails now, with the
        # server's own message, rather than after the pool's wait for a connection.
        psycopg.connect(self.url, connect_timeout=10).close()
        return super().migrate()

    @contextmanager
    def _acquire(self) -> Iterator[Any]:
        if not self._opened:
            with self._open_lock:
                if not self._opened:
                    self._pool.open(wait=False)
                    self._opened = True
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _begin(self, conn: Any, *, write: bool) -> Iterator[None]:
        # A read is one statement, which autocommit already makes atomic.
        if not write:
            yield
            return
        # Pipeline mode: statements whose results nobody reads (the writes) go out without waiting
        # for the server, so a batch costs a few round trips, not one per statement.
        with conn.pipeline(), conn.transaction():
            # Writers take one lock up front, as SQLite's BEGIN IMMEDIATE does: the firehose batch and
            # the resync workers touch the same repo's rows in different orders, and without it
            # PostgreSQL broke the resulting deadlocks by aborting one side (an honest event skipped).
            self._execute(conn, "SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK_ID,))
            # Commits need not wait for the WAL flush, as SQLite's synchronous=NORMAL: a crash loses
            # at most the last transactions whole, the firehose cursor with them, which then
            # replays them.
            self._execute(conn, "SET LOCAL synchronous_commit = off")
            yield

    def close(self) -> None:
        self._pool.close()

    def _lock_for_migration(self, conn: Any) -> None:
        self._execute(conn, "SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_ID,))

    def _search_condition(self, words: Sequence[str]) -> tuple[str, list[Any]]:
        return "d.search_tsv @@ to_tsquery('simple', %s)", [" & ".join(f"{w}:*" for w in words)]
