"""Draw a catalog graph as a standalone SVG: types in columns by hop distance, lenses as arrows.

Pure Python (no graphviz): a layered layout where each type's column is its hop distance from the
types no lens leads into, rows ordered once by the mean row of their sources to limit crossings.
Lenses pointing forward are curves between columns; lenses pointing back or within a column loop
below the boxes. A highlighted path is drawn thick, for showing which chain a coercion took.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from atdata.catalog.overview import CatalogGraph, Edge

BOX_W, BOX_H = 215, 46
COL_GAP, ROW_GAP = 90, 26
MARGIN = 30
LEGEND_H = 40
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f", "#edc948"]
HIGHLIGHT = "#d62728"


def _positions(
    graph: CatalogGraph, first: Iterable[str], last: Iterable[str]
) -> dict[str, tuple[float, float]]:
    layers = graph.layers(first=first, last=last)
    columns: dict[int, list[str]] = {}
    for name, layer in layers.items():
        columns.setdefault(layer, []).append(name)
    row: dict[str, float] = {}
    for layer in sorted(columns):
        names = columns[layer]
        if layer == 0:
            names.sort(key=lambda n: (graph.nodes[n].system, n))
        else:

            def weight(n: str) -> tuple[float, str]:
                rows = [row[e.source] for e in graph.edges if e.target == n and e.source in row]
                return (sum(rows) / len(rows) if rows else float("inf"), n)

            names.sort(key=weight)
        for i, n in enumerate(names):
            row[n] = float(i)
    return {
        n: (MARGIN + layers[n] * (BOX_W + COL_GAP), MARGIN + LEGEND_H + row[n] * (BOX_H + ROW_GAP))
        for n in graph.nodes
    }


def _marker(ident: str, size: int, fill: str) -> str:
    return (
        f'<marker id="{ident}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="{size}" '
        f'markerHeight="{size}" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{fill}"/></marker>'
    )


def _edge_path(e: Edge, pos: dict[str, tuple[float, float]], bend: int) -> str:
    (sx, sy), (tx, ty) = pos[e.source], pos[e.target]
    if tx > sx:
        x1, y1 = sx + BOX_W, sy + BOX_H / 2
        x2, y2 = tx - 2, ty + BOX_H / 2
        dx = (x2 - x1) / 2
        return f"M{x1:.1f},{y1:.1f} C{x1 + dx:.1f},{y1:.1f} {x2 - dx:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    # Back or same-column edges leave and enter through the bottom, looping below.
    x1, y1 = sx + BOX_W * 0.35, sy + BOX_H
    x2, y2 = tx + BOX_W * 0.65, ty + BOX_H + 2
    drop = 28 + 10 * bend
    return f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + drop:.1f} {x2:.1f},{y2 + drop:.1f} {x2:.1f},{y2:.1f}"


def render(
    graph: CatalogGraph,
    *,
    highlight: Iterable[str] = (),
    deemphasize: Iterable[str] = (),
    title: str = "atdata catalog",
) -> str:
    """The SVG document. ``highlight`` names lenses (a path) to draw emphasised and left to right;
    ``deemphasize`` names lenses (shortcuts) the layout should not let decide the columns."""
    marked = set(highlight)
    pos = _positions(graph, marked, set(deemphasize))
    systems = sorted({n.system for n in graph.nodes.values()})
    color = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(systems)}
    width = max(x for x, _ in pos.values()) + BOX_W + MARGIN
    height = max(y for _, y in pos.values()) + BOX_H + MARGIN + 60
    on_path = {e.source for e in graph.edges if e.lens in marked} | {
        e.target for e in graph.edges if e.lens in marked
    }
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif">',
        f"<title>{escape(title)}</title>",
        "<defs>",
        _marker("arrow", 9, "#666"),
        _marker("arrow-hl", 13, HIGHLIGHT),
        "</defs>",
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    lx = MARGIN
    for s in systems:
        out.append(f'<rect x="{lx}" y="{MARGIN - 12}" width="14" height="14" rx="3" fill="{color[s]}"/>')
        out.append(f'<text x="{lx + 20}" y="{MARGIN}" font-size="12">{escape(s)}</text>')
        lx += 30 + 7 * len(s)
    bends: dict[str, int] = {}
    ordered = sorted(graph.edges, key=lambda e: (e.lens in marked, e.lens))
    for e in ordered:
        bend = bends.get(e.source, 0)
        bends[e.source] = bend + 1
        hl = e.lens in marked
        stroke = f'stroke="{HIGHLIGHT}" stroke-width="3.5"' if hl else 'stroke="#888" stroke-width="1.3"'
        marker = "arrow-hl" if hl else "arrow"
        out.append(
            f'<path class="lens{" highlighted" if hl else ""}" d="{_edge_path(e, pos, bend)}" fill="none" '
            f'{stroke} marker-end="url(#{marker})"><title>{escape(e.lens)}: '
            f"{escape(e.source)} \u2192 {escape(e.target)}</title></path>"
        )
    for name, node in sorted(graph.nodes.items()):
        x, y = pos[name]
        border = 'stroke="#333" stroke-width="1"'
        if name in on_path:
            border = f'stroke="{HIGHLIGHT}" stroke-width="3"'
        fill = color[node.system]
        out.append(
            f'<g class="type" id="type-{escape(name)}"><title>{escape(name)}: {escape(node.summary)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="7" fill="{fill}" '
            f'fill-opacity="0.18" {border}/>'
            f'<text x="{x + 10:.1f}" y="{y + 20:.1f}" font-size="13" font-weight="bold">{escape(name)}</text>'
            f'<text x="{x + 10:.1f}" y="{y + 36:.1f}" font-size="10.5" fill="#444">{escape(node.system)} '
            f"\u00b7 {node.fields} fields</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
