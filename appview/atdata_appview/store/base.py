"""The appview's store: one SQL text for SQLite and PostgreSQL, per-thread connections.

Writes happen inside :meth:`Store.transaction`, which yields a :class:`Tx`; everything done through one
``Tx`` commits or rolls back together. That is what makes ingest crash-safe: the ingester advances the
firehose cursor in the same ``Tx`` as the records the events carried.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from atdata.errors import AtUriError
from atdata.lexicon.formats import datetime_text
from atdata.network.refs import AtUri
from atdata_appview.indexed_collections import DERIVED_TABLE
from atdata_appview.store.migrations import MIGRATIONS, Dialect

# Derived index tables, each keyed by the record's uri; only valid records get a row.
DERIVED_TABLES = tuple(dict.fromkeys(DERIVED_TABLE.values()))

# The columns of each derived table a query may filter on (see Store.derived).
_COLUMNS: dict[str, frozenset[str]] = {
    "schemas": frozenset({"uri", "did", "name", "version"}),
    "lenses": frozenset({"uri", "did", "source_uri", "target_uri"}),
    "datasets": frozenset({"uri", "did", "name", "schema_uri"}),
    "attestations": frozenset({"uri", "did", "subject_uri"}),
}
# The change log keeps this many entries; a follower further behind reloads its lens index.
CHANGE_LOG_KEEP = 100_000
CHANGE_LOG_PRUNE_EVERY = 1000
Order = Literal["uri", "newest", "version", "search"]
_ORDERS: dict[str, str] = {
    "uri": "d.uri",
    "newest": "r.indexed_at DESC, d.uri",
    "version": "d.version_sort DESC, d.uri",
}


# Values bound in one IN (...) list: far below both backends' limits on a statement's parameters
# (SQLite's 32,766, PostgreSQL's 65,535).
_IN_LIST = 500


def now_iso() -> str:
    return datetime_text(timespec="microseconds")


def storable(value: Any) -> Any:
    """``value`` as both databases can hold it: PostgreSQL text refuses NUL characters, which the
    strings of a record or an event may carry; they become U+FFFD."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


@dataclass
class LensGraphColumns:
    """The lens graph as columns (see :meth:`Store.lens_graph`): schema and author names numbered in
    order of first sight, and per edge its uri, source and target schema ids and author id."""

    schemas: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    sources: array[int] = field(default_factory=lambda: array("i"))
    targets: array[int] = field(default_factory=lambda: array("i"))
    edge_authors: array[int] = field(default_factory=lambda: array("i"))
    schema_ids: dict[str, int] = field(default_factory=dict)  # name -> id, the inverse of ``schemas``
    author_ids: dict[str, int] = field(default_factory=dict)

    def extend(
        self, uris: Sequence[str], authors: Sequence[str], sources: Sequence[str], targets: Sequence[str]
    ) -> None:
        """Append edges given as columns of equal length, numbering the names not seen before.
        (Interning here, in C-level loops, is cheaper than numbering in the database: a window
        function and three hash joins over a million rows cost more than the strings they save.)"""
        schema_ids, author_ids = self.schema_ids, self.author_ids
        known_schemas, known_authors = len(schema_ids), len(author_ids)
        self.uris += uris
        # setdefault's default is evaluated first: a new name gets the next id.
        self.sources.extend(array("i", [schema_ids.setdefault(s, len(schema_ids)) for s in sources]))
        self.targets.extend(array("i", [schema_ids.setdefault(t, len(schema_ids)) for t in targets]))
        self.edge_authors.extend(array("i", [author_ids.setdefault(a, len(author_ids)) for a in authors]))
        if len(schema_ids) > known_schemas:
            self.schemas += itertools.islice(schema_ids, known_schemas, None)
        if len(author_ids) > known_authors:
            self.authors += itertools.islice(author_ids, known_authors, None)


