"""The catalog graph as drawn: cycles broken, columns by lens chains, chosen paths left to right."""

from __future__ import annotations

import pytest

from atdata.catalog import CATALOG_LENSES, CATALOG_TYPES, SHORTCUT_LENSES, Frame
from atdata.catalog.overview import build
from atdata.drawing import Arrow, columns, forward_arrows
from atdata.errors import LensCompositionError

GRAPH = build(CATALOG_TYPES, CATALOG_LENSES)
SHORTCUTS = [lens.name for lens in SHORTCUT_LENSES]
ARROWS = [Arrow(e.lens, e.source, e.target) for e in GRAPH.edges]


def test_only_edges_that_close_a_cycle_are_left_out_of_the_drawing_order() -> None:
    kept = forward_arrows(GRAPH.nodes, ARROWS)
    assert kept
    for dropped in set(ARROWS) - set(kept):
        assert dropped.source in GRAPH.hops_from(dropped.target)


def test_every_kept_lens_points_to_a_later_column() -> None:
    layers = columns(GRAPH.nodes, ARROWS, last=SHORTCUTS)
    for a in forward_arrows(GRAPH.nodes, ARROWS, last=SHORTCUTS):
        assert layers[a.source] < layers[a.target], a


def test_a_preferred_path_runs_left_to_right_even_against_a_shortcut() -> None:
    path = GRAPH.path("Frame", "BathApplicationFrame", exclude=SHORTCUTS)
    layers = columns(GRAPH.nodes, ARROWS, first=[e.lens for e in path], last=SHORTCUTS)
    cols = [layers["Frame"]] + [layers[e.target] for e in path]
    assert cols == sorted(set(cols))


def test_a_lens_to_a_type_outside_the_graph_is_refused() -> None:
    with pytest.raises(LensCompositionError, match="not among the types"):
        build([Frame], CATALOG_LENSES)
