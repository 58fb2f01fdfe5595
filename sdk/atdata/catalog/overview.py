"""The catalog as a graph to look at: types as nodes, lenses as edges, hop distances, a text listing.

Pure: built from type classes and lenses, no I/O. :func:`picture` draws it with :mod:`atdata.drawing`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from atdata import drawing
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


def picture(
    graph: CatalogGraph,
    *,
    highlight: Iterable[str] = (),
    deemphasize: Iterable[str] = (),
    untrusted: Iterable[str] = (),
    title: str = "atdata catalog",
) -> str:
    """The graph as an SVG document: types coloured by system, ``highlight`` (lens names, a path)
    drawn thick left to right, ``deemphasize`` (shortcuts) kept from deciding the columns,
    ``untrusted`` lenses dashed and labelled."""
    rivals = set(untrusted)
    boxes = [
        drawing.Box(
            name, name, f"{node.system} \u00b7 {node.fields} fields", node.system, f"{name}: {node.summary}"
        )
        for name, node in graph.nodes.items()
    ]
    arrows = [drawing.Arrow(e.lens, e.source, e.target, untrusted=e.lens in rivals) for e in graph.edges]
    return drawing.render(boxes, arrows, highlight=highlight, deemphasize=deemphasize, title=title)
