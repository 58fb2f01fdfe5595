"""A picture of the lens graph around one schema, as SVG: pure layout and drawing.

Columns, left to right: schemas with a lens into the focus, the focus, schemas it has a lens to,
then the rest of the highlighted path (if any), one column per hop. Layout is deterministic.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from html import escape

NODE_W, NODE_H, COL_GAP, ROW_GAP, MARGIN = 170, 34, 90, 18, 20


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    runnable: bool = True
    """False for atdata 0.7 lenses (code by git reference): drawn dashed, never on a path."""


def layout(focus: str, edges: list[Edge], path: list[str]) -> dict[str, tuple[int, int]]:
    """(column, row) of every node; ``path`` lists node ids from the focus to the chosen target."""
    cols: dict[str, int] = {focus: 1}
    for e in sorted(edges, key=lambda e: (e.source, e.target)):
        if e.target == focus and e.source != focus:
            cols.setdefault(e.source, 0)
        elif e.source == focus and e.target != focus:
            cols.setdefault(e.target, 2)
    for hop, node in enumerate(path[1:], start=2):
        cols.setdefault(node, hop)
    rows: dict[int, int] = {}
    out: dict[str, tuple[int, int]] = {}
    for node in sorted(cols, key=lambda n: (cols[n], n)):
        col = cols[node]
        out[node] = (col, rows.get(col, 0))
        rows[col] = rows.get(col, 0) + 1
    return out


def render(focus: str, labels: dict[str, str], edges: list[Edge], path: list[str]) -> str:
    pos = layout(focus, edges, path)
    on_path = set(itertools.pairwise(path))
    height = max((r for _, r in pos.values()), default=0) + 1
    width = max((c for c, _ in pos.values()), default=0) + 1

    def xy(node: str) -> tuple[int, int]:
        col, row = pos[node]
        return MARGIN + col * (NODE_W + COL_GAP), MARGIN + row * (NODE_H + ROW_GAP)

    w = 2 * MARGIN + width * NODE_W + (width - 1) * COL_GAP
    h = 2 * MARGIN + height * NODE_H + (height - 1) * ROW_GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lens-graph" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="lens graph around {escape(labels.get(focus, focus))}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker>'
        '<marker id="arrow-path" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#d62728"/></marker></defs>',
    ]
    drawn: set[tuple[str, str]] = set()
    for e in edges:
        # Parallel lenses share one line: the picture shows which schemas convert, not how often.
        if (
            e.source not in pos
            or e.target not in pos
            or e.source == e.target
            or (e.source, e.target) in drawn
        ):
            continue
        drawn.add((e.source, e.target))
        (x1, y1), (x2, y2) = xy(e.source), xy(e.target)
        hot = (e.source, e.target) in on_path
        forward = x2 > x1
        classes = "edge" + (" path" if hot else "") + ("" if e.runnable else " git-reference")
        sx, tx = (x1 + NODE_W, x2) if forward else (x1, x2 + NODE_W)
        parts.append(
            f'<line class="{classes}" x1="{sx}" y1="{y1 + NODE_H // 2}" x2="{tx}" '
            f'y2="{y2 + NODE_H // 2}" stroke="{"#d62728" if hot else "#999"}" '
            f'stroke-width="{3 if hot else 1.2}" '
            + ("" if e.runnable else 'stroke-dasharray="5 4" ')
            + f'marker-end="url(#{"arrow-path" if hot else "arrow"})"><title>{escape(e.label)}</title></line>'
        )
    for node in pos:
        x, y = xy(node)
        label = labels.get(node, node.rsplit("/", 1)[-1])
        short = label if len(label) <= 22 else label[:21] + "…"
        cls = "node focus" if node == focus else ("node path" if node in path else "node")
        fill = "#1f77b4" if node == focus else ("#fde0dd" if node in path else "#f4f4f4")
        ink = "#fff" if node == focus else "#222"
        parts.append(
            f'<g class="{cls}"><title>{escape(label)}</title>'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" stroke="#555"/>'
            f'<text x="{x + NODE_W // 2}" y="{y + NODE_H // 2 + 5}" text-anchor="middle" font-size="13" '
            f'font-family="sans-serif" fill="{ink}">{escape(short)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
