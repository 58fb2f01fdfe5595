"""The lens graph service: built from the store, kept current by the ingest, only valid lenses."""

from __future__ import annotations

import itertools

import pytest
from appview_world import BAD_LENS_SOURCE, World

from atdata.errors import LensPathError
from atdata.lenses.graph import LensFilter
from atdata.lexicon.nsid import LENS
from atdata_appview.lens_index import ChangePublisher, GraphService
from atdata_appview.service import Appview
from atdata_appview.store import Store


def test_an_ingested_lens_becomes_an_edge_at_once(world: World, graph: GraphService) -> None:
    a, b = world.schema("alice.test", "A"), world.schema("alice.test", "B")
    lens = world.lens("alice.test", "a_to_b", a, b)
    assert [step.uri for step in graph.path(a["uri"], b["uri"])] == [lens["uri"]]


def test_the_fewest_hops_win_and_trust_narrows_the_choice(world: World, graph: GraphService) -> None:
    a, b, c = (world.schema("alice.test", n) for n in "ABC")
    world.lens("alice.test", "a_to_b", a, b)
    world.lens("alice.test", "b_to_c", b, c)
    shortcut = world.lens("bob.test", "a_to_c", a, c)
    assert [s.uri for s in graph.path(a["uri"], c["uri"])] == [shortcut["uri"]]
    alice_only = LensFilter(authors=frozenset({world.authors["alice.test"].did}))
    assert len(graph.path(a["uri"], c["uri"], alice_only)) == 2


def test_a_lens_whose_code_fails_the_sandbox_is_stored_but_never_an_edge(
    world: World, graph: GraphService, store: Store
) -> None:
    a, b = world.schema("alice.test", "A"), world.schema("alice.test", "B")
    bad = world.lens("alice.test", "leaky", a, b, code=BAD_LENS_SOURCE)
    [row] = store.derived("lenses")
    assert row["uri"] == bad["uri"] and row["code_ok"] == 0 and "import" in row["code_report"]
    with pytest.raises(LensPathError):
        graph.path(a["uri"], b["uri"])


def test_a_deleted_lens_stops_being_an_edge(world: World, graph: GraphService) -> None:
    a, b = world.schema("alice.test", "A"), world.schema("alice.test", "B")
    world.lens("alice.test", "a_to_b", a, b)
    world.write("alice.test", [("delete", f"{LENS}/a_to_b:1.0.0", None)])
    with pytest.raises(LensPathError):
        graph.path(a["uri"], b["uri"])


def test_a_restart_rebuilds_the_same_graph_from_the_store(
    world: World, graph: GraphService, store: Store
) -> None:
    a, b, c = (world.schema("alice.test", n) for n in "ABC")
    world.lens("alice.test", "a_to_b", a, b)
    world.lens("alice.test", "b_to_c", b, c)
    fresh = GraphService(store)
    fresh.load()
    assert fresh.path(a["uri"], c["uri"]) == graph.path(a["uri"], c["uri"]) and len(fresh) == 2


def test_lenses_of_a_taken_down_account_leave_the_graph(world: World, graph: GraphService) -> None:
    from support.repo_writer import account_frame

    a, b = world.schema("alice.test", "A"), world.schema("alice.test", "B")
    world.lens("bob.test", "a_to_b", a, b)
    world.ingest.handle_frames([account_frame(999, world.authors["bob.test"].did, False, "takendown")])
    assert len(graph) == 0


def test_an_index_resumed_from_an_old_snapshot_equals_a_fresh_build(
    world: World, appview: Appview, store: Store
) -> None:
    # What a worker forked from its supervisor's index does: start from the index as built at one
    # position of the change log, replay every entry logged after it, and answer as a fresh build.
    from support.repo_writer import account_frame

    appview.applier.listeners.append(ChangePublisher(store))
    a, b, c, d = (world.schema("alice.test", n) for n in "ABCD")
    world.lens("alice.test", "a_to_b", a, b)
    world.lens("bob.test", "b_to_c", b, c)
    built = GraphService(store)
    built.load()
    snapshot = built.snapshot()
    world.lens("carol.test", "a_to_c", a, c)
    world.lens("bob.test", "c_to_d", c, d)
    world.write("alice.test", [("delete", f"{LENS}/a_to_b:1.0.0", None)])
    world.lens("alice.test", "b_to_d", b, d)
    world.ingest.handle_frames([account_frame(999, world.authors["bob.test"].did, False, "takendown")])
    world.lens("carol.test", "d_to_a", d, a)

    resumed, fresh = GraphService(store), GraphService(store)
    resumed.resume(snapshot)
    fresh.load()
    assert resumed.change_id == fresh.change_id > snapshot.change_id
    assert resumed._graph.edges() == fresh._graph.edges() and len(fresh) == 3
    for s, t in itertools.product((a, b, c, d), repeat=2):
        assert _answer(resumed, s["uri"], t["uri"]) == _answer(fresh, s["uri"], t["uri"])


def _answer(graph: GraphService, source: str, target: str) -> object:
    try:
        return graph.path(source, target)
    except LensPathError as e:
        return str(e), e.reachable
