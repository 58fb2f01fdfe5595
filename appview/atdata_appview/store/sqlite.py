"""SQLite backend: WAL journal, one writer (``BEGIN IMMEDIATE``), readers never block it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from atdata_appview.store.base import Store
from atdata_appview.store.migrations import SQLITE


class SqliteStore(Store):
    dialect = SQLITE

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Each thread gets its own connection; check_same_thread=False only so close() can run anywhere.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL loses nothing when the process dies (SIGKILL); only an OS crash or power
        # loss can drop the last transactions, which the firehose cursor then replays.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    @contextmanager
    def _raw_transaction(self, conn: Any, *, write: bool) -> Iterator[None]:
        if conn.in_transaction:  # nested use on the same thread joins the open transaction
            yield
            return
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def search_clause(self, words: Sequence[str]) -> tuple[str, list[Any]]:
        query = " AND ".join(f'"{w}"*' for w in words)
        return "d.uri IN (SELECT uri FROM schemas_fts WHERE schemas_fts MATCH ?)", [query]
