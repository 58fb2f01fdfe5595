"""The lens graph: schemas are nodes, lenses are edges, and one deterministic shortest path.

Pure and in-memory, so the SDK (local registry), the appview's graph service and tests all share
one answer. A path is ranked by fewest hops, then lowest total cost, then the lexicographic
sequence of its lens CIDs, so two machines holding the same edges always pick the same chain.

The search is a bidirectional BFS over integer adjacency lists that expands whole layers, which
fixes the hop count after touching a few hundred nodes even on graphs of 100,000 schemas; the
cost and CID tie-break then runs over only the edges that lie on some shortest path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from atdata.errors import LensPathError

_REACHABLE_SHOWN = 25
_REACHABLE_COUNTED = 1000  # an error message need not walk a 100,000-schema component to count it


@dataclass(frozen=True)
class LensEdge:
    """A lens as the graph sees it: which schema it reads, which it writes, who wrote it, what it costs."""

    cid: str
    source: str
    target: str
    author: str = ""
    cost: float = 1.0


@dataclass(frozen=True)
class LensFilter:
    """Which lenses a caller is willing to run.

    ``authors``: lens authors (DIDs) whose lenses are allowed; ``attested``: lens CIDs someone the
    caller trusts has vouched for. When both are given a lens passes if either admits it; when
    neither is given every lens passes. ``max_hops`` caps the length of a path.
    """

    authors: frozenset[str] | None = None
    attested: frozenset[str] | None = None
    max_hops: int | None = None

    def allows(self, edge: LensEdge) -> bool:
        if self.authors is None and self.attested is None:
            return True
        return (self.authors is not None and edge.author in self.authors) or (
            self.attested is not None and edge.cid in self.attested
        )


_OPEN = LensFilter()


class _Best(NamedTuple):
    cost: float
    cids: tuple[str, ...]
    edges: tuple[int, ...]


class LensGraph:
    """Schemas and the lenses between them, indexed for path queries.

    Node ids are opaque strings (an at-uri, ``uri#cid``, a local type name); edges are
    :class:`LensEdge`. Adding or removing an edge keeps the index current.
    """

    def __init__(self, edges: Iterable[LensEdge] = ()) -> None:
        self._node_ids: dict[str, int] = {}
        self._nodes: list[str] = []
        self._out: list[list[int]] = []
        self._in: list[list[int]] = []
        self._edges: list[LensEdge | None] = []
        self._src: list[int] = []
        self._dst: list[int] = []
        self._by_cid: dict[str, int] = {}
        for edge in edges:
            self.add(edge)

    # --- building -------------------------------------------------------------------------

    def _node(self, name: str) -> int:
        idx = self._node_ids.get(name)
        if idx is None:
            idx = self._node_ids[name] = len(self._nodes)
            self._nodes.append(name)
            self._out.append([])
            self._in.append([])
        return idx

    def add_schema(self, schema: str) -> None:
        """Make a schema known even before any lens touches it."""
        self._node(schema)

    def add(self, edge: LensEdge) -> None:
        """Add a lens; a lens with the same CID replaces the earlier one."""
        if edge.cost < 0:
            raise ValueError(f"lens {edge.cid}: cost must be >= 0, got {edge.cost}")
        if edge.cid in self._by_cid:
            self.remove(edge.cid)
        s, t = self._node(edge.source), self._node(edge.target)
        idx = len(self._edges)
        self._edges.append(edge)
        self._src.append(s)
        self._dst.append(t)
        self._out[s].append(idx)
        self._in[t].append(idx)
        self._by_cid[edge.cid] = idx

    def remove(self, cid: str) -> bool:
        """Drop the lens with this CID; returns whether it was there."""
        idx = self._by_cid.pop(cid, None)
        if idx is None:
            return False
        self._out[self._src[idx]].remove(idx)
        self._in[self._dst[idx]].remove(idx)
        self._edges[idx] = None
        return True

    def __len__(self) -> int:
        return len(self._by_cid)

    def __contains__(self, schema: object) -> bool:
        return schema in self._node_ids

    @property
    def schemas(self) -> list[str]:
        return list(self._nodes)

    def edges(self) -> list[LensEdge]:
        return [e for e in self._edges if e is not None]

    # --- queries --------------------------------------------------------------------------

    def path(self, source: str, target: str, policy: LensFilter | None = None) -> list[LensEdge]:
        """The best lens chain from ``source`` to ``target`` (``[]`` when they are the same schema).

        Raises :class:`LensPathError` listing the schemas that are reachable when there is none.
        """
        policy = policy or _OPEN
        found = path_ids(
            source,
            target,
            self._node_ids,
            lambda s, t: self._search(s, t, policy),
            lambda s: self._reachable_names(s, policy),
            policy.max_hops,
        )
        return [self._edge(i) for i in found]

    def reachable(self, source: str, policy: LensFilter | None = None) -> list[str]:
        """Every schema reachable from ``source``, nearest first, then by id."""
        s = self._node_ids.get(source)
        if s is None:
            return []
        return [self._nodes[n] for n in self._reachable(s, policy or _OPEN)]

    def _edge(self, idx: int) -> LensEdge:
        edge = self._edges[idx]
        assert edge is not None
        return edge

    def _allowed(self, policy: LensFilter) -> _EdgeFilter:
        return _EdgeFilter(policy, self)

    def _reachable(self, s: int, policy: LensFilter, stop_after: int | None = None) -> list[int]:
        out = self._out
        return layered_reachable(
            s, out.__getitem__, self._dst, self._allowed(policy), self._nodes, policy.max_hops, stop_after
        )

    def _reachable_names(self, s: int, policy: LensFilter) -> tuple[list[str], str]:
        return nearest_names(lambda cap: self._reachable(s, policy, cap), self._nodes)

    def _search(self, s: int, t: int, policy: LensFilter) -> list[int] | None:
        ok = self._allowed(policy)
        limit = policy.max_hops
        out, inc, src, dst = self._out, self._in, self._src, self._dst
        fdist = {s: 0}
        bdist = {t: 0}
        fl, bl = [s], [t]
        fr = br = 0  # radius of each completely expanded side
        meeting: list[int] = []  # edges u->v with fdist[u] == fr, bdist[v] == br, found in one layer
        while fl and bl and not meeting:
            if limit is not None and fr + br + 1 > limit:
                return None
            if len(fl) <= len(bl):
                nxt: list[int] = []
                for u in fl:
                    for e in out[u]:
                        v = dst[e]
                        if v in bdist:
                            if bdist[v] == br and ok(e):
                                meeting.append(e)
                        elif v not in fdist and ok(e):
                            fdist[v] = fr + 1
                            nxt.append(v)
                if not meeting:
                    fl, fr = nxt, fr + 1
            else:
                nxt = []
                for v in bl:
                    for e in inc[v]:
                        u = src[e]
                        if u in fdist:
                            if fdist[u] == fr and ok(e):
                                meeting.append(e)
                        elif u not in bdist and ok(e):
                            bdist[u] = br + 1
                            nxt.append(u)
                if not meeting:
                    bl, br = nxt, br + 1
        if not meeting:
            return None
        return list(self._best_among_shortest(meeting, fdist, bdist, fr, br, ok).edges)

    def _best_among_shortest(
        self,
        meeting: list[int],
        fdist: dict[int, int],
        bdist: dict[int, int],
        fr: int,
        br: int,
        ok: _EdgeFilter,
    ) -> _Best:
        """Lowest (cost, CID sequence) over all shortest paths, by a suffix DP on their layers.

        Every shortest path crosses exactly one meeting edge, from forward layer ``fr`` to
        backward layer ``br``; layers make the DP's suffixes equally long, so choosing the best
        suffix per node is exact for the lexicographic order too.
        """
        out, inc, src, dst = self._out, self._in, self._src, self._dst
        edges = self._edges
        best: dict[int, _Best] = {}
        # Backward side: nodes between the meeting edges and the target, one layer at a time.
        layers: list[set[int]] = [{dst[e] for e in meeting}]
        for depth in range(br, 0, -1):
            layers.append(
                {dst[e] for x in layers[-1] for e in out[x] if bdist.get(dst[e]) == depth - 1 and ok(e)}
            )
        for depth, layer in zip(range(0, br + 1), reversed(layers), strict=True):
            for x in layer:
                if depth == 0:
                    best[x] = _Best(0.0, (), ())
                    continue
                best[x] = min(
                    _extend(edges[e], e, best[dst[e]])  # type: ignore[arg-type]
                    for e in out[x]
                    if bdist.get(dst[e]) == depth - 1 and dst[e] in best and ok(e)
                )
        # Forward side: the meeting edges' tails, then back toward the source.
        tails: dict[int, _Best] = {}
        for e in meeting:
            cand = _extend(edges[e], e, best[dst[e]])  # type: ignore[arg-type]
            u = src[e]
            if u not in tails or cand < tails[u]:
                tails[u] = cand
        fbest = tails
        layer = set(tails)
        for depth in range(fr, 0, -1):
            prev = {src[e] for x in layer for e in inc[x] if fdist.get(src[e]) == depth - 1 and ok(e)}
            nbest: dict[int, _Best] = {}
            for w in prev:
                nbest[w] = min(
                    _extend(edges[e], e, fbest[dst[e]])  # type: ignore[arg-type]
                    for e in out[w]
                    if dst[e] in fbest and fdist.get(dst[e]) == depth and ok(e)
                )
            fbest, layer = nbest, prev
        (answer,) = fbest.values()
        return answer


def _extend(edge: LensEdge, idx: int, rest: _Best) -> _Best:
    return _Best(edge.cost + rest.cost, (edge.cid, *rest.cids), (idx, *rest.edges))


class _EdgeFilter:
    """A policy compiled against one graph: a fast per-edge-index predicate."""

    __slots__ = ("_all", "_attested", "_authors", "_edges")

    def __init__(self, policy: LensFilter, graph: LensGraph) -> None:
        self._all = policy.authors is None and policy.attested is None
        self._authors = policy.authors or frozenset()
        self._attested = policy.attested or frozenset()
        self._edges = graph._edges

    def __call__(self, idx: int) -> bool:
        if self._all:
            return True
        edge = self._edges[idx]
        return edge is not None and (edge.author in self._authors or edge.cid in self._attested)


# --- the integer-graph core both lens graphs run on (this one and the appview's compact index) ---
def layered_reachable(
    s: int,
    out_edges: Callable[[int], Iterable[int]],
    dst: Sequence[int],
    ok: Callable[[int], bool],
    names: Sequence[str],
    max_hops: int | None,
    stop_after: int | None = None,
) -> list[int]:
    """Nodes reachable from ``s`` by layers, each layer sorted by name; stops after the layer that
    passes ``stop_after``."""
    seen = {s}
    layer = [s]
    order: list[int] = []
    depth = 0
    while (
        layer and (max_hops is None or depth < max_hops) and (stop_after is None or len(order) < stop_after)
    ):
        nxt: list[int] = []
        for u in layer:
            for e in out_edges(u):
                v = dst[e]
                if v not in seen and ok(e):
                    seen.add(v)
                    nxt.append(v)
        nxt.sort(key=names.__getitem__)
        order.extend(nxt)
        layer = nxt
        depth += 1
    return order


def nearest_names(reachable: Callable[[int], list[int]], names: Sequence[str]) -> tuple[list[str], str]:
    """The nearest reachable schemas, and how many there are (``"at least N"`` past a cap)."""
    found = reachable(_REACHABLE_COUNTED)
    count = f"at least {len(found)}" if len(found) >= _REACHABLE_COUNTED else str(len(found))
    return [names[n] for n in found[:_REACHABLE_SHOWN]], count


def path_ids(
    source: str,
    target: str,
    ids: Mapping[str, int],
    search: Callable[[int, int], list[int] | None],
    reachable_names: Callable[[int], tuple[list[str], str]],
    max_hops: int | None,
) -> list[int]:
    """Edge ids of the best path from ``source`` to ``target``; :class:`LensPathError` naming the
    nearest reachable schemas when there is none. One error text for every graph."""
    if source == target:
        return []
    s, t = ids.get(source), ids.get(target)
    if s is None or t is None:
        missing = source if s is None else target
        raise LensPathError(
            f"no lens path from {source} to {target}: no lens reads or writes {missing}",
            reachable=reachable_names(s)[0] if s is not None else [],
        )
    found = search(s, t)
    if found is None:
        hops = f" within {max_hops} hop(s)" if max_hops is not None else ""
        reachable, count = reachable_names(s)
        raise LensPathError(
            f"no lens path from {source} to {target}{hops} under the trust policy "
            f"({count} schema(s) reachable; the nearest are listed)",
            reachable=reachable,
        )
    return found
