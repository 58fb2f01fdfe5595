"""The lens graph service: the SDK's :class:`LensGraph` over the store's valid lenses, kept current.

Nodes are schema at-uris; an edge is a lens whose record is served and whose code passed the sandbox
validator. Built from the store at start; the ingest calls :meth:`GraphService.on_change` after each
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
        self._by_cid: dict[str, LensInfo] = {}

    def load(self) -> None:
        graph = LensGraph()
        by_uri: dict[str, LensInfo] = {}
        for row in self.store.lens_edges():
            info = LensInfo(*row)
            graph.add(LensEdge(info.cid, info.source_uri, info.target_uri, author=info.author))
            by_uri[info.uri] = info
        with self._lock:
            self._graph, self._by_uri = graph, by_uri
            self._by_cid = {i.cid: i for i in by_uri.values()}

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
            old = self._by_uri.pop(uri, None)
            if old is not None:
                self._graph.remove(old.cid)
                self._by_cid.pop(old.cid, None)
            if rows:
                info = LensInfo(*rows[0])
                self._graph.add(LensEdge(info.cid, info.source_uri, info.target_uri, author=info.author))
                self._by_uri[uri] = info
                self._by_cid[info.cid] = info

    # --- queries ---------------------------------------------------------------------------
    def path(self, source: str, target: str, policy: LensFilter | None = None) -> list[LensInfo]:
        """Raises :class:`~atdata.errors.LensPathError` when there is none."""
        with self._lock:
            edges = self._graph.path(source, target, policy)
            return [self._by_cid[e.cid] for e in edges]

    def reachable(self, source: str, policy: LensFilter | None = None) -> list[str]:
        with self._lock:
            return self._graph.reachable(source, policy)

    def lens(self, uri: str) -> LensInfo | None:
        with self._lock:
            return self._by_uri.get(uri)

    def __len__(self) -> int:
        with self._lock:
            return len(self._graph)
