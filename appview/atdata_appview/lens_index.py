"""The lens index: the store's valid lenses as a compact in-memory graph, kept current.

Nodes are schema at-uris; an edge is a lens whose record is served and whose code passed the sandbox
validator. Edges are keyed by the lens record's at-uri, never by its CID: two authors publishing
byte-identical lens records (one CID) are two edges, each filtered by trust in its own author.

At network scale (100,000 schemas, 1,000,000 lenses) an object per lens would cost gigabytes and
seconds, so the index holds integers: schema, author and CID strings are interned once, an edge is a
row of ``array`` columns (source, target, author, and the CIDs its record names), and the adjacency is
CSR (sorted with numpy) plus a small overlay of the edges added since, folded in once it grows. Trust
filtering compares author ids; a removed edge is only marked dead.

Path answers follow :class:`atdata.lenses.graph.LensGraph` exactly (fewest hops, then the
lexicographically smallest sequence of edge ids, here lens uris; every appview edge costs 1): a
bidirectional BFS fixes the hop count, then the path is chosen greedily among the shortest ones.
Answers are cached per graph version.

Kept current in-process (the ingest calls :meth:`GraphService.on_change` after each committed batch)
or, in an API process that does not ingest, by :meth:`GraphService.follow`: the store's change log,
woken by PostgreSQL LISTEN/NOTIFY. Building is the costly part (seconds at network scale), so the
supervisor of several API processes builds once and hands each process it forks an
:class:`IndexSnapshot` (shared copy-on-write), which the process brings up to date from the change
log before it serves (:meth:`GraphService.resume`).
"""

from __future__ import annotations

import logging
import threading
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from atdata.errors import LensPathError
from atdata.lenses.graph import LensFilter, layered_reachable, nearest_names, path_ids
from atdata.lexicon.nsid import LENS
from atdata_appview.store import Store
from atdata_appview.store.base import LensGraphColumns

log = logging.getLogger(__name__)

_OVERLAY_FOLD = 4096  # edges added since the CSR was built before it is rebuilt
_CACHE_SIZE = 20_000  # path answers kept per graph version
_FULL_RELOAD = "*"  # a change that may touch every lens (see ChangePublisher)


@dataclass(frozen=True)
class LensInfo:
    uri: str
    cid: str
    author: str
    source_uri: str
    source_cid: str
    target_uri: str
    target_cid: str


GraphRow = tuple[str, str, str, str]  # what the graph keeps of a lens: uri, author, source uri, target uri


class _Interned:
    """Strings numbered in order of first sight."""

    __slots__ = ("ids", "names")

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []

    def id(self, name: str) -> int:
        i = self.ids.get(name)
        if i is None:
            i = self.ids[name] = len(self.names)
            self.names.append(name)
        return i


class _Policy:
    """A :class:`LensFilter` compiled against one graph: author ids and edge ids."""

    __slots__ = ("all", "attested", "attested_ids", "author_ids", "authors", "max_hops")

    def __init__(self, policy: LensFilter | None, graph: CompactLensGraph) -> None:
        policy = policy or LensFilter()
        self.all = policy.authors is None and policy.attested is None
        self.authors = {graph.authors.ids[a] for a in policy.authors or () if a in graph.authors.ids}
        self.attested = {graph.edge_of[u] for u in policy.attested or () if u in graph.edge_of}
        self.max_hops = policy.max_hops
        self.author_ids = np.fromiter(self.authors, np.int32, len(self.authors))
        self.attested_ids = np.fromiter(self.attested, np.int32, len(self.attested))


