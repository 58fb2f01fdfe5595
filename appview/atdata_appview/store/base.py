"""The appview's store: one SQL text for SQLite and PostgreSQL, per-thread connections.

Writes happen inside :meth:`Store.transaction`, which yields a :class:`Tx`; everything done through one
``Tx`` commits or rolls back together. That is what makes ingest crash-safe: the ingester advances the
firehose cursor in the same ``Tx`` as the records the events carried.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from atdata.lexicon.formats import datetime_text
from atdata_appview.collections import DERIVED_TABLE
from atdata_appview.store.migrations import MIGRATIONS, Dialect

# Derived index tables, each keyed by the record's uri; only valid records get a row.
DERIVED_TABLES = tuple(dict.fromkeys(DERIVED_TABLE.values()))


def now_iso() -> str:
    return datetime_text(timespec="microseconds")


@dataclass(frozen=True)
class Repo:
    """What the appview knows about one repository (account)."""

    did: str
    handle: str | None = None
    signing_key: str | None = None  # did:key of the current #atproto key
    pds: str | None = None
    status: str = "active"  # active | takendown | suspended | deactivated | deleted | ...
    rev: str | None = None  # rev of the last commit applied

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class StoredRecord:
    """One record as indexed. ``valid`` is False for records kept only to show why they were refused."""

    uri: str
    did: str
    collection: str
    rkey: str
    cid: str
    rev: str
    value: dict[str, Any]
    valid: bool = True
    report: list[str] = field(default_factory=list)
    indexed_at: str = ""


@dataclass(frozen=True)
class Derived:
    """A row of one of the derived index tables (``DERIVED_TABLES``) for a valid record."""

    table: str
    columns: dict[str, Any]


@dataclass(frozen=True)
class Rejection:
    id: int
    at: str
    source: str
    did: str | None
    uri: str | None
    cid: str | None
    seq: int | None
    reason: str


class Tx:
    """Writes within one transaction. Every method is idempotent: applying the same event twice
    leaves the store as applying it once."""

    def __init__(self, store: Store, conn: Any) -> None:
        self._store = store
        self._conn = conn

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._store._execute(self._conn, sql, params)

    def upsert_repo(self, repo: Repo) -> None:
        """Insert or update a repo. The handle is only written on insert: it changes only through
        :meth:`update_identity`, after the two-way handle check."""
        self._exec(
            "INSERT INTO repos (did, handle, signing_key, pds, status, rev, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (did) DO UPDATE SET signing_key = excluded.signing_key,"
            " pds = excluded.pds, status = excluded.status, rev = excluded.rev,"
            " updated_at = excluded.updated_at",
            (repo.did, repo.handle, repo.signing_key, repo.pds, repo.status, repo.rev, now_iso()),
        )

    def update_identity(self, did: str, handle: str | None, signing_key: str, pds: str | None) -> None:
        """Refresh what the DID document says (``handle``: only one that passed the two-way check),
        leaving status and rev to the ingest."""
        self._exec(
            "UPDATE repos SET handle = ?, signing_key = ?, pds = ?, updated_at = ? WHERE did = ?",
            (handle, signing_key, pds, now_iso(), did),
        )

    def put_record(self, rec: StoredRecord, derived: Derived | None) -> None:
        self._exec(
            "INSERT INTO records (uri, did, collection, rkey, cid, rev, json, indexed_at, valid, report)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid, rev = excluded.rev, json = excluded.json,"
            " indexed_at = excluded.indexed_at, valid = excluded.valid, report = excluded.report",
            (
                rec.uri,
                rec.did,
                rec.collection,
                rec.rkey,
                rec.cid,
                rec.rev,
                json.dumps(rec.value, sort_keys=True, separators=(",", ":")),
                now_iso(),
                1 if rec.valid else 0,
                json.dumps(rec.report) if rec.report else None,
            ),
        )
        if derived is None or not rec.valid:
            self._delete_derived(rec.uri)
            return
        if derived.table not in DERIVED_TABLES:
            raise ValueError(f"unknown derived table {derived.table!r}")
        cols = ["uri", "did", "cid", *derived.columns]
        values = [rec.uri, rec.did, rec.cid, *derived.columns.values()]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
        self._exec(
            f"INSERT INTO {derived.table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            f" ON CONFLICT (uri) DO UPDATE SET {updates}",
            values,
        )

    def delete_record(self, uri: str) -> None:
        self._exec("DELETE FROM records WHERE uri = ?", (uri,))
        self._delete_derived(uri)

    def delete_repo_records(self, did: str) -> None:
        for table in (*DERIVED_TABLES, "records"):
            self._exec(f"DELETE FROM {table} WHERE did = ?", (did,))

    def _delete_derived(self, uri: str) -> None:
        collection = uri.split("/")[3] if uri.count("/") >= 4 else ""
        table = DERIVED_TABLE.get(collection)
        if table is not None:
            self._exec(f"DELETE FROM {table} WHERE uri = ?", (uri,))

    def reject(
        self,
        source: str,
        reason: str,
        *,
        did: str | None = None,
        uri: str | None = None,
        cid: str | None = None,
        seq: int | None = None,
    ) -> None:
        self._exec(
            "INSERT INTO rejections (at, source, did, uri, cid, seq, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now_iso(), source, did, uri, cid, seq, reason[:2000]),
        )

    def queue_resync(self, did: str, reason: str, *, at: float) -> None:
        """Ask for ``did``'s repo to be fetched whole at ``at`` (unix time). A repo already queued
        keeps its place and its backoff: asking again does not hurry a failing repo."""
        self._exec(
            "INSERT INTO resyncs (did, reason, attempts, next_at) VALUES (?, ?, 0, ?)"
            " ON CONFLICT (did) DO NOTHING",
            (did, reason[:500], at),
        )

    def resync_done(self, did: str) -> None:
        self._exec("DELETE FROM resyncs WHERE did = ?", (did,))

    def resync_failed(self, did: str, error: str, *, attempts: int, next_at: float) -> None:
        self._exec(
            "UPDATE resyncs SET attempts = ?, next_at = ?, last_error = ? WHERE did = ?",
            (attempts, next_at, error[:2000], did),
        )

    def set_cursor(self, source: str, seq: int) -> None:
        self._exec(
            "INSERT INTO cursors (source, seq, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (source) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
            (source, seq, now_iso()),
        )


class Store:
    """Base of both backends. Subclasses provide ``dialect``, ``_connect`` and ``_begin``."""

    dialect: Dialect

    def __init__(self) -> None:
        self._local = threading.local()
        self._all_conns: list[Any] = []
        self._lock = threading.Lock()

    # --- backend hooks ---------------------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql

    @contextmanager
    def _raw_transaction(self, conn: Any, *, write: bool) -> Iterator[None]:
        """A transaction on ``conn``: for writes it takes the backend's write lock up front."""
        raise NotImplementedError
        yield

    # --- plumbing ---------------------------------------------------------------------------
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all_conns.append(conn)
        return conn

    def _execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = conn.cursor()
        cur.execute(self._sql(sql), tuple(params))
        return cur

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = self._conn()
        with self._raw_transaction(conn, write=False):
            return list(self._execute(conn, sql, params).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        conn = self._conn()
        with self._raw_transaction(conn, write=True):
            yield Tx(self, conn)

    def migrate(self) -> int:
        """Bring the schema up to date; returns the schema version. Safe to run concurrently."""
        conn = self._conn()
        with self._raw_transaction(conn, write=True):
            self._lock_for_migration(conn)
            self._execute(conn, "CREATE TABLE IF NOT EXISTS atdata_meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self._execute(conn, "SELECT value FROM atdata_meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            for target, migration in MIGRATIONS:
                if target <= version:
                    continue
                statements = migration[self.dialect.name] if isinstance(migration, dict) else migration
                for stmt in statements:
                    self._execute(conn, stmt.format(**self.dialect.tokens))
                self._execute(
                    conn,
                    "INSERT INTO atdata_meta (key, value) VALUES ('schema_version', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(target),),
                )
                version = target
        return version

    def _lock_for_migration(self, conn: Any) -> None:
        """Backends that allow concurrent migrators serialize them here."""

    def close(self) -> None:
        with self._lock:
            conns, self._all_conns = self._all_conns, []
        for conn in conns:
            # Closing a connection another thread still uses may fail; there is nothing to keep.
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()

    # --- reads ------------------------------------------------------------------------------
    def cursor(self, source: str) -> int | None:
        rows = self._query("SELECT seq FROM cursors WHERE source = ?", (source,))
        return int(rows[0][0]) if rows else None

    def repo(self, did: str) -> Repo | None:
        rows = self._query(
            "SELECT did, handle, signing_key, pds, status, rev FROM repos WHERE did = ?", (did,)
        )
        return Repo(*rows[0]) if rows else None

    def due_resyncs(self, now: float, limit: int) -> list[tuple[str, str, int]]:
        """(did, reason, attempts) of the queued resyncs due at ``now``, the longest waiting first."""
        rows = self._query(
            "SELECT did, reason, attempts FROM resyncs WHERE next_at <= ? ORDER BY next_at, did LIMIT ?",
            (now, limit),
        )
        return [(str(d), str(r), int(a)) for d, r, a in rows]

    def queued_resyncs(self) -> dict[str, tuple[int, str | None]]:
        """did -> (attempts, last error) of every queued resync (for operators and tests)."""
        rows = self._query("SELECT did, attempts, last_error FROM resyncs")
        return {str(d): (int(a), e) for d, a, e in rows}

    def repos(self) -> list[Repo]:
        rows = self._query("SELECT did, handle, signing_key, pds, status, rev FROM repos ORDER BY did")
        return [Repo(*r) for r in rows]

    _RECORD_COLS = "r.uri, r.did, r.collection, r.rkey, r.cid, r.rev, r.json, r.valid, r.report, r.indexed_at"

    @staticmethod
    def _record(row: tuple[Any, ...]) -> StoredRecord:
        uri, did, collection, rkey, cid, rev, js, valid, report, indexed_at = row
        return StoredRecord(
            uri=uri,
            did=did,
            collection=collection,
            rkey=rkey,
            cid=cid,
            rev=rev,
            value=json.loads(js),
            valid=bool(valid),
            report=json.loads(report) if report else [],
            indexed_at=indexed_at,
        )

    # Served records: valid, and their repository is active.
    _SERVED = "r.valid = 1 AND COALESCE(p.status, 'active') = 'active'"

    def record(self, uri: str, *, include_unserved: bool = False) -> StoredRecord | None:
        where = "r.uri = ?" if include_unserved else f"r.uri = ? AND {self._SERVED}"
        rows = self._query(
            f"SELECT {self._RECORD_COLS} FROM records r LEFT JOIN repos p ON p.did = r.did WHERE {where}",
            (uri,),
        )
        return self._record(rows[0]) if rows else None

    def records(
        self, *, collection: str | None = None, did: str | None = None, include_unserved: bool = False
    ) -> list[StoredRecord]:
        clauses: list[str] = [] if include_unserved else [self._SERVED]
        params: list[Any] = []
        if collection is not None:
            clauses.append("r.collection = ?")
            params.append(collection)
        if did is not None:
            clauses.append("r.did = ?")
            params.append(did)
        where = " AND ".join(clauses) or "1 = 1"
        rows = self._query(
            f"SELECT {self._RECORD_COLS} FROM records r LEFT JOIN repos p ON p.did = r.did"
            f" WHERE {where} ORDER BY r.uri",
            params,
        )
        return [self._record(r) for r in rows]

    def derived(
        self,
        table: str,
        where: str = "1 = 1",
        params: Sequence[Any] = (),
        *,
        order: str = "d.uri",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Rows of a derived table whose record is served, as dicts, each with the record's ``record``
        (parsed JSON), ``indexed_at`` and the author's ``handle``. ``where`` and ``order`` are SQL
        written by the caller (never user text) that refer to the table as ``d``, the repo as ``p``."""
        if table not in DERIVED_TABLES:
            raise ValueError(f"unknown derived table {table!r}")
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        conn = self._conn()
        with self._raw_transaction(conn, write=False):
            cur = self._execute(
                conn,
                f"SELECT d.*, r.json AS record_json, r.indexed_at AS indexed_at, p.handle AS handle"
                f" FROM {table} d JOIN records r ON r.uri = d.uri LEFT JOIN repos p ON p.did = d.did"
                f" WHERE {self._SERVED} AND ({where}) ORDER BY {order}{page}",
                params,
            )
            names = [c[0] for c in cur.description]
            rows = [dict(zip(names, row)) for row in cur.fetchall()]
        for row in rows:
            row["record"] = json.loads(row.pop("record_json"))
        return rows

    def lens_edges(self, uri: str | None = None) -> list[tuple[str, str, str, str, str, str, str]]:
        """(uri, cid, did, source uri, source cid, target uri, target cid) of every served lens whose
        code passed the sandbox validator (or of just ``uri``): the lens graph's edges."""
        where, params = ("AND d.uri = ?", [uri]) if uri is not None else ("", [])
        rows = self._query(
            "SELECT d.uri, d.cid, d.did, d.source_uri, d.source_cid, d.target_uri, d.target_cid"
            " FROM lenses d JOIN records r ON r.uri = d.uri LEFT JOIN repos p ON p.did = d.did"
            f" WHERE {self._SERVED} AND d.code_ok = 1 {where}",
            params,
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def search_clause(self, words: Sequence[str]) -> tuple[str, list[Any]]:
        """A condition on the schemas table (as ``d``) matching rows that hold a word starting with
        each of ``words`` (letters and digits only), for :meth:`derived`."""
        raise NotImplementedError

    def schema_cids(self, uris: Sequence[str]) -> dict[str, str]:
        """uri -> cid of the served schemas among ``uris``."""
        if not uris:
            return {}
        marks = ", ".join("?" * len(uris))
        rows = self._query(
            f"SELECT d.uri, d.cid FROM schemas d JOIN records r ON r.uri = d.uri"
            f" LEFT JOIN repos p ON p.did = d.did WHERE {self._SERVED} AND d.uri IN ({marks})",
            list(uris),
        )
        return {uri: cid for uri, cid in rows}

    def rejections(self, limit: int = 100) -> list[Rejection]:
        rows = self._query(
            "SELECT id, at, source, did, uri, cid, seq, reason FROM rejections ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [Rejection(*r) for r in rows]

    def count(self, table: str) -> int:
        if table not in (*DERIVED_TABLES, "records", "repos", "rejections", "cursors", "resyncs"):
            raise ValueError(f"unknown table {table!r}")
        return int(self._query(f"SELECT COUNT(*) FROM {table}")[0][0])
