"""PostgreSQL backend (psycopg 3): a ``psycopg_pool`` connection pool, ``%s`` placeholders."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from atdata.extras import require
from atdata_appview.store.base import Store, _on_conflict, copy_text_columns
from atdata_appview.store.migrations import POSTGRES

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every appview process sharing the database.
_MIGRATION_LOCK_ID = 0x61746461
_WRITE_LOCK_ID = 0x61746462
_CHANGE_LOG_LOCK_ID = 0x61746463
CHANGES_CHANNEL = "atdata_changes"
# A write transaction's start. Writers take one lock up front, as SQLite's BEGIN IMMEDIATE does: the
# firehose batch and the resync workers touch the same repo's rows in different orders, and without
# it PostgreSQL broke the resulting deadlocks by aborting one side (an honest event skipped).
# Commits need not wait for the WAL flush, as SQLite's synchronous=NORMAL: a crash loses at most the
# last transactions whole, the firehose cursor with them, which then replays them.
_BEGIN_WRITE = f"BEGIN; SELECT pg_advisory_xact_lock({_WRITE_LOCK_ID}); SET LOCAL synchronous_commit = off"
# Enough for the firehose followers, the resync workers, the identity refresher and the web
# server's threads at once; more connections than that would only queue on the database's locks.
POOL_SIZE = 16
# An API process's reads are single statements from the web server's threads; a few connections per
# process keep many processes within PostgreSQL's connection limit.
API_POOL_SIZE = 8
# The text one multi-row statement carries, at most: far below PostgreSQL's 1 GB message limit, which
# a resync's snapshot (thousands of records of up to 256 KiB each, in one transaction) could pass.
STATEMENT_CHARS = 64 * 1024 * 1024


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
        self._types: dict[str, dict[str, str]] = {}  # table -> column -> SQL type (see _column_types)

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
        # One message, one round trip, no pipeline to set up: psycopg's pipeline and transaction
        # blocks cost more CPU than the statements of a small transaction (an identity refresh's).
        self._execute(conn, _BEGIN_WRITE)
        try:
            yield
        except BaseException:
            self._rollback(conn)
            raise
        self._execute(conn, "COMMIT")

    def _rollback(self, conn: Any) -> None:
        import psycopg

        try:
            self._execute(conn, "ROLLBACK")
        except psycopg.Error:  # the connection broke: the server ended the transaction, the pool drops it
            log.debug("rollback failed", exc_info=True)

    def close(self) -> None:
        self._pool.close()

    # --- multi-row writes -----------------------------------------------------------------------
    def _write_rows(
        self,
        conn: Any,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        key: str | None,
        update: Sequence[str],
    ) -> None:
        """One statement, whatever the number of rows: each column as one array parameter, which the
        server unnests. Row by row (``executemany``) cost an executor start per row on the server and
        a Python loop per row in the driver, most of an ingest batch's time on both sides. Rows whose
        text passes :data:`STATEMENT_CHARS` go in halves."""
        values = list(zip(*rows, strict=True))
        if len(rows) > 1 and _text_chars(values) > STATEMENT_CHARS:
            half = len(rows) // 2
            self._write_rows(conn, table, columns, rows[:half], key=key, update=update)
            self._write_rows(conn, table, columns, rows[half:], key=key, update=update)
            return
        types = self._column_types(conn, table)
        arrays, params = zip(*(_array_param(column, types[c]) for c, column in zip(columns, values)))
        self._execute(
            conn,
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({', '.join(arrays)})"
            + _on_conflict(key, update),
            params,
        )

    def _delete_rows(self, conn: Any, table: str, column: str, values: Sequence[Any]) -> None:
        if len(values) > 1 and _text_chars([values]) > STATEMENT_CHARS:
            half = len(values) // 2
            self._delete_rows(conn, table, column, values[:half])
            self._delete_rows(conn, table, column, values[half:])
            return
        array, param = _array_param(values, self._column_types(conn, table)[column])
        self._execute(conn, f"DELETE FROM {table} WHERE {column} = ANY({array})", (param,))

    def _among_text(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        # One array parameter: the same statement text whatever the number of values, which psycopg
        # and the server prepare once (an IN list of a new length is parsed and planned afresh).
        return f"{column} = ANY(%b::text[])", [list(values)]

    def _column_types(self, conn: Any, table: str) -> dict[str, str]:
        """The SQL types of ``table``'s columns, as the migrations made them (asked once per table)."""
        types = self._types.get(table)
        if types is None:
            rows = self._execute(
                conn,
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (table,),
            ).fetchall()
            types = self._types[table] = {str(name): str(kind) for name, kind in rows}
        return types

    def _lock_for_migration(self, conn: Any) -> None:
        self._execute(conn, "SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_ID,))

    def _search_condition(self, words: Sequence[str]) -> tuple[str, list[Any]]:
        return "d.search_tsv @@ to_tsquery('simple', %s)", [" & ".join(f"{w}:*" for w in words)]

    # --- the lens graph's bulk read and the change log's notifications -------------------------
    def _lens_graph_columns(self, batch: int) -> Iterator[Sequence[Sequence[str]]]:
        """COPY in text form, split in blocks of about ``batch`` rows by C-level string methods:
        half the time of fetching the same rows as tuples, with no Python loop per row."""
        block = batch * 256  # bytes: a lens row is about 250
        with self._acquire() as conn, conn.transaction():
            # A plain scan and one hash join: compiling it (the planner's estimate trips JIT) took
            # longer than running it.
            self._execute(conn, "SET LOCAL jit = off")
            encoding = conn.info.encoding
            with conn.cursor().copy(f"COPY ({self._LENS_GRAPH}) TO STDOUT") as copy:
                data = bytearray()  # libpq hands over one row at a time
                for row in copy:
                    data += row
                    if len(data) >= block:
                        cut = data.rfind(b"\n") + 1  # whole rows only; the rest waits for the next part
                        text = data[:cut].decode(encoding)
                        del data[:cut]
                        yield copy_text_columns(text, 4)
                if data:
                    yield copy_text_columns(data.decode(encoding), 4)

    def _lock_change_log(self, conn: Any) -> None:
        self._execute(conn, "SELECT pg_advisory_xact_lock(%s)", (_CHANGE_LOG_LOCK_ID,))

    def _notify_change(self, conn: Any, change_id: int) -> None:
        # Delivered at commit, so a follower woken by it finds the entry.
        self._execute(conn, "SELECT pg_notify(%s, %s)", (CHANGES_CHANNEL, str(change_id)))

    def change_wakeups(self, stop: threading.Event, poll: float) -> Iterator[None]:
        """Yields on each NOTIFY of the change log (several close together: once), at least every
        ``poll`` seconds, and after each (re)connection of the listening connection, so that the
        follower catches up on whatever it missed while disconnected."""
        import psycopg

        conn: psycopg.Connection[Any] | None = None
        try:
            while not stop.is_set():
                try:
                    if conn is None:
                        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
                        conn.execute(f"LISTEN {CHANGES_CHANNEL}")
                    else:
                        if list(conn.notifies(timeout=poll, stop_after=1)):
                            list(conn.notifies(timeout=0.01))  # a burst of batches: one catch-up
                except psycopg.Error as e:
                    log.warning(
                        "listening for the change log failed (%s); reconnecting", str(e).strip()[:200]
                    )
                    if conn is not None:
                        conn.close()
                    conn = None
                    stop.wait(1.0)
                    continue
                yield
        finally:
            if conn is not None:
                conn.close()


# A text column's values joined into one text parameter, which the server splits: separators no value
# of the column may hold (checked, or the column goes as an array; see _array_param).
_SEPARATOR, _NULL = "\x1f", "\x1e"
_SPLIT = "string_to_array(%s::text, E'\\x1f', E'\\x1e')"


def _array_param(values: Sequence[Any], kind: str) -> tuple[str, Any]:
    """The SQL of one column's array and its parameter. A text column whose values (strings or
    NULLs) hold neither separator nor NUL goes as one joined string, split by the server: joining and
    checking are C-level loops, where psycopg's array dumper calls Python per element (a fifth of the
    applying thread's CPU). Any other column, or a value that could be misread, goes as a binary array
    (``%b``, which psycopg builds about 8x faster than a text one: no escaping)."""
    if kind == "text" and values:
        nulls = values.count(None)
        try:
            joined = _SEPARATOR.join([_NULL if v is None else v for v in values] if nulls else values)
        except TypeError:  # a value that is not a string: psycopg says what it makes of it
            joined = None
        if (
            joined is not None
            and joined  # one empty string: splitting "" gives no element, not one
            and joined.count(_SEPARATOR) == len(values) - 1
            and joined.count(_NULL) == nulls
            and "\x00" not in joined  # refused by the server as before, in psycopg's array form
        ):
            return _SPLIT, joined
    return f"%b::{kind}[]", list(values)


def _text_chars(columns: Sequence[Sequence[Any]]) -> int:
    """The characters of the strings among ``columns`` (C-level loops only: it runs on every batch)."""
    total = 0
    for values in columns:
        try:
            total += sum(map(len, values))
        except TypeError:  # NULLs or numbers among them
            total += sum(map(len, filter(str.__instancecheck__, values)))
    return total