class CompactLensGraph:
    """Schemas and lenses as integers; not thread-safe (:class:`GraphService` locks around it)."""

    def __init__(self) -> None:
        self.nodes = _Interned()
        self.authors = _Interned()
        self.src = array("i")
        self.dst = array("i")
        self.author = array("i")
        self.alive = bytearray()
        self.uris: list[str] = []
        self.edge_of: dict[str, int] = {}  # live edges by lens uri
        self._csr_edges = 0  # edges [0, _csr_edges) are in the CSR arrays, the rest in the overlay
        self._out_ptr: list[int] = [0]
        self._out = array("i")
        self._in_ptr: list[int] = [0]
        self._in = array("i")
        self._extra_out: dict[int, list[int]] = {}
        self._extra_in: dict[int, list[int]] = {}
        empty = np.zeros(0, np.int32)
        self._np_out: tuple[np.ndarray, np.ndarray, np.ndarray] = (np.zeros(1, np.int64), empty, empty)
        self._np_in = self._np_out
        self._np_author = empty
        self._np_alive = np.zeros(0, np.bool_)
        self._csr_nodes = 0

    # --- building -------------------------------------------------------------------------
    @classmethod
    def build(cls, rows: Iterable[GraphRow]) -> CompactLensGraph:
        """The graph of ``rows`` (tests; the service builds from :meth:`of_columns`)."""
        g = cls()
        for row in rows:
            g._append(row)
        g._fold()
        return g

    @classmethod
    def of_columns(cls, columns: LensGraphColumns) -> CompactLensGraph:
        """The graph of the store's columns: C loops only (a million lenses in about a second)."""
        g = cls()
        g.nodes.names, g.nodes.ids = columns.schemas, columns.schema_ids
        g.authors.names, g.authors.ids = columns.authors, columns.author_ids
        g.uris = columns.uris
        g.src, g.dst, g.author = columns.sources, columns.targets, columns.edge_authors
        g.alive = bytearray(b"\x01" * len(g.uris))
        g.edge_of = dict(zip(g.uris, range(len(g.uris)), strict=True))
        g._fold()
        return g

    def _append(self, row: GraphRow) -> int:
        uri, author, source_uri, target_uri = row
        e = len(self.uris)
        self.uris.append(uri)
        self.src.append(self.nodes.id(source_uri))
        self.dst.append(self.nodes.id(target_uri))
        self.author.append(self.authors.id(author))
        self.alive.append(1)
        self.edge_of[uri] = e
        return e

    def _fold(self) -> None:
        """Rebuild the CSR arrays over every edge (dead ones are skipped by ``alive``)."""
        n, m = len(self.nodes.names), len(self.uris)
        src = np.frombuffer(self.src, dtype=np.int32) if m else np.zeros(0, np.int32)
        dst = np.frombuffer(self.dst, dtype=np.int32) if m else np.zeros(0, np.int32)
        for ends, far, attr in ((src, dst, "out"), (dst, src, "in")):
            order = np.argsort(ends, kind="stable").astype(np.int32)
            ptr = np.zeros(n + 1, np.int64)
            np.cumsum(np.bincount(ends, minlength=n), out=ptr[1:])
            setattr(self, f"_{attr}", array("i", order.tobytes()))
            setattr(self, f"_{attr}_ptr", ptr.tolist())
            # The same CSR as numpy arrays (copies: an array.array exporting its buffer cannot grow),
            # with the far end of each edge beside it, for whole-layer expansion.
            setattr(self, f"_np_{attr}", (ptr, order, far[order]))
        self._np_author = np.frombuffer(self.author, dtype=np.int32).copy() if m else np.zeros(0, np.int32)
        self._np_alive = np.frombuffer(self.alive, dtype=np.bool_).copy() if m else np.zeros(0, np.bool_)
        self._csr_nodes = n
        self._csr_edges = m
        self._extra_out.clear()
        self._extra_in.clear()

    def add(self, row: GraphRow) -> None:
        self.remove(row[0])
        e = self._append(row)
        self._extra_out.setdefault(self.src[e], []).append(e)
        self._extra_in.setdefault(self.dst[e], []).append(e)
        if len(self.uris) - self._csr_edges > _OVERLAY_FOLD:
            self._fold()

    def remove(self, uri: str) -> bool:
        e = self.edge_of.pop(uri, None)
        if e is None:
            return False
        self.alive[e] = 0
        if e < self._csr_edges:
            self._np_alive[e] = False
        return True

    def __len__(self) -> int:
        return len(self.edge_of)

    def edges(self) -> set[GraphRow]:
        """Every live edge as (uri, author, source uri, target uri): what two builds are compared by."""
        names, authors = self.nodes.names, self.authors.names
        return {
            (uri, authors[self.author[e]], names[self.src[e]], names[self.dst[e]])
            for uri, e in self.edge_of.items()
        }

    # --- adjacency ------------------------------------------------------------------------
    def _out_edges(self, u: int) -> Iterable[int]:
        ptr = self._out_ptr
        base = self._out[ptr[u] : ptr[u + 1]] if u + 1 < len(ptr) else ()
        extra = self._extra_out.get(u)
        return [*base, *extra] if extra else base

    def _in_edges(self, v: int) -> Iterable[int]:
        ptr = self._in_ptr
        base = self._in[ptr[v] : ptr[v + 1]] if v + 1 < len(ptr) else ()
        extra = self._extra_in.get(v)
        return [*base, *extra] if extra else base

    def _allowed(self, policy: _Policy) -> Callable[[int], bool]:
        alive = self.alive
        if policy.all:
            return alive.__getitem__  # type: ignore[return-value]
        author, authors, attested = self.author, policy.authors, policy.attested
        return lambda e: bool(alive[e]) and (author[e] in authors or e in attested)

    # --- queries --------------------------------------------------------------------------
    def path(self, source: str, target: str, policy: _Policy) -> list[int]:
        """Edge ids of the best path (see the module docstring); LensPathError when there is none."""
        return path_ids(
            source,
            target,
            self.nodes.ids,
            lambda s, t: self._search(s, t, policy),
            lambda s: self._reachable_names(s, policy),
            policy.max_hops,
        )

    def reachable(self, s: int, policy: _Policy, stop_after: int | None = None) -> list[int]:
        """Nodes reachable from ``s`` by layers, each sorted by name; stops after the layer that
        passes ``stop_after``."""
        return layered_reachable(
            s, self._out_edges, self.dst, self._allowed(policy), self.nodes.names, policy.max_hops, stop_after
        )

    def _reachable_names(self, s: int, policy: _Policy) -> tuple[list[str], str]:
        return nearest_names(lambda cap: self.reachable(s, policy, cap), self.nodes.names)

    def _expand(self, frontier: np.ndarray, forward: bool, policy: _Policy) -> tuple[np.ndarray, np.ndarray]:
        """(edge ids, far ends) of the allowed edges leaving (``forward``) or entering ``frontier``:
        one layer of a BFS in a few numpy operations, plus the overlay's edges."""
        ptr, edges, far = self._np_out if forward else self._np_in
        f = frontier[frontier < self._csr_nodes]
        starts = ptr[f]
        counts = ptr[f + 1] - starts
        total = int(counts.sum())
        offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total)
        e, v = edges[offsets], far[offsets]
        keep = self._np_alive[e]
        if not policy.all:
            keep &= np.isin(self._np_author[e], policy.author_ids) | np.isin(e, policy.attested_ids)
        e, v = e[keep], v[keep]
        extra = self._extra_out if forward else self._extra_in
        if extra:
            ok = self._allowed(policy)
            ends = self.dst if forward else self.src
            more = [x for u in frontier.tolist() for x in extra.get(u, ()) if ok(x)]
            if more:
                e = np.concatenate([e, np.array(more, np.int32)])
                v = np.concatenate([v, np.array([ends[x] for x in more], np.int32)])
        return e, v

    def _search(self, s: int, t: int, policy: _Policy) -> list[int] | None:
        limit = policy.max_hops
        n = len(self.nodes.names)
        fdist = np.full(n, -1, np.int32)
        bdist = np.full(n, -1, np.int32)
        fdist[s] = bdist[t] = 0
        fl, bl = np.array([s], np.int64), np.array([t], np.int64)
        fr = br = 0  # radius of each completely expanded side
        meeting = np.zeros(0, np.int32)  # edges u->v with fdist[u] == fr and bdist[v] == br
        while len(fl) and len(bl) and not len(meeting):
            if limit is not None and fr + br + 1 > limit:
                return None
            if len(fl) <= len(bl):
                e, v = self._expand(fl, True, policy)
                other = bdist[v]
                meeting = e[other == br]
                if not len(meeting):
                    fl = np.unique(v[(other < 0) & (fdist[v] < 0)]).astype(np.int64)
                    fr += 1
                    fdist[fl] = fr
            else:
                e, u = self._expand(bl, False, policy)
                other = fdist[u]
                meeting = e[other == fr]
                if not len(meeting):
                    bl = np.unique(u[(other < 0) & (bdist[u] < 0)]).astype(np.int64)
                    br += 1
                    bdist[bl] = br
        if not len(meeting):
            return None
        return self._smallest_shortest(s, meeting.tolist(), fdist, bdist, fr, self._allowed(policy))

    def _smallest_shortest(
        self,
        s: int,
        meeting: list[int],
        fdist: np.ndarray,
        bdist: np.ndarray,
        fr: int,
        ok: Callable[[int], bool],
    ) -> list[int]:
        """The shortest path whose lens uris are lexicographically smallest. Every shortest path
        crosses one meeting edge; the forward nodes that lead to one are marked layer by layer back
        to the source, after which choosing the smallest next uri at each step is exact. (``fdist``,
        ``bdist``: hops from the source and to the target per node, -1 beyond the search.)"""
        src, dst, uris = self.src, self.dst, self.uris
        leads: list[set[int]] = [set() for _ in range(fr + 1)]  # leads[i]: nodes at depth i on a path
        leads[fr] = {src[e] for e in meeting}
        for depth in range(fr, 0, -1):
            leads[depth - 1] = {
                src[e]
                for v in leads[depth]
                for e in self._in_edges(v)
                if fdist[src[e]] == depth - 1 and ok(e)
            }
        path: list[int] = []
        x = s
        for depth in range(fr):
            e = min(
                (e for e in self._out_edges(x) if dst[e] in leads[depth + 1] and ok(e)),
                key=uris.__getitem__,
            )
            path.append(e)
            x = dst[e]
        e = min((e for e in meeting if src[e] == x), key=uris.__getitem__)
        path.append(e)
        x = dst[e]
        while bdist[x] > 0:
            step = bdist[x] - 1
            e = min((e for e in self._out_edges(x) if bdist[dst[e]] == step and ok(e)), key=uris.__getitem__)
            path.append(e)
            x = dst[e]
        return path


