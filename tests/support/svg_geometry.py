"""Reading the geometry back out of a lens-graph picture (``atdata.drawing``): its boxes, and which
straight runs of an arrow cross one. Shared by the drawing's own tests and the demo's."""

from __future__ import annotations

import itertools
import re

Rect = tuple[float, float, float, float]


def boxes(picture: str) -> list[Rect]:
    """(x, y, width, height) of every type box."""
    found = re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" rx="7"', picture)
    return [(float(x), float(y), float(w), float(h)) for x, y, w, h in found]


def crossings(path_d: str, rects: list[Rect]) -> list[tuple[tuple[float, float], tuple[float, float], Rect]]:
    """The horizontal or vertical runs between the path's successive points that pass through a box."""
    points = [(float(x), float(y)) for x, y in re.findall(r"([\d.]+),([\d.]+)", path_d)]
    hits = []
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        for bx, by, bw, bh in rects:
            across = y1 == y2 and by < y1 < by + bh and min(x1, x2) < bx + bw and max(x1, x2) > bx
            down = x1 == x2 and bx < x1 < bx + bw and min(y1, y2) < by + bh and max(y1, y2) > by
            if across or down:
                hits.append(((x1, y1), (x2, y2), (bx, by, bw, bh)))
    return hits
