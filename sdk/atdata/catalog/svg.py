"""Draw a catalog graph as a standalone SVG: types in columns by hop distance, lenses as arrows.

Pure Python (no graphviz): a layered layout where each type's column is its hop distance from the
types no lens leads into, rows ordered once by the mean row of their sources to limit crossings.
Lenses pointing forward to the next column are curves between columns; lenses that skip columns
run down the gaps between columns and along a lane below every box, so they never cross a box;
lenses pointing back or within a column loop below the boxes. A highlighted path is drawn thick, for
showing which chain a coercion took; untrusted lenses are dashed and labelled, with a legend entry.
Boxes are as wide as their longest label, so names are never cut.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from html import escape

from atdata.catalog.overview import CatalogGraph, Edge

MIN_BOX_W, BOX_H = 215, 46
COL_GAP, ROW_GAP = 90, 26
MARGIN = 30
LEGEND_H = 40
LANE_GAP = 22
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f", "#edc948"]
HIGHLIGHT = "#d62728"
UNTRUSTED = "#7f7f7f"
# A conservative width per character of Helvetica at 1 px font size (bold capitals are the widest),
# so that a box sized from it holds its label whatever font the viewer substitutes.
_EM = 0.68


def text_width(text: str, size: float) -> float:
    return len(text) * size * _EM


def _box_width(graph: CatalogGraph) -> float:
    widest = max(
        (
            max(text_width(name, 13), text_width(f"{node.system} \u00b7 {node.fields} fields", 10.5))
            for name, node in graph.nodes.items()
        ),
        default=0.0,
    )
    return float(max(MIN_BOX_W, math.ceil(widest + 20)))


def _positions(
    graph: CatalogGraph, first: Iterable[str], last: Iterable[str], box_w: float
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
        n: (MARGIN + layers[n] * (box_w + COL_GAP), MARGIN + LEGEND_H + row[n] * (BOX_H + ROW_GAP))
        for n in graph.nodes
    }


def _marker(ident: str, size: int, fill: str) -> str:
    return (
        f'<marker id="{ident}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="{size}" '
        f'markerHeight="{size}" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{fill}"/></marker>'
    )


def _skips_columns(e: Edge, pos: dict[str, tuple[float, float]], box_w: float) -> bool:
    return pos[e.target][0] - pos[e.source][0] > box_w + COL_GAP + 1


def _edge_path(
    e: Edge, pos: dict[str, tuple[float, float]], bend: int, box_w: float, lane_y: float
) -> tuple[str, tuple[float, float]]:
    """The SVG path of an edge, and a point to put its label at."""
    (sx, sy), (tx, ty) = pos[e.source], pos[e.target]
    if tx > sx and not _skips_columns(e, pos, box_w):
        x1, y1 = sx + box_w, sy + BOX_H / 2
        x2, y2 = tx - 2, ty + BOX_H / 2
        dx = (x2 - x1) / 2
        path = f"M{x1:.1f},{y1:.1f} C{x1 + dx:.1f},{y1:.1f} {x2 - dx:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        return path, ((x1 + x2) / 2, (y1 + y2) / 2 - 6)
    if tx > sx:
        # Out of the source's right side into the gap after its column, down the gap to a lane
        # below every box, along it, up the gap before the target's column, into its left side.
        # Gaps and the lane hold no boxes, so the edge crosses none; it leaves and enters below the
        # middle, where the edges between neighbouring columns run, so it is never hidden by them.
        x1, y1 = sx + box_w, sy + BOX_H * 0.78
        x2, y2 = tx - 2, ty + BOX_H * 0.78
        g1, g2 = x1 + COL_GAP / 2, tx - COL_GAP / 2
        r = 10.0
        path = (
            f"M{x1:.1f},{y1:.1f} L{g1 - r:.1f},{y1:.1f} Q{g1:.1f},{y1:.1f} {g1:.1f},{y1 + r:.1f} "
            f"L{g1:.1f},{lane_y - r:.1f} Q{g1:.1f},{lane_y:.1f} {g1 + r:.1f},{lane_y:.1f} "
            f"L{g2 - r:.1f},{lane_y:.1f} Q{g2:.1f},{lane_y:.1f} {g2:.1f},{lane_y - r:.1f} "
            f"L{g2:.1f},{y2 + r:.1f} Q{g2:.1f},{y2:.1f} {g2 + r:.1f},{y2:.1f} L{x2:.1f},{y2:.1f}"
        )
        return path, ((g1 + g2) / 2, lane_y + 15)
    # Back or same-column edges leave and enter through the bottom, looping below.
    x1, y1 = sx + box_w * 0.35, sy + BOX_H
    x2, y2 = tx + box_w * 0.65, ty + BOX_H + 2
    drop = 28 + 10 * bend
    path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + drop:.1f} {x2:.1f},{y2 + drop:.1f} {x2:.1f},{y2:.1f}"
    return path, ((x1 + x2) / 2, max(y1, y2) + drop * 0.75 + 12)


def render(
    graph: CatalogGraph,
    *,
    highlight: Iterable[str] = (),
    deemphasize: Iterable[str] = (),
    untrusted: Iterable[str] = (),
    title: str = "atdata catalog",
) -> str:
    """The SVG document. ``highlight`` names lenses (a path) to draw emphasised and left to right;
    ``deemphasize`` names lenses (shortcuts) the layout should not let decide the columns;
    ``untrusted`` names lenses to draw dashed, labelled with their name and "untrusted"."""
    marked = set(highlight)
    rivals = set(untrusted)
    box_w = _box_width(graph)
    pos = _positions(graph, marked, set(deemphasize) | rivals, box_w)
    systems = sorted({n.system for n in graph.nodes.values()})
    color = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(systems)}
    skipping = [e for e in graph.edges if _skips_columns(e, pos, box_w)]
    lowest = max(y for _, y in pos.values()) + BOX_H
    lanes = {e.lens: lowest + 2 * LANE_GAP + i * 2 * LANE_GAP for i, e in enumerate(skipping)}
    label_w = max(
        (text_width(f"{e.lens} (untrusted)", 11) for e in graph.edges if e.lens in rivals), default=0.0
    )
    width = max(max(x for x, _ in pos.values()) + box_w + MARGIN, MARGIN * 2 + label_w)
    height = lowest + MARGIN + 60 + 2 * LANE_GAP * len(skipping)
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
        _marker("arrow-untrusted", 9, UNTRUSTED),
        "</defs>",
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    lx: float = MARGIN
    for s in systems:
        out.append(f'<rect x="{lx}" y="{MARGIN - 12}" width="14" height="14" rx="3" fill="{color[s]}"/>')
        out.append(f'<text x="{lx + 20}" y="{MARGIN}" font-size="12">{escape(s)}</text>')
        lx += 30 + text_width(s, 12)
    if marked:
        out.append(f'<path d="M{lx:.1f},{MARGIN - 5} l28,0" stroke="{HIGHLIGHT}" stroke-width="3.5"/>')
        out.append(f'<text x="{lx + 34:.1f}" y="{MARGIN}" font-size="12">path taken</text>')
        lx += 34 + text_width("path taken", 12) + 16
    if rivals & {e.lens for e in graph.edges}:
        out.append(
            f'<path d="M{lx:.1f},{MARGIN - 5} l28,0" stroke="{UNTRUSTED}" stroke-width="2" '
            'stroke-dasharray="6 4"/>'
        )
        out.append(f'<text x="{lx + 34:.1f}" y="{MARGIN}" font-size="12">untrusted lens (not used)</text>')
    bends: dict[str, int] = {}
    ordered = sorted(graph.edges, key=lambda e: (e.lens in marked, e.lens))
    for e in ordered:
        bend = bends.get(e.source, 0)
        bends[e.source] = bend + 1
        hl = e.lens in marked
        rival = e.lens in rivals and not hl
        if hl:
            stroke, marker, kind = f'stroke="{HIGHLIGHT}" stroke-width="3.5"', "arrow-hl", " highlighted"
        elif rival:
            stroke = f'stroke="{UNTRUSTED}" stroke-width="2" stroke-dasharray="6 4"'
            marker, kind = "arrow-untrusted", " untrusted"
        else:
            stroke, marker, kind = 'stroke="#888" stroke-width="1.3"', "arrow", ""
        path, (lx_, ly_) = _edge_path(e, pos, bend, box_w, lanes.get(e.lens, 0.0))
        label = f"{e.lens} (untrusted)" if rival else e.lens
        out.append(
            f'<path class="lens{kind}" d="{path}" fill="none" '
            f'{stroke} marker-end="url(#{marker})"><title>{escape(label)}: '
            f"{escape(e.source)} \u2192 {escape(e.target)}</title></path>"
        )
        if rival:
            half = text_width(label, 11) / 2
            lx_ = min(max(lx_, MARGIN + half), width - MARGIN - half)
            out.append(
                f'<text class="lens-label untrusted" x="{lx_:.1f}" y="{ly_:.1f}" font-size="11" '
                f'text-anchor="middle" fill="#555">{escape(label)}</text>'
            )
    for name, node in sorted(graph.nodes.items()):
        x, y = pos[name]
        border = 'stroke="#333" stroke-width="1"'
        if name in on_path:
            border = f'stroke="{HIGHLIGHT}" stroke-width="3"'
        fill = color[node.system]
        out.append(
            f'<g class="type" id="type-{escape(name)}"><title>{escape(name)}: {escape(node.summary)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w:.0f}" height="{BOX_H}" rx="7" fill="{fill}" '
            f'fill-opacity="0.18" {border}/>'
            f'<text x="{x + 10:.1f}" y="{y + 20:.1f}" font-size="13" font-weight="bold">{escape(name)}</text>'
            f'<text x="{x + 10:.1f}" y="{y + 36:.1f}" font-size="10.5" fill="#444">{escape(node.system)} '
            f"\u00b7 {node.fields} fields</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
