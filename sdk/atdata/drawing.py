"""Lens graphs drawn as standalone SVG: the one renderer behind ``atdata catalog list --svg``, the
demo's picture of the path taken and the appview's schema page.

Pure Python (no graphviz): a layered layout where each type's column is its hop distance from the
types no lens leads into (the longest chain of lenses once cycles are broken), rows ordered once by
the mean row of their sources to limit crossings. Lenses pointing forward to the next column are
curves between columns; lenses that skip columns run down the gaps between columns and along a lane
below every box, so they never cross a box; lenses pointing back or within a column loop below the
boxes. A highlighted path is drawn thick and left to right, for showing which chain a coercion took;
untrusted lenses are dashed and labelled, with a legend entry; lenses whose code cannot run here
(atdata 0.7's git references) are dashed grey and never highlighted. Boxes are as wide as their
longest label, so names are never cut.

Every piece of text may come from a record (names, handles, URIs), so all of it is escaped: the
picture can be inlined into an HTML page as it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from html import escape

MIN_BOX_W, BOX_H = 215, 46
COL_GAP, ROW_GAP = 90, 26
MARGIN = 30
LEGEND_H = 40
LANE_GAP = 22
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f", "#edc948"]
NEUTRAL = "#9e9e9e"
FOCUS = "#1f77b4"
HIGHLIGHT = "#d62728"
UNTRUSTED = "#7f7f7f"
# A conservative width per character of Helvetica at 1 px font size (bold capitals are the widest),
# so that a box sized from it holds its label whatever font the viewer substitutes.
_EM = 0.68


@dataclass(frozen=True)
class Box:
    """A sample type to draw. ``key`` identifies it (arrows name it); ``title`` is written in full, in
    bold, with ``subtitle`` under it; boxes of one ``group`` share a colour, named in the legend;
    ``tooltip`` is shown on hover (default: the title)."""

    key: str
    title: str
    subtitle: str = ""
    group: str = ""
    tooltip: str = ""


@dataclass(frozen=True)
class Arrow:
    """A lens from box ``source`` to box ``target``. ``key`` identifies it (``highlight`` names
    keys); ``label`` names it (default: the key). ``untrusted``: dashed and labelled; ``runnable``
    False: its code cannot run here (dashed grey, never highlighted)."""

    key: str
    source: str
    target: str
    label: str = ""
    untrusted: bool = False
    runnable: bool = True

    @property
    def name(self) -> str:
        return self.label or self.key


def text_width(text: str, size: float) -> float:
    """A width (px) that text in Helvetica at ``size`` px never exceeds."""
    return len(text) * size * _EM


def forward_arrows(
    keys: Iterable[str], arrows: Sequence[Arrow], *, first: Iterable[str] = (), last: Iterable[str] = ()
) -> list[Arrow]:
    """The arrows left after breaking every cycle: a depth-first search from the boxes no arrow
    leads into (then from the rest, in key order) drops the arrows that close a cycle.

    The search follows arrows whose keys are in ``first`` before others and those in ``last`` after,
    which decides which arrow of a cycle is dropped (so a highlighted path can run left to right).
    """
    first_set, last_set = set(first), set(last)
    out: dict[str, list[Arrow]] = {k: [] for k in keys}
    for a in arrows:
        out.setdefault(a.source, []).append(a)
        out.setdefault(a.target, [])
    for leaving in out.values():
        leaving.sort(key=lambda a: (a.key not in first_set, a.key in last_set, a.target, a.key))

    indegree = dict.fromkeys(out, 0)
    for a in arrows:
        indegree[a.target] += 1
    order = sorted(n for n, d in indegree.items() if d == 0) + sorted(n for n, d in indegree.items() if d > 0)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    keep: list[Arrow] = []
    for root in order:
        if root in state:
            continue
        stack: list[tuple[str, Iterator[Arrow]]] = [(root, iter(out[root]))]
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
                    stack.append((step.target, iter(out[step.target])))
    return keep


def columns(
    keys: Iterable[str], arrows: Sequence[Arrow], *, first: Iterable[str] = (), last: Iterable[str] = ()
) -> dict[str, int]:
    """Column of each box: the longest chain of (cycle-free) arrows leading to it, so every forward
    arrow points to a later column (``first``/``last`` as in :func:`forward_arrows`)."""
    names = set(keys) | {k for a in arrows for k in (a.source, a.target)}
    preds: dict[str, list[str]] = {n: [] for n in names}
    for a in forward_arrows(names, arrows, first=first, last=last):
        preds[a.target].append(a.source)
    column: dict[str, int] = {}
    for n in sorted(names):
        # Iterative longest-path depth (no recursion limit on long chains); forward arrows are acyclic.
        stack = [n]
        while stack:
            top = stack[-1]
            todo = [p for p in preds[top] if p not in column]
            if todo:
                stack.extend(todo)
            else:
                column[top] = max((column[p] + 1 for p in preds[top]), default=0)
                stack.pop()
    return column


def _positions(
    boxes: dict[str, Box], arrows: Sequence[Arrow], first: Iterable[str], last: Iterable[str], box_w: float
) -> dict[str, tuple[float, float]]:
    layer = columns(boxes, arrows, first=first, last=last)
    by_column: dict[int, list[str]] = {}
    for key, col in layer.items():
        by_column.setdefault(col, []).append(key)
    row: dict[str, float] = {}
    for col in sorted(by_column):
        keys = by_column[col]
        if col == 0:
            keys.sort(key=lambda k: (boxes[k].group, k))
        else:

            def weight(k: str) -> tuple[float, str]:
                rows = [row[a.source] for a in arrows if a.target == k and a.source in row]
                return (sum(rows) / len(rows) if rows else float("inf"), k)

            keys.sort(key=weight)
        for i, k in enumerate(keys):
            row[k] = float(i)
    return {
        k: (MARGIN + layer[k] * (box_w + COL_GAP), MARGIN + LEGEND_H + row[k] * (BOX_H + ROW_GAP))
        for k in boxes
    }


def _marker(ident: str, size: int, fill: str) -> str:
    return (
        f'<marker id="{ident}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="{size}" '
        f'markerHeight="{size}" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{fill}"/></marker>'
    )


def _skips_columns(a: Arrow, pos: dict[str, tuple[float, float]], box_w: float) -> bool:
    return pos[a.target][0] - pos[a.source][0] > box_w + COL_GAP + 1


def _arrow_path(
    a: Arrow, pos: dict[str, tuple[float, float]], bend: int, box_w: float, lane_y: float
) -> tuple[str, tuple[float, float]]:
    """The SVG path of an arrow, and a point to put its label at."""
    (sx, sy), (tx, ty) = pos[a.source], pos[a.target]
    if tx > sx and not _skips_columns(a, pos, box_w):
        x1, y1 = sx + box_w, sy + BOX_H / 2
        x2, y2 = tx - 2, ty + BOX_H / 2
        dx = (x2 - x1) / 2
        path = f"M{x1:.1f},{y1:.1f} C{x1 + dx:.1f},{y1:.1f} {x2 - dx:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        return path, ((x1 + x2) / 2, (y1 + y2) / 2 - 6)
    if tx > sx:
        # Out of the source's right side into the gap after its column, down the gap to a lane
        # below every box, along it, up the gap before the target's column, into its left side.
        # Gaps and the lane hold no boxes, so the arrow crosses none; it leaves and enters below the
        # middle, where the arrows between neighbouring columns run, so it is never hidden by them.
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
    # Back or same-column arrows leave and enter through the bottom, looping below.
    x1, y1 = sx + box_w * 0.35, sy + BOX_H
    x2, y2 = tx + box_w * 0.65, ty + BOX_H + 2
    drop = 28 + 10 * bend
    path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + drop:.1f} {x2:.1f},{y2 + drop:.1f} {x2:.1f},{y2:.1f}"
    return path, ((x1 + x2) / 2, max(y1, y2) + drop * 0.75 + 12)


def _legend(groups: list[str], color: dict[str, str], entries: list[tuple[str, str]]) -> list[str]:
    out: list[str] = []
    lx: float = MARGIN
    for g in groups:
        out.append(f'<rect x="{lx}" y="{MARGIN - 12}" width="14" height="14" rx="3" fill="{color[g]}"/>')
        out.append(f'<text x="{lx + 20}" y="{MARGIN}" font-size="12">{escape(g)}</text>')
        lx += 30 + text_width(g, 12)
    for stroke, text in entries:
        out.append(f'<path d="M{lx:.1f},{MARGIN - 5} l28,0" {stroke}/>')
        out.append(f'<text x="{lx + 34:.1f}" y="{MARGIN}" font-size="12">{escape(text)}</text>')
        lx += 34 + text_width(text, 12) + 16
    return out


def render(
    boxes: Iterable[Box],
    arrows: Iterable[Arrow],
    *,
    highlight: Iterable[str] = (),
    deemphasize: Iterable[str] = (),
    focus: str | None = None,
    title: str = "lens graph",
    path_label: str = "path taken",
) -> str:
    """The SVG document of ``boxes`` and the ``arrows`` between them (an arrow's end that no box
    names gets a box titled with its key). ``highlight`` names arrows (a path) to draw emphasised
    and left to right; ``deemphasize`` names arrows (shortcuts) the layout should not let decide
    the columns; ``focus`` names the box the picture is about."""
    by_key = {b.key: b for b in boxes}
    drawn = list(arrows)
    for a in drawn:
        for end in (a.source, a.target):
            by_key.setdefault(end, Box(end, end))
    marked = {a.key for a in drawn if a.runnable} & set(highlight)
    rivals = {a.key for a in drawn if a.untrusted and a.key not in marked}
    box_w = float(
        max(
            MIN_BOX_W,
            math.ceil(
                max(
                    (max(text_width(b.title, 13), text_width(b.subtitle, 10.5)) for b in by_key.values()),
                    default=0,
                )
                + 20
            ),
        )
    )
    pos = _positions(by_key, drawn, marked, set(deemphasize) | rivals, box_w)
    groups = sorted({b.group for b in by_key.values() if b.group})
    color = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    skipping = [a for a in drawn if _skips_columns(a, pos, box_w)]
    lowest = max((y for _, y in pos.values()), default=MARGIN + LEGEND_H) + BOX_H
    lanes = {a.key: lowest + 2 * LANE_GAP + i * 2 * LANE_GAP for i, a in enumerate(skipping)}
    label_w = max((text_width(f"{a.name} (untrusted)", 11) for a in drawn if a.key in rivals), default=0.0)
    width = max(max((x for x, _ in pos.values()), default=MARGIN) + box_w + MARGIN, MARGIN * 2 + label_w)
    height = lowest + MARGIN + 60 + 2 * LANE_GAP * len(skipping)
    on_path = {k for a in drawn if a.key in marked for k in (a.source, a.target)}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lens-graph" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'font-family="Helvetica, Arial, sans-serif" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        "<defs>",
        _marker("arrow", 9, "#666"),
        _marker("arrow-hl", 13, HIGHLIGHT),
        _marker("arrow-untrusted", 9, UNTRUSTED),
        "</defs>",
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    entries: list[tuple[str, str]] = []
    if marked:
        entries.append((f'stroke="{HIGHLIGHT}" stroke-width="3.5"', path_label))
    if rivals:
        entries.append(
            (f'stroke="{UNTRUSTED}" stroke-width="2" stroke-dasharray="6 4"', "untrusted lens (not used)")
        )
    if any(not a.runnable for a in drawn):
        entries.append(('stroke="#999" stroke-width="1.3" stroke-dasharray="3 3"', "code not runnable here"))
    out += _legend(groups, color, entries)
    bends: dict[str, int] = {}
    for a in sorted(drawn, key=lambda a: (a.key in marked, a.key)):
        bend = bends.get(a.source, 0)
        bends[a.source] = bend + 1
        rival = a.key in rivals
        if a.key in marked:
            stroke, marker, kind = f'stroke="{HIGHLIGHT}" stroke-width="3.5"', "arrow-hl", " highlighted"
        elif rival:
            stroke = f'stroke="{UNTRUSTED}" stroke-width="2" stroke-dasharray="6 4"'
            marker, kind = "arrow-untrusted", " untrusted"
        elif not a.runnable:
            stroke, marker, kind = (
                'stroke="#999" stroke-width="1.3" stroke-dasharray="3 3"',
                "arrow",
                " git-reference",
            )
        else:
            stroke, marker, kind = 'stroke="#888" stroke-width="1.3"', "arrow", ""
        path, (lx, ly) = _arrow_path(a, pos, bend, box_w, lanes.get(a.key, 0.0))
        label = f"{a.name} (untrusted)" if rival else a.name
        ends = f"{by_key[a.source].title} \u2192 {by_key[a.target].title}"
        out.append(
            f'<path class="lens{kind}" d="{path}" fill="none" {stroke} marker-end="url(#{marker})">'
            f"<title>{escape(label)}: {escape(ends)}</title></path>"
        )
        if rival:
            half = text_width(label, 11) / 2
            lx = min(max(lx, MARGIN + half), width - MARGIN - half)
            out.append(
                f'<text class="lens-label untrusted" x="{lx:.1f}" y="{ly:.1f}" font-size="11" '
                f'text-anchor="middle" fill="#555">{escape(label)}</text>'
            )
    for key, box in sorted(by_key.items()):
        x, y = pos[key]
        fill, opacity, border = color.get(box.group, NEUTRAL), "0.18", 'stroke="#333" stroke-width="1"'
        if key == focus:
            fill, opacity = FOCUS, "0.35"
        if key in on_path:
            border = f'stroke="{HIGHLIGHT}" stroke-width="3"'
        title_y = y + 20 if box.subtitle else y + 28
        subtitle = (
            f'<text x="{x + 10:.1f}" y="{y + 36:.1f}" font-size="10.5" fill="#444">'
            f"{escape(box.subtitle)}</text>"
            if box.subtitle
            else ""
        )
        out.append(
            f'<g class="type{" focus" if key == focus else ""}" id="type-{escape(key)}">'
            f"<title>{escape(box.tooltip or box.title)}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w:.0f}" height="{BOX_H}" rx="7" fill="{fill}" '
            f'fill-opacity="{opacity}" {border}/>'
            f'<text x="{x + 10:.1f}" y="{title_y:.1f}" font-size="13" font-weight="bold">'
            f"{escape(box.title)}</text>"
            f"{subtitle}</g>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
