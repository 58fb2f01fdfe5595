"""The catalog graph as drawn: cycles broken, columns by lens chains, chosen paths left to right."""

from __future__ import annotations

import pytest

from atdata.catalog import CATALOG_LENSES, CATALOG_TYPES, SHORTCUT_LENSES, Frame
from atdata.catalog.overview import build
from atdata.errors import LensCompositionError

GRAPH = build(CATALOG_TYPES, CATALOG_LENSES)
SHORTCUTS = [lens.name for lens in SHORTCUT_LENSES]


def test_only_edges_that_close_a_cycle_are_left_out_of_the_drawing_order() -> None:
    kept = GRAPH.forward_edges()
    for dropped in set(GRAPH.edges) - set(kept):
        assert dropped.source in GRAPH.hops_from(dropped.target)


def test_every_kept_lens_points_to_a_later_column() -> None:
    layers = GRAPH.layers(last=SHORTCUTS)
    for e in GRAPH.forward_edges(last=SHORTCUTS):
        assert layers[e.source] < layers[e.target], e


def test_a_preferred_path_runs_left_to_right_even_against_a_shortcut() -> None:
    path = GRAPH.path("Frame", "BathApplicationFrame", exclude=SHORTCUTS)
    layers = GRAPH.layers(first=[e.lens for e in path], last=SHORTCUTS)
    columns = [layers["Frame"]] + [layers[e.target] for e in path]
    assert columns == sorted(set(columns))


def test_a_lens_to_a_type_outside_the_graph_is_refused() -> None:
    with pytest.raises(LensCompositionError, match="not among the types"):
        build([Frame], CATALOG_LENSES)
