"""The appview's compact lens index answers exactly as the SDK's LensGraph (the one path ranking)."""

from __future__ import annotations

import random

import pytest

from atdata.errors import LensPathError
from atdata.lenses.graph import LensEdge, LensFilter, LensGraph
from atdata_appview.lens_index import CompactLensGraph, _Policy
from atdata_appview.store import Store

AUTHORS = ["did:plc:alice", "did:plc:bob", "did:plc:carol"]


def _row(i: int, source: int, target: int, author: str) -> tuple[str, str, str, str]:
    # rkeys drawn at random so that uri order is not insertion order
    uri = f"at://{author}/dev.atdata.lens/{random.getrandbits(40):010x}{i}"
    return (uri, author, f"at://s/{source}", f"at://s/{target}")


def _random_graph(seed: int, nodes: int, edges: int) -> list[tuple[str, str, str, str]]:
    random.seed(seed)
    return [
        _row(i, random.randrange(nodes), random.randrange(nodes), random.choice(AUTHORS))
        for i in range(edges)
    ]


def _sdk(rows: list[tuple[str, str, str, str]]) -> LensGraph:
    return LensGraph(LensEdge(r[0], r[2], r[3], author=r[1]) for r in rows)


def _answer(graph: CompactLensGraph | LensGraph, s: str, t: str, policy: LensFilter) -> object:
    try:
        if isinstance(graph, CompactLensGraph):
            return [graph.uris[e] for e in graph.path(s, t, _Policy(policy, graph))]
        return [e.cid for e in graph.path(s, t, policy)]
    except LensPathError as e:
        return ("none", str(e), e.reachable)


POLICIES = [
    LensFilter(),
    LensFilter(max_hops=2),
    LensFilter(authors=frozenset(AUTHORS[:2])),
    LensFilter(authors=frozenset(AUTHORS[:1]), max_hops=3),
]


@pytest.mark.parametrize("seed", range(4))
def test_paths_equal_the_sdk_graphs_on_random_graphs(seed: int) -> None:
    rows = _random_graph(seed, nodes=40, edges=120)
    compact, sdk = CompactLensGraph.build(rows), _sdk(rows)
    for _ in range(150):
        s, t = (f"at://s/{random.randrange(42)}" for _ in range(2))
        for policy in POLICIES:
            assert _answer(compact, s, t, policy) == _answer(sdk, s, t, policy)


def test_attested_lenses_pass_a_policy_by_their_uri() -> None:
    rows = _random_graph(7, nodes=30, edges=90)
    attested = frozenset(r[0] for r in rows[::3])
    policy = LensFilter(authors=frozenset(AUTHORS[2:]), attested=attested)
    compact, sdk = CompactLensGraph.build(rows), _sdk(rows)
    for s in range(30):
        for t in range(0, 30, 3):
            assert _answer(compact, f"at://s/{s}", f"at://s/{t}", policy) == _answer(
                sdk, f"at://s/{s}", f"at://s/{t}", policy
            )


def test_edges_added_and_removed_after_the_build_answer_as_a_fresh_build() -> None:
    rows = _random_graph(11, nodes=30, edges=80)
    compact = CompactLensGraph.build(rows[:40])
    for row in rows[40:]:
        compact.add(row)
    removed = rows[::5]
    for row in removed:
        compact.remove(row[0])
    kept = [r for r in rows if r not in removed]
    sdk = _sdk(kept)
    assert len(compact) == len(kept)
    for s in range(30):
        for t in range(30):
            assert _answer(compact, f"at://s/{s}", f"at://s/{t}", LensFilter()) == _answer(
                sdk, f"at://s/{s}", f"at://s/{t}", LensFilter()
            )


def test_the_store_hands_over_every_served_lens_with_its_names_exact_in_any_part_size(store: Store) -> None:
    # Tabs, newlines and backslashes in a record's names must survive PostgreSQL's COPY text form,
    # and a part boundary may fall anywhere.
    names = ["at://s/tab\there", "at://s/new\nline", "at://s/back\\slash\\t", "at://s/plain", "at://s/\\N"]
    rows = [
        (f"at://did:plc:a{i}/dev.atdata.lens/l{i}", f"did:plc:a{i % 3}", names[i % 5], names[(i * 2 + 1) % 5])
        for i in range(40)
    ]
    columns = "uri, did, cid, source_uri, source_cid, target_uri, target_cid, code_ok"
    marks = ", ".join([store.P] * 8)
    with store._use(write=True) as conn:
        for i, (uri, did, source, target) in enumerate(rows):
            code_ok = 0 if uri.endswith("l7") else 1  # refused code: not an edge
            store._execute(
                conn,
                f"INSERT INTO lenses ({columns}) VALUES ({marks})",
                (uri, did, f"cid{i}", source, "cs", target, "ct", code_ok),
            )
    for batch in (1, 3, 50_000):
        got = store.lens_graph(batch=batch)
        edges = {
            (u, got.authors[a], got.schemas[s], got.schemas[t])
            for u, a, s, t in zip(got.uris, got.edge_authors, got.sources, got.targets, strict=True)
        }
        assert edges == {r for r in rows if not r[0].endswith("l7")}
        assert len(got.uris) == len(rows) - 1
        assert sorted(got.schemas) == sorted(names) and sorted(got.authors) == sorted({r[1] for r in rows})


def test_the_lenses_of_more_uris_than_one_statement_binds_are_all_found(store: Store) -> None:
    # A follower catching up on a long stretch of the change log asks for thousands of lenses at once:
    # more than either backend binds in one statement (SQLite 32,766 parameters, PostgreSQL 65,535).
    lens_columns = "uri, did, cid, source_uri, source_cid, target_uri, target_cid, code_ok"
    record_columns = "uri, did, collection, rkey, cid, rev, json, indexed_at, valid"
    edges = [f"at://did:plc:a/dev.atdata.lens/l{i}" for i in range(0, 70_000, 1000)]
    with store._use(write=True) as conn:
        for uri in edges:
            store._execute(
                conn,
                f"INSERT INTO lenses ({lens_columns}) VALUES ({', '.join([store.P] * 8)})",
                (uri, "did:plc:a", "c", "at://s/1", "cs", "at://s/2", "ct", 1),
            )
            store._execute(
                conn,
                f"INSERT INTO records ({record_columns}) VALUES ({', '.join([store.P] * 9)})",
                (uri, "did:plc:a", "dev.atdata.lens", uri.rsplit("/", 1)[1], "c", "r", "{}", "t", 1),
            )
    asked = [f"at://did:plc:a/dev.atdata.lens/l{i}" for i in range(70_000)]
    assert sorted(row[0] for row in store.lens_edges_of(asked)) == sorted(edges)