# COPY's text form escapes these in values (and never emits octal or hex escapes).
_COPY_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_COPY_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def copy_text_columns(text: str, width: int) -> list[list[str]]:
    """The columns of whole rows in PostgreSQL COPY text form (``width`` NOT NULL columns; every row
    ends in a newline). Tabs and newlines inside a value arrive escaped, so splitting on the raw ones
    is exact; a value with a backslash (any escape) is then unescaped."""
    fields = text.replace("\n", "\t").split("\t")
    fields.pop()  # after the last newline
    if len(fields) % width:
        raise ValueError(f"COPY text of {len(fields)} fields is not whole rows of {width} columns")
    if "\\" in text:
        fields = [
            _COPY_ESCAPE.sub(lambda m: _COPY_ESCAPES.get(m[1], m[1]), f) if "\\" in f else f for f in fields
        ]
    return [fields[i::width] for i in range(width)]


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
    leaves the store as applying it once.

    Record writes and rejections are collected and sent as a few multi-row statements per table
    (:meth:`Store._write_rows`) when the transaction commits, before any other statement and before
    any read in it. Only the last write to each record counts: every write is a whole upsert or
    delete keyed by uri, so the earlier ones of a batch would be overwritten.
    """

    def __init__(self, store: Store, conn: Any) -> None:
        self._store = store
        self._conn = conn
        self._records: dict[str, tuple[StoredRecord, Derived | None, str] | None] = {}  # None: delete
        self._rejections: list[tuple[Any, ...]] = []

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self.flush()
        return self._store._execute(self._conn, sql, params)

    def _rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        key: str | None = None,
        update: Sequence[str] = (),
    ) -> None:
        if rows:
            self._store._write_rows(self._conn, table, columns, rows, key=key, update=update)

    def _delete(self, table: str, uris: Sequence[str]) -> None:
        if uris:
            self._store._delete_rows(self._conn, table, "uri", uris)

    def upsert_repo(self, repo: Repo) -> None:
        self.upsert_repos([repo])

    def upsert_repos(self, repos: Sequence[Repo]) -> None:
        """Insert or update repos. The handle is only written on insert: it changes only through
        :meth:`update_identity`, after the two-way handle check."""
        self.flush()
        at = now_iso()
        self._rows(
            "repos",
            ("did", "handle", "signing_key", "pds", "status", "rev", "updated_at"),
            [(r.did, r.handle, r.signing_key, r.pds, r.status, r.rev, at) for r in repos],
            key="did",
            update=("signing_key", "pds", "status", "rev", "updated_at"),
        )

    def update_identity(self, did: str, handle: str | None, signing_key: str, pds: str | None) -> None:
        """Refresh what the DID document says (``handle``: only one that passed the two-way check),
        leaving status and rev to the ingest."""
        P = self._store.P
        self._exec(
            f"UPDATE repos SET handle = {P}, signing_key = {P}, pds = {P}, updated_at = {P} WHERE did = {P}",
            (handle, signing_key, pds, now_iso(), did),
        )

    def put_record(self, rec: StoredRecord, derived: Derived | None) -> None:
        if derived is not None and rec.valid and derived.table not in DERIVED_TABLES:
            raise ValueError(f"unknown derived table {derived.table!r}")
        self._records[rec.uri] = (rec, derived if rec.valid else None, now_iso())

    def delete_record(self, uri: str) -> None:
        self._records[uri] = None

    def delete_repo_records(self, did: str) -> None:
        P = self._store.P
        for table in (*DERIVED_TABLES, "records"):
            self._exec(f"DELETE FROM {table} WHERE did = {P}", (did,))

    def flush(self) -> None:
        """Send the collected record writes and rejections (see the class docstring)."""
        if self._records:
            records, self._records = self._records, {}
            self._write_records(records)
        if self._rejections:
            rejections, self._rejections = self._rejections, []
            self._rows("rejections", ("at", "source", "did", "uri", "cid", "seq", "reason"), rejections)

    def _write_records(self, records: dict[str, tuple[StoredRecord, Derived | None, str] | None]) -> None:
        gone: dict[str, list[str]] = {}  # derived table -> uris whose row goes
        rows: dict[tuple[str, tuple[str, ...]], list[list[Any]]] = {}  # (table, columns) -> rows
        puts: list[tuple[Any, ...]] = []
        deletes: list[str] = []
        for uri, write in records.items():
            if write is None:
                deletes.append(uri)
                for table in _derived_tables(uri):
                    gone.setdefault(table, []).append(uri)
                continue
            rec, derived, at = write
            puts.append(
                (
                    rec.uri,
                    rec.did,
                    rec.collection,
                    rec.rkey,
                    rec.cid,
                    rec.rev,
                    _record_json(rec.value),
                    at,
                    1 if rec.valid else 0,
                    json.dumps(rec.report) if rec.report else None,
                )
            )
            if derived is None:
                for table in _derived_tables(uri):
                    gone.setdefault(table, []).append(uri)
            else:
                key = (derived.table, tuple(derived.columns))
                rows.setdefault(key, []).append([rec.uri, rec.did, rec.cid, *derived.columns.values()])
        self._delete("records", deletes)
        for table, uris in gone.items():
            self._delete(table, uris)
        self._rows(
            "records",
            ("uri", "did", "collection", "rkey", "cid", "rev", "json", "indexed_at", "valid", "report"),
            puts,
            key="uri",
            update=("cid", "rev", "json", "indexed_at", "valid", "report"),
        )
        for (table, columns), values in rows.items():
            cols = ("uri", "did", "cid", *columns)
            self._rows(table, cols, values, key="uri", update=cols[1:])

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
        row = (now_iso(), source, did, uri, cid, seq, reason[:2000])
        self._rejections.append(tuple(storable(v) for v in row))

    def queue_resync(self, did: str, reason: str, *, at: float) -> None:
        """Ask for ``did``'s repo to be fetched whole at ``at`` (unix time). A repo already queued
        keeps its place and its backoff: asking again does not hurry a failing repo."""
        P = self._store.P
        self._exec(
            f"INSERT INTO resyncs (did, reason, attempts, next_at) VALUES ({P}, {P}, 0, {P})"
            " ON CONFLICT (did) DO NOTHING",
            (did, reason[:500], at),
        )

    def resync_done(self, did: str) -> None:
        P = self._store.P
        self._exec(f"DELETE FROM resyncs WHERE did = {P}", (did,))

    def resync_failed(self, did: str, error: str, *, attempts: int, next_at: float) -> None:
        P = self._store.P
        self._exec(
            f"UPDATE resyncs SET attempts = {P}, next_at = {P}, last_error = {P} WHERE did = {P}",
            (attempts, next_at, error[:2000], did),
        )

    def set_cursor(self, source: str, seq: int) -> None:
        P = self._store.P
        self._exec(
            f"INSERT INTO cursors (source, seq, updated_at) VALUES ({P}, {P}, {P})"
            " ON CONFLICT (source) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
            (source, seq, now_iso()),
        )


# A record's stored text: compact, keys sorted. One encoder for every record (json.dumps with options
# builds one per call, a fifth of the cost of encoding a small record). Without the circular-reference
# check (a sixth of what remained): a record is decoded DAG-CBOR, a tree, which cannot hold a cycle.
_record_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), check_circular=False).encode

# Rows per multi-row statement (see Store._write_rows), at most.
_CHUNK_ROWS = 256


def _chunk_sizes(n: int, width: int, max_params: int) -> Iterator[int]:
    """``n`` rows of ``width`` values as parts of :data:`_CHUNK_ROWS` rows (fewer when that many would
    pass the driver's ``max_params``), then the rest in powers of two: a batch is a few statements,
    and there are few enough different statement texts for the driver to keep compiled."""
    most = _CHUNK_ROWS
    while most > 1 and most * width > max_params:
        most >>= 1
    full, rest = divmod(n, most)
    yield from [most] * full
    size = most
    while rest:
        size >>= 1
        if rest >= size:
            yield size
            rest -= size


def _on_conflict(key: str | None, update: Sequence[str]) -> str:
    """The ``ON CONFLICT`` clause of :meth:`Store._write_rows` (none without a key)."""
    if key is None:
        return ""
    if not update:
        return f" ON CONFLICT ({key}) DO NOTHING"
    return f" ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in update)


def _derived_tables(uri: str) -> Sequence[str]:
    """The derived table that may hold a row for ``uri`` (every one, for an address outside the syntax)."""
    try:
        table = DERIVED_TABLE.get(AtUri.parse(uri).collection)
    except AtUriError:
        return DERIVED_TABLES
    return [table] if table else []


class Store:
    """Base of both backends. Subclasses provide ``dialect``, ``P`` (the driver's own placeholder,
    written into each statement where it is built; nothing rewrites SQL text), ``_acquire``,
    ``_begin`` and ``close``.

    A thread that opened a transaction reads through the same connection (so it sees its own writes);
    any other read takes a connection of its own for the one statement.
    """

    dialect: Dialect
    P: str

    def __init__(self) -> None:
        self._local = threading.local()

    # --- backend hooks ---------------------------------------------------------------------
    @contextmanager
    def _acquire(self) -> Iterator[Any]:
        """A connection for one transaction or statement, returned afterwards."""
        raise NotImplementedError
        yield

    @contextmanager
    def _begin(self, conn: Any, *, write: bool) -> Iterator[None]:
        """A transaction on ``conn``: for writes it takes the backend's write lock up front."""
        raise NotImplementedError
        yield

    def close(self) -> None:
        raise NotImplementedError

    # --- plumbing ---------------------------------------------------------------------------
    @contextmanager
    def _use(self, *, write: bool) -> Iterator[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:  # inside this thread's open transaction: join it, seeing its writes
            tx = getattr(self._local, "tx", None)
            if tx is not None:
                tx.flush()
            yield conn
            return
        with self._acquire() as conn:
            self._local.conn = conn
            self._local.cursor = conn.cursor()
            try:
                with self._begin(conn, write=write):
                    yield conn
            finally:
                self._local.conn = self._local.cursor = None

    def _execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; the cursor returned holds its results until the next statement on
        ``conn``: on this thread's connection every statement goes through one cursor (making a
        psycopg cursor costs about as much CPU as running a short statement)."""
        local = self._local
        cur = local.cursor if conn is getattr(local, "conn", None) else conn.cursor()
        cur.execute(sql, tuple(params))
        return cur

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
        """Insert ``rows`` (values in ``columns`` order) into ``table``; with ``key``, a row whose key
        is already there gets its ``update`` columns instead. No two rows may share a key.

        Here as multi-row ``VALUES`` statements of :func:`_chunk_sizes` rows: one statement per row
        cost a statement savepoint each, and SQLite's FTS5 index writes its pending terms out as a
        new segment at every savepoint (one segment per schema row, then merging them)."""
        P = self.P
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        row = f"({', '.join([P] * len(columns))})"
        tail = _on_conflict(key, update)
        start = 0
        for size in _chunk_sizes(len(rows), len(columns), self._max_params(conn)):
            part = rows[start : start + size]
            start += size
            self._execute(conn, head + ", ".join([row] * size) + tail, [v for r in part for v in r])

    def _among_text(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        """A condition that text ``column`` is one of ``values`` (at most :data:`_IN_LIST`), and its
        parameters."""
        return f"{column} IN ({', '.join([self.P] * len(values))})", list(values)

    def _max_params(self, conn: Any) -> int:
        """The most parameters one statement may take."""
        return 32766  # SQLite's default since 3.32

    def _delete_rows(self, conn: Any, table: str, column: str, values: Sequence[Any]) -> None:
        """Delete the rows of ``table`` whose ``column`` is among ``values``, in few statements."""
        P = self.P
        start = 0
        for size in _chunk_sizes(len(values), 1, self._max_params(conn)):
            marks = ", ".join([P] * size)
            part = values[start : start + size]
            self._execute(conn, f"DELETE FROM {table} WHERE {column} IN ({marks})", part)
            start += size

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._use(write=False) as conn:
            return list(self._execute(conn, sql, params).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._use(write=True) as conn:
            if getattr(self._local, "tx", None) is not None:  # joined this thread's open transaction
                yield self._local.tx
                return
            tx = self._local.tx = Tx(self, conn)
            try:
                yield tx
                tx.flush()
            finally:
                self._local.tx = None

    def migrate(self) -> int:
        """Bring the schema up to date; returns the schema version. Safe to run concurrently."""
        P = self.P
        with self._use(write=True) as conn:
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
                    f"INSERT INTO atdata_meta (key, value) VALUES ('schema_version', {P})"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(target),),
                )
                version = target
        return version

    def _lock_for_migration(self, conn: Any) -> None:
        """Backends that allow concurrent migrators serialize them here."""

    # --- reads ------------------------------------------------------------------------------
    def cursor(self, source: str) -> int | None:
        P = self.P
        rows = self._query(f"SELECT seq FROM cursors WHERE source = {P}", (source,))
        return int(rows[0][0]) if rows else None

    def repo(self, did: str) -> Repo | None:
        P = self.P
        rows = self._query(
            f"SELECT did, handle, signing_key, pds, status, rev FROM repos WHERE did = {P}", (did,)
        )
        return Repo(*rows[0]) if rows else None

    def repos_of(self, dids: Iterable[str]) -> dict[str, Repo]:
        """The stored repos among ``dids`` (one statement per 500, for a batch of events)."""
        todo, found = sorted(set(dids)), {}
        for i in range(0, len(todo), _IN_LIST):
            among, params = self._among_text("did", todo[i : i + _IN_LIST])
            rows = self._query(
                f"SELECT did, handle, signing_key, pds, status, rev FROM repos WHERE {among}", params
            )
            found.update((row[0], Repo(*row)) for row in rows)
        return found

    def due_resyncs(self, now: float, limit: int) -> list[tuple[str, str, int]]:
        """(did, reason, attempts) of the queued resyncs due at ``now``, the longest waiting first."""
        P = self.P
        rows = self._query(
            f"SELECT did, reason, attempts FROM resyncs WHERE next_at <= {P} ORDER BY next_at, did LIMIT {P}",
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
        P = self.P
        where = f"r.uri = {P}" if include_unserved else f"r.uri = {P} AND {self._SERVED}"
        rows = self._query(
            f"SELECT {self._RECORD_COLS} FROM records r LEFT JOIN repos p ON p.did = r.did WHERE {where}",
            (uri,),
        )
        return self._record(rows[0]) if rows else None

    def records(
        self, *, collection: str | None = None, did: str | None = None, include_unserved: bool = False
    ) -> list[StoredRecord]:
        P = self.P
        clauses: list[str] = [] if include_unserved else [self._SERVED]
        params: list[Any] = []
        if collection is not None:
            clauses.append(f"r.collection = {P}")
            params.append(collection)
        if did is not None:
            clauses.append(f"r.did = {P}")
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
        *,
        uri: str | None = None,
        uris: Sequence[str] | None = None,
        exclude_uri: str | None = None,
        collection: str | None = None,
        did: str | None = None,
        dids: Sequence[str] | None = None,
        author: str | None = None,
        name: str | None = None,
        version: str | None = None,
        source_uri: str | None = None,
        target_uri: str | None = None,
        schema_uri: str | None = None,
        subject_uri: str | None = None,
        words: Sequence[str] | None = None,
        order: Order = "uri",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Rows of a derived table whose record is served and that match every filter given, as
        dicts, each with the record's ``record`` (parsed JSON), ``indexed_at`` and the author's
        ``handle``. ``author`` is a handle or a DID; ``words`` (schemas only) each begin a word of
        the schema's text. ``order``: ``uri``, ``newest`` first, highest ``version`` first, or
        ``search`` (a name equal to the first word first, then by name and version)."""
        if table not in DERIVED_TABLES:
            raise ValueError(f"unknown derived table {table!r}")
        P = self.P
        clauses: list[str] = []
        params: list[Any] = []

        def where(column: str, value: Any) -> None:
            if column.partition(".")[2] not in _COLUMNS[table] and not column.startswith("p."):
                raise ValueError(f"the {table} table has no column {column!r}")
            clauses.append(f"{column} = {P}")
            params.append(value)

        def among(column: str, values: Sequence[str]) -> None:
            clauses.append(f"{column} IN ({', '.join([P] * len(values))})" if values else "1 = 0")
            params.extend(values)

        for column, value in (
            ("d.uri", uri),
            ("d.did", did),
            ("d.name", name),
            ("d.version", version),
            ("d.source_uri", source_uri),
            ("d.target_uri", target_uri),
            ("d.schema_uri", schema_uri),
            ("d.subject_uri", subject_uri),
        ):
            if value is not None:
                where(column, value)
        if uris is not None:
            among("d.uri", uris)
        if dids is not None:
            among("d.did", dids)
        if exclude_uri is not None:
            clauses.append(f"d.uri <> {P}")
            params.append(exclude_uri)
        if collection is not None:  # a table may index several collections (0.7's records too)
            clauses.append(f"r.collection = {P}")
            params.append(collection)
        if author is not None:
            clauses.append(f"(p.handle = {P} OR d.did = {P})")
            params += [author.lower().removeprefix("@"), author]
        if words is not None:
            if table != "schemas" or not words:
                raise ValueError("words search the schemas table, and need at least one word")
            condition, args = self._search_condition(words)
            clauses.append(condition)
            params += args
        if order == "search":
            if not words:
                raise ValueError("order='search' needs words")
            order_by = f"CASE WHEN lower(d.name) = {P} THEN 0 ELSE 1 END, d.name, d.version_sort DESC, d.uri"
            params.append(words[0])
        else:
            order_by = _ORDERS[order]
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        with self._use(write=False) as conn:
            cur = self._execute(
                conn,
                f"SELECT d.*, r.json AS record_json, r.indexed_at AS indexed_at, p.handle AS handle"
                f" FROM {table} d JOIN records r ON r.uri = d.uri LEFT JOIN repos p ON p.did = d.did"
                f" WHERE {' AND '.join([self._SERVED, *clauses])} ORDER BY {order_by}{page}",
                params,
            )
            names = [c[0] for c in cur.description]
            rows = [dict(zip(names, row)) for row in cur.fetchall()]
        for row in rows:
            row["record"] = json.loads(row.pop("record_json"))
        return rows

    _LENS_EDGES = (
        "SELECT d.uri, d.cid, d.did, d.source_uri, d.source_cid, d.target_uri, d.target_cid"
        " FROM lenses d JOIN records r ON r.uri = d.uri LEFT JOIN repos p ON p.did = d.did"
        f" WHERE {_SERVED} AND d.code_ok = 1"
    )

    def lens_edges(self, uri: str | None = None) -> list[tuple[str, str, str, str, str, str, str]]:
        """(uri, cid, did, source uri, source cid, target uri, target cid) of every served lens whose
        code passed the sandbox validator (or of just ``uri``): the lens graph's edges."""
        if uri is not None:
            return self.lens_edges_of([uri])
        return [tuple(row) for row in self._query(self._LENS_EDGES)]

    def lens_edges_of(self, uris: Sequence[str]) -> list[tuple[str, str, str, str, str, str, str]]:
        """:meth:`lens_edges` of the lenses among ``uris`` that are edges (any number of them: a
        follower catching up on a long stretch of the change log asks for many)."""
        out: list[tuple[str, str, str, str, str, str, str]] = []
        for i in range(0, len(uris), _IN_LIST):
            among, params = self._among_text("d.uri", uris[i : i + _IN_LIST])
            out += [tuple(row) for row in self._query(f"{self._LENS_EDGES} AND {among}", params)]
        return out

    # The graph's edges with their schemas and authors already numbered by the database (hash joins
    # in C), so that an API process builds its index from integers; names come first in the stream,
    # as rows (kind 0: schema, 1: author) beside the edges (kind 2).
    # Only valid records have derived rows (Tx.put_record), so the wide records table is not read.
    _LENS_GRAPH = (
        "SELECT d.uri, d.did, d.source_uri, d.target_uri FROM lenses d LEFT JOIN repos p ON p.did = d.did"
        " WHERE COALESCE(p.status, 'active') = 'active' AND d.code_ok = 1"
    )

    def lens_graph(self, batch: int = 50_000) -> LensGraphColumns:
        """Every edge of :meth:`lens_edges` as columns, read ``batch`` rows at a time."""
        out = LensGraphColumns()
        for uris, authors, sources, targets in self._lens_graph_columns(batch):
            out.extend(uris, authors, sources, targets)
        return out

    def _lens_graph_columns(self, batch: int) -> Iterator[Sequence[Sequence[str]]]:
        """The rows of :attr:`_LENS_GRAPH` as columns (uri, did, source uri, target uri), in parts."""
        with self._use(write=False) as conn:
            cur = conn.cursor()
            cur.execute(self._LENS_GRAPH)
            while rows := cur.fetchmany(batch):
                uris, authors, sources, targets = zip(*rows, strict=True)
                yield uris, authors, sources, targets

    # --- the change log (API processes that do not ingest follow it) ---------------------------
    def log_change(self, uris: set[str]) -> None:
        """Append one entry (the record uris a committed batch touched, or ``*``) to the change log and
        wake the processes following it. Entries are numbered in commit order; the oldest are pruned."""
        P = self.P
        with self._use(write=True) as conn:
            self._lock_change_log(conn)
            cur = self._execute(
                conn, f"INSERT INTO changes (uris) VALUES ({P}) RETURNING id", (json.dumps(sorted(uris)),)
            )
            change_id = int(cur.fetchone()[0])
            if change_id % CHANGE_LOG_PRUNE_EVERY == 0:
                floor = change_id - CHANGE_LOG_KEEP
                self._execute(conn, f"DELETE FROM changes WHERE id <= {P}", (floor,))
                self._execute(
                    conn,
                    "INSERT INTO atdata_meta (key, value) VALUES ('changes_pruned_through', "
                    f"{P}) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(floor),),
                )
            self._notify_change(conn, change_id)

    def last_change_id(self) -> int:
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM changes")[0][0])

    def changes_since(self, change_id: int, limit: int = 10_000) -> tuple[list[tuple[int, set[str]]], bool]:
        """The change log's entries after ``change_id``, oldest first, and whether they are complete
        (False: entries after ``change_id`` were pruned; reload instead)."""
        P = self.P
        pruned = self._query("SELECT value FROM atdata_meta WHERE key = 'changes_pruned_through'")
        if pruned and int(pruned[0][0]) > change_id:
            return [], False
        rows = self._query(
            f"SELECT id, uris FROM changes WHERE id > {P} ORDER BY id LIMIT {P}", (change_id, limit)
        )
        return [(int(i), set(json.loads(u))) for i, u in rows], True

    def change_wakeups(self, stop: threading.Event, poll: float) -> Iterator[None]:
        """Yields whenever the change log may have grown, until ``stop`` is set; here every ``poll``
        seconds (PostgreSQL also wakes at once on each notification)."""
        while not stop.wait(poll):
            yield

    def _lock_change_log(self, conn: Any) -> None:
        """Serialize appends so that entry ids are taken, and become visible, in commit order."""

    def _notify_change(self, conn: Any, change_id: int) -> None:
        """Wake the followers (at commit)."""

    def _search_condition(self, words: Sequence[str]) -> tuple[str, list[Any]]:
        """A condition on the schemas table (as ``d``) matching rows that hold a word starting with
        each of ``words`` (letters and digits only)."""
        raise NotImplementedError

    def schema_cids(self, uris: Sequence[str]) -> dict[str, str]:
        """uri -> cid of the served schemas among ``uris``."""
        P = self.P
        if not uris:
            return {}
        marks = ", ".join([P] * len(uris))
        rows = self._query(
            f"SELECT d.uri, d.cid FROM schemas d JOIN records r ON r.uri = d.uri"
            f" LEFT JOIN repos p ON p.did = d.did WHERE {self._SERVED} AND d.uri IN ({marks})",
            list(uris),
        )
        return {uri: cid for uri, cid in rows}

    def rejections(self, limit: int = 100) -> list[Rejection]:
        P = self.P
        rows = self._query(
            f"SELECT id, at, source, did, uri, cid, seq, reason FROM rejections ORDER BY id DESC LIMIT {P}",
            (limit,),
        )
        return [Rejection(*r) for r in rows]

    def count(self, table: str) -> int:
        if table not in (*DERIVED_TABLES, "records", "repos", "rejections", "cursors", "resyncs"):
            raise ValueError(f"unknown table {table!r}")
        return int(self._query(f"SELECT COUNT(*) FROM {table}")[0][0])
