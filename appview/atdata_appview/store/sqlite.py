"""SQLite backend: WAL journal, one writer (``BEGIN IMMEDIATE``), readers never block it."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from atdata_appview.store.base import Store
from atdata_appview.store.migrations import SQLITE


class SqliteStore(Store):
    dialect = SQLITE
    P = "?"

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._thread_conns = threading.local()
        self._all_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @contextmanager
    def _acquire(self) -> Iterator[sqlite3.Connection]:
        # One connection per thread, kept open: opening one costs more than most statements.
        conn = getattr(self._thread_conns, "conn", None)
        if conn is None:
            conn = self._connect()
            self._thread_conns.conn = conn
            with self._lock:
                self._all_conns.append(conn)
        yield conn

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False only so close() can run anywhere.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL loses nothing when the process dies (SIGKILL); only an OS crash or power
        # loss can drop the last transactions, which the firehose cursor then replays.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    @contextmanager
    def _begin(self, conn: Any, *, write: bool) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _max_params(self, conn: Any) -> int:
        # 999 in SQLite builds before 3.32, 32766 since; a build may set its own.
        return int(conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))

    def close(self) -> None:
        with self._lock:
            conns, self._all_conns = self._all_conns, []
        for conn in conns:
            # Closing a connection another thread still uses may fail; there is nothing to keep.
            with contextlib.suppress(Exception):
                conn.close()
        self._thread_conns = threading.local()

    def _search_condition(self, words: Sequence[str]) -> tuple[str, list[Any]]:
        query = " AND ".join(f'"{w}"*' for w in words)
        return "d.uri IN (SELECT uri FROM schemas_fts WHERE schemas_fts MATCH ?)", [query]
