"""The catalog as a graph to look at: types as nodes, lenses as edges, hop distances, a text listing.

Pure: built from type classes and lenses, no I/O. :mod:`atdata.catalog.svg` draws it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from atdata.errors import LensCompositionError
from atdata.types.packable import spec_of


@dataclass(frozen=True)
class Node:
    name: str
    system: str
    fields: int
    summary: str


@dataclass(frozen=True)
class Edge:
    lens: str
    source: str
    target: str


@dataclass
class CatalogGraph:
    nodes: dict[str, Node]
    edges: list[Edge]
    _out: dict[str, list[Edge]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in self.nodes:
            self._out.setdefault(name, [])
        for e in self.edges:
            self._out[e.source].append(e)
        for out in self._out.values():
            out.sort(key=lambda e: (e.target, e.lens))

    def out(self, name: str) -> list[Edge]:
        return self._out[name]

    def hops_from(self, source: str, *, exclude: Iterable[str] = ()) -> dict[str, list[Edge]]:
        """A fewest-hops path (as edges) from ``source`` to every reachable type, skipping lenses in
        ``exclude``; ties go to the alphabetically first lens names so the answer is stable."""
        skip = set(exclude)
        paths: dict[str, list[Edge]] = {source: []}
        queue = deque([source])
        while queue:
            here = queue.popleft()
            for e in self.out(here):
                if e.lens not in skip and e.target not in paths:
                    paths[e.target] = [*paths[here], e]
                    queue.append(e.target)
        return paths

    def path(self, source: str, target: str, *, exclude: Iterable[str] = ()) -> list[Edge] | None:
        return self.hops_from(source, exclude=exclude).get(target)

    def forward_edges(self, *, first: Iterable[str] = (), last: Iterable[str] = ()) -> list[Edge]:
        """The edges left after breaking every cycle: a depth-first search from the types no lens
        leads into (then from the rest, in name order) drops the edges that close a cycle.

        The search follows lenses named in ``first`` before others and those in ``last`` after,
        which decides which edge of a cycle is dropped (so a drawn path can run left to right).
        """
        first_set, last_set = set(first), set(last)

        def ordered(n: str) -> Iterator[Edge]:
            return iter(sorted(self.out(n), key=lambda e: (e.lens not in first_set, e.lens in last_set)))

        indegree = {n: 0 for n in self.nodes}
        for e in self.edges:
            indegree[e.target] += 1
        order = sorted(n for n, d in indegree.items() if d == 0) + sorted(
            n for n, d in indegree.items() if d > 0
        )
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        keep: list[Edge] = []
        for root in order:
            if root in state:
                continue
            stack = [(root, ordered(root))]
            state[root] = 1
            while stack:
                here, edges = stack[-1]
                step = next(edges, None)
                if step is None:
                    state[here] = 2
                    stack.pop()
                elif state.get(step.target) == 1:
                    continue  # closes a cycle
                else:
                    keep.append(step)
                    if step.target not in state:
                        state[step.target] = 1
                        stack.append((step.target, ordered(step.target)))
        return keep

    def layers(self, *, first: Iterable[str] = (), last: Iterable[str] = ()) -> dict[str, int]:
        """Column of each type for drawing: the longest chain of (cycle-free) lenses leading to it,
        so every forward lens points to a later column (``first``/``last`` as in forward_edges)."""
        forward = self.forward_edges(first=first, last=last)
        preds: dict[str, list[str]] = {n: [] for n in self.nodes}
        for e in forward:
            preds[e.target].append(e.source)
        layer: dict[str, int] = {}

        def depth(n: str) -> int:
            if n not in layer:
                layer[n] = 0  # provisional; forward edges have no cycles
                layer[n] = max((depth(p) + 1 for p in preds[n]), default=0)
            return layer[n]

        for n in sorted(self.nodes):
            depth(n)
        return layer


def system_of(cls: type) -> str:
    return cls.__module__.rsplit(".", 1)[-1]


def build(types: Iterable[type], lenses: Iterable[Any]) -> CatalogGraph:
    """The graph of ``types`` and the ``lenses`` (``atdata.Lens``) between them."""
    nodes = {}
    for cls in types:
        spec = spec_of(cls)
        summary = " ".join((spec.doc or "").split("\n\n")[0].split())
        nodes[cls.__name__] = Node(cls.__name__, system_of(cls), len(spec.fields), summary)
    edges = [Edge(lens.name, lens.source.__name__, lens.target.__name__) for lens in lenses]
    for e in edges:
        for end in (e.source, e.target):
            if end not in nodes:
                raise LensCompositionError(f"lens {e.lens} touches {end}, which is not among the types")
    return CatalogGraph(nodes, edges)


def describe(graph: CatalogGraph, *, shortcuts: Iterable[str] = ()) -> str:
    """A text listing: types by system, lenses by source, and how many type pairs each hop count links."""
    shortcut_set = set(shortcuts)
    lines = [f"{len(graph.nodes)} sample types"]
    name_w = max(len(n) for n in graph.nodes)
    for node in sorted(graph.nodes.values(), key=lambda n: (n.system != "shared", n.system, n.name)):
        lines.append(f"  {node.system:<24} {node.name:<{name_w}}  {node.fields:>2} fields  {node.summary}")
    lines += ["", f"{len(graph.edges)} lenses"]
    for source in sorted(graph.nodes):
        for e in graph.out(source):
            mark = "  (shortcut)" if e.lens in shortcut_set else ""
            lines.append(f"  {e.source:>{name_w}} -> {e.target:<{name_w}}  {e.lens}{mark}")
    by_hops: dict[int, int] = {}
    for source in graph.nodes:
        for path in graph.hops_from(source).values():
            if path:
                by_hops[len(path)] = by_hops.get(len(path), 0) + 1
    lines += ["", "type pairs linked by a shortest path of"]
    lines += [f"  {h} hop{'s' if h > 1 else ' '}: {count}" for h, count in sorted(by_hops.items())]
    return "\n".join(lines) + "\n"


def describe_path(path: list[Edge]) -> str:
    if not path:
        return "(same type)"
    return " -> ".join([path[0].source] + [f"[{e.lens}] {e.target}" for e in path])
