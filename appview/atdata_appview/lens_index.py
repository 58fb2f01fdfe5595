"""The lens graph service: the SDK's :class:`LensGraph` over the store's valid lenses, kept current.

Nodes are schema at-uris; an edge is a lens whose record is served and whose code passed the sandbox
validator. Edges are keyed by the lens record's at-uri, never by its CID: two authors publishing
byte-identical lens records (one CID) are two edges, each filtered by trust in its own author.

Built from the store at start; the ingest calls :meth:`GraphService.on_change` after each
committed batch with the uris it touched, and only those lenses are re-read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from atdata.lenses.graph import LensEdge, LensFilter, LensGraph
from atdata.lexicon.nsid import LENS
from atdata_appview.store import Store


@dataclass(frozen=True)
class LensInfo:
    uri: str
    cid: str
    author: str
    source_uri: str
    source_cid: str
    target_uri: str
    target_cid: str


class GraphService:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.RLock()
        self._graph = LensGraph()
        self._by_uri: dict[str, LensInfo] = {}

    def load(self) -> None:
        graph = LensGraph()
        by_uri: dict[str, LensInfo] = {}
        for row in self.store.lens_edges():
            info = LensInfo(*row)
            graph.add(_edge(info))
            by_uri[info.uri] = info
        with self._lock:
            self._graph, self._by_uri = graph, by_uri

    def on_change(self, changed: set[str]) -> None:
        """Called by the ingest after a commit with the record uris (or ``*``) it touched."""
        if "*" in changed:
            self.load()  # an account changed visibility: every lens of it may have come or gone
            return
        for uri in changed:
            if f"/{LENS}/" in uri:
                self._refresh(uri)

    def _refresh(self, uri: str) -> None:
        rows = self.store.lens_edges(uri)
        with self._lock:
            if self._by_uri.pop(uri, None) is not None:
                self._graph.remove(uri)
            if rows:
                info = LensInfo(*rows[0])
                self._graph.add(_edge(info))
                self._by_uri[uri] = info

    # --- queries ---------------------------------------------------------------------------
    def path(self, source: str, target: str, policy: LensFilter | None = None) -> list[LensInfo]:
        """Raises :class:`~atdata.errors.LensPathError` when there is none."""
        with self._lock:
            edges = self._graph.path(source, target, policy)
            return [self._by_uri[e.cid] for e in edges]  # an edge's id is its lens's uri

    def reachable(self, source: str, policy: LensFilter | None = None) -> list[str]:
        with self._lock:
            return self._graph.reachable(source, policy)

    def current(self, refs: set[tuple[str, str]]) -> frozenset[str]:
        """The lens uris among ``refs`` (uri, cid) whose current record has that CID: what an
        attestation (a strong ref) vouches for, as edge ids for :class:`LensFilter` ``attested``."""
        with self._lock:
            return frozenset(
                uri for uri, cid in refs if (info := self._by_uri.get(uri)) is not None and info.cid == cid
            )

    def lens(self, uri: str) -> LensInfo | None:
        with self._lock:
            return self._by_uri.get(uri)

    def __len__(self) -> int:
        with self._lock:
            return len(self._graph)


def _edge(info: LensInfo) -> LensEdge:
    # LensGraph calls an edge's id its "cid"; here it is the lens's at-uri (see the module docstring).
    return LensEdge(info.uri, info.source_uri, info.target_uri, author=info.author)
