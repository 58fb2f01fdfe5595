"""The lens graph's path search, checked against brute force on random small graphs."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atdata.errors import LensPathError
from atdata.lenses.graph import LensEdge, LensFilter, LensGraph

NODES = ["A", "B", "C", "D", "E", "F"]
AUTHORS = ["did:plc:alice", "did:plc:bob", "did:plc:eve"]


def brute_force(edges: list[LensEdge], source: str, target: str, policy: LensFilter) -> list[LensEdge] | None:
    """Every simple path, ranked by (hops, cost, CID sequence)."""
    allowed = [e for e in edges if policy.allows(e)]
    best: tuple | None = None

    def walk(node: str, path: list[LensEdge], seen: set[str]) -> None:
        nonlocal best
        if node == target:
            cost = 0.0
            for e in reversed(path):
                cost = e.cost + cost
            key = (len(path), cost, tuple(e.cid for e in path))
            if best is None or key < best[0]:
                best = (key, list(path))
            return
        for e in allowed:
            if e.source == node and e.target not in seen:
                walk(e.target, [*path, e], seen | {e.target})

    walk(source, [], {source})
    if best is None:
        return None
    if policy.max_hops is not None and len(best[1]) > policy.max_hops:
        return None
    return best[1]


@st.composite
def graphs(draw: st.DrawFn) -> list[LensEdge]:
    n = draw(st.integers(0, 14))
    cids = draw(st.lists(st.text("abcdef", min_size=1, max_size=3), min_size=n, max_size=n, unique=True))
    return [
        LensEdge(
            cid=cid,
            source=draw(st.sampled_from(NODES)),
            target=draw(st.sampled_from(NODES)),
            author=draw(st.sampled_from(AUTHORS)),
            cost=float(draw(st.integers(0, 3))),
        )
        for cid in cids
    ]


policies = st.builds(
    LensFilter,
    authors=st.none() | st.frozensets(st.sampled_from(AUTHORS)),
    attested=st.none() | st.frozensets(st.text("abcdef", min_size=1, max_size=3), max_size=6),
    max_hops=st.none() | st.integers(0, 5),
)


@settings(max_examples=400, deadline=None)
@given(graphs(), st.sampled_from(NODES), st.sampled_from(NODES), policies)
def test_path_matches_brute_force_on_random_graphs(
    edges: list[LensEdge], source: str, target: str, policy: LensFilter
) -> None:
    graph = LensGraph(edges)
    for node in NODES:
        graph.add_schema(node)
    expected = [] if source == target else brute_force(edges, source, target, policy)
    if expected is None:
        with pytest.raises(LensPathError):
            graph.path(source, target, policy)
    else:
        assert graph.path(source, target, policy) == expected


@settings(max_examples=100, deadline=None)
@given(graphs(), st.sampled_from(NODES), policies)
def test_reachable_lists_exactly_the_targets_that_have_a_path(
    edges: list[LensEdge], source: str, policy: LensFilter
) -> None:
    graph = LensGraph(edges)
    graph.add_schema(source)
    expected = {t for t in NODES if t != source and brute_force(edges, source, t, policy) is not None}
    assert set(graph.reachable(source, policy)) == expected


def test_fewer_hops_beat_lower_cost() -> None:
    graph = LensGraph(
        [
            LensEdge("direct", "A", "C", cost=10),
            LensEdge("ab", "A", "B", cost=1),
            LensEdge("bc", "B", "C", cost=1),
        ]
    )
    assert [e.cid for e in graph.path("A", "C")] == ["direct"]


def test_equal_hops_pick_the_lower_total_cost() -> None:
    graph = LensGraph(
        [
            LensEdge("a1", "A", "B", cost=1),
            LensEdge("b1", "B", "D", cost=5),
            LensEdge("a2", "A", "C", cost=2),
            LensEdge("c2", "C", "D", cost=2),
        ]
    )
    assert [e.cid for e in graph.path("A", "D")] == ["a2", "c2"]


def test_equal_cost_paths_are_ordered_by_their_cid_sequence() -> None:
    graph = LensGraph(
        [
            LensEdge("bafy-2", "A", "B"),
            LensEdge("bafy-9", "B", "D"),
            LensEdge("bafy-2x", "A", "C"),
            LensEdge("bafy-0", "C", "D"),
        ]
    )
    assert [e.cid for e in graph.path("A", "D")] == ["bafy-2", "bafy-9"]


def test_untrusted_authors_are_routed_around() -> None:
    graph = LensGraph(
        [
            LensEdge("short", "A", "C", author="did:plc:eve"),
            LensEdge("ab", "A", "B", author="did:plc:alice"),
            LensEdge("bc", "B", "C", author="did:plc:alice"),
        ]
    )
    policy = LensFilter(authors=frozenset({"did:plc:alice"}))
    assert [e.cid for e in graph.path("A", "C", policy)] == ["ab", "bc"]


def test_an_attested_lens_passes_even_when_its_author_is_not_trusted() -> None:
    graph = LensGraph([LensEdge("ab", "A", "B", author="did:plc:eve")])
    policy = LensFilter(authors=frozenset({"did:plc:alice"}), attested=frozenset({"ab"}))
    assert [e.cid for e in graph.path("A", "B", policy)] == ["ab"]


def test_max_hops_refuses_longer_paths_and_lists_what_is_reachable() -> None:
    graph = LensGraph([LensEdge("ab", "A", "B"), LensEdge("bc", "B", "C")])
    with pytest.raises(LensPathError) as info:
        graph.path("A", "C", LensFilter(max_hops=1))
    assert info.value.reachable == ["B"]
    assert "within 1 hop" in str(info.value)


def test_unknown_schema_is_a_path_error_naming_it() -> None:
    graph = LensGraph([LensEdge("ab", "A", "B")])
    with pytest.raises(LensPathError, match="Z"):
        graph.path("A", "Z")


def test_a_schema_reaches_itself_with_no_lenses() -> None:
    assert LensGraph().path("A", "A") == []


def test_removed_lenses_no_longer_form_paths() -> None:
    graph = LensGraph([LensEdge("ab", "A", "B")])
    assert graph.remove("ab")
    with pytest.raises(LensPathError):
        graph.path("A", "B")


def test_adding_a_lens_with_a_known_cid_replaces_it() -> None:
    graph = LensGraph([LensEdge("x", "A", "B")])
    graph.add(LensEdge("x", "A", "C"))
    assert len(graph) == 1
    assert [e.target for e in graph.path("A", "C")] == ["C"]


def forward_layered_best(edges: list[LensEdge], source: str, target: str) -> list[LensEdge] | None:
    """An independent exact answer for bigger graphs: BFS layers, then a prefix DP over them."""
    out: dict[str, list[LensEdge]] = {}
    for e in edges:
        out.setdefault(e.source, []).append(e)
    best: dict[str, tuple[float, tuple[str, ...], list[LensEdge]]] = {source: (0.0, (), [])}
    layer = {source}
    seen = {source}
    while layer and target not in best:
        nxt: dict[str, tuple[float, tuple[str, ...], list[LensEdge]]] = {}
        for u in sorted(layer):
            cost, cids, path = best[u]
            for e in out.get(u, []):
                if e.target in seen:
                    continue
                cand = (cost + e.cost, (*cids, e.cid), [*path, e])
                if e.target not in nxt or cand[:2] < nxt[e.target][:2]:
                    nxt[e.target] = cand
        seen |= set(nxt)
        best.update(nxt)
        layer = set(nxt)
    return best[target][2] if target in best else None


def test_path_matches_an_independent_search_on_a_thousand_schema_graph() -> None:
    rng = random.Random(7)
    nodes = [f"s{i}" for i in range(1000)]
    edges = [
        LensEdge(f"c{i:05d}", rng.choice(nodes), rng.choice(nodes), cost=float(rng.randint(1, 3)))
        for i in range(2500)
    ]
    graph = LensGraph(edges)
    for _ in range(60):
        source, target = rng.choice(nodes), rng.choice(nodes)
        if source == target or source not in graph or target not in graph:
            continue
        expected = forward_layered_best(edges, source, target)
        if expected is None:
            with pytest.raises(LensPathError):
                graph.path(source, target)
        else:
            assert graph.path(source, target) == expected