@dataclass(frozen=True)
class IndexSnapshot:
    """A lens index as built at one position of the store's change log (every entry up to
    ``change_id`` is in it): what a process resumes from instead of building."""

    graph: CompactLensGraph
    change_id: int


class GraphService:
    """The lens index of one appview process: built from the store, kept current, answers cached."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.RLock()
        self._graph = CompactLensGraph()
        self.version = 0  # bumped on every change; keys the answer cache
        self._cache: dict[tuple[object, ...], list[str] | LensPathError] = {}
        self._cache_version = -1
        self.change_id = 0  # the last entry of the store's change log applied (see follow)

    def load(self) -> None:
        change_id = self.store.last_change_id()  # read first: whatever commits later is caught up on
        graph = CompactLensGraph.of_columns(self.store.lens_graph())
        with self._lock:
            self._graph = graph
            self.version += 1
            self.change_id = max(self.change_id, change_id)

    def snapshot(self) -> IndexSnapshot:
        """The index as it stands and the change log position it reflects (for :meth:`resume`; the
        graph is shared, not copied: change it no more here once handed over)."""
        with self._lock:
            return IndexSnapshot(self._graph, self.change_id)

    def resume(self, snapshot: IndexSnapshot) -> None:
        """Start from ``snapshot`` (built by another process, maybe long ago) instead of building,
        then apply every change logged after it: the index then equals a fresh :meth:`load`."""
        with self._lock:
            self._graph = snapshot.graph
            self.version += 1
            self.change_id = snapshot.change_id
        self.catch_up()

    def on_change(self, changed: set[str]) -> None:
        """Called after a commit with the record uris (or ``*``) it touched."""
        if _FULL_RELOAD in changed:
            # An ingester started (its predecessor may have died before logging a commit) or failed
            # to log one: what changed is no longer known.
            log.info("lens index: reloading every lens (%d now)", len(self))
            self.load()
            return
        lenses = sorted(uri for uri in changed if f"/{LENS}/" in uri)
        if not lenses:
            return
        rows = {row[0]: row for row in self.store.lens_edges_of(lenses)}
        with self._lock:
            for uri in lenses:
                row = rows.get(uri)
                if row is not None:
                    self._graph.add((row[0], row[2], row[3], row[5]))
                else:
                    self._graph.remove(uri)
            self.version += 1

    def follow(self, stop: threading.Event, poll: float = 5.0) -> None:
        """Keep this index current from the store's change log until ``stop`` is set (an API process
        that does not ingest; call :meth:`load` first). Wakes on each notification (PostgreSQL
        LISTEN/NOTIFY), every ``poll`` seconds and after a lost connection, and applies the entries
        after the last one applied; a log pruned past that point means a full reload."""
        for _ in self.store.change_wakeups(stop, poll):
            try:
                self.catch_up()
            except Exception:  # keep serving the graph we have; the next wakeup retries
                log.exception("applying the store's change log to the lens index failed")

    def catch_up(self) -> None:
        while True:
            changes, complete = self.store.changes_since(self.change_id)
            if not complete:
                log.info("the change log was pruned past entry %d: reloading the lens index", self.change_id)
                self.load()
                return
            if not changes:
                return
            touched: set[str] = set().union(*(uris for _, uris in changes))
            self.on_change(touched)
            self.change_id = max(self.change_id, changes[-1][0])

    # --- queries ---------------------------------------------------------------------------
    def path(self, source: str, target: str, policy: LensFilter | None = None) -> list[LensInfo]:
        """Raises :class:`~atdata.errors.LensPathError` when there is none."""
        key = (
            source,
            target,
            policy.authors if policy else None,
            policy.attested if policy else None,
            policy.max_hops if policy else None,
        )
        for _ in range(3):
            with self._lock:
                if self._cache_version != self.version:
                    self._cache.clear()
                    self._cache_version = self.version
                found = self._cache.get(key)
                if found is None:
                    graph = self._graph
                    try:
                        found = [graph.uris[e] for e in graph.path(source, target, _Policy(policy, graph))]
                    except LensPathError as e:
                        found = e
                    if len(self._cache) >= _CACHE_SIZE:
                        self._cache.clear()
                    self._cache[key] = found
            if isinstance(found, LensPathError):
                raise LensPathError(str(found), reachable=found.reachable)
            lenses = self._lenses(found)  # outside the lock: a database round trip
            if lenses is not None:
                return lenses
        raise LensPathError(f"the lenses from {source} to {target} keep changing; ask again", reachable=[])

    def _lenses(self, uris: list[str]) -> list[LensInfo] | None:
        """The lenses of a path as the store holds them now (the graph keeps no CIDs: they would
        double its size); None when one has just gone (the graph follows, the search reruns)."""
        rows = {row[0]: row for row in self.store.lens_edges_of(uris)}
        gone = {u for u in uris if u not in rows}
        if gone:
            self.on_change(gone)
            return None
        return [LensInfo(*rows[u]) for u in uris]

    def reachable(self, source: str, policy: LensFilter | None = None) -> list[str]:
        with self._lock:
            graph = self._graph
            s = graph.nodes.ids.get(source)
            if s is None:
                return []
            return [graph.nodes.names[n] for n in graph.reachable(s, _Policy(policy, graph))]

    def current(self, refs: set[tuple[str, str]]) -> frozenset[str]:
        """The lens uris among ``refs`` (uri, cid) whose current record has that CID: what an
        attestation (a strong ref) vouches for, as edge ids for :class:`LensFilter` ``attested``."""
        lenses = sorted({uri for uri, _ in refs if f"/{LENS}/" in uri})
        current = {row[0]: row[1] for row in self.store.lens_edges_of(lenses)}
        return frozenset(uri for uri, cid in refs if current.get(uri) == cid)

    def lens(self, uri: str) -> LensInfo | None:
        rows = self.store.lens_edges_of([uri])
        return LensInfo(*rows[0]) if rows else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._graph)


class ChangePublisher:
    """The ingest's listener that appends each committed batch's uris to the store's change log, for
    the API processes following it. A failed append is not lost: the next one asks every follower to
    reload (``*``), since what it touched is no longer known."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._missed = False

    def __call__(self, changed: set[str]) -> None:
        # What API processes hold in memory is the lens graph; everything else they read from the store.
        relevant = {u for u in changed if u == _FULL_RELOAD or f"/{LENS}/" in u}
        if not relevant and not self._missed:
            return
        with self._lock:
            uris = {_FULL_RELOAD} if self._missed else relevant
            try:
                self.store.log_change(uris)
                self._missed = False
            except Exception:
                log.exception("appending to the change log failed; the next entry reloads every lens index")
                self._missed = True
