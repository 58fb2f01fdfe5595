"""Lens path search on a random graph of 100,000 schemas and 300,000 lenses.

Compares ``LensGraph.path`` (bidirectional BFS plus deterministic tie-breaking) with a plain
one-sided BFS over the same adjacency (the baseline), on the same random queries. Prints build
time and per-query p50/p99 as a table with ratios.

    python benchmarks/path_search.py [--schemas 100000] [--lenses 300000] [--queries 500]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import deque

from atdata.errors import LensPathError
from atdata.lenses.graph import LensEdge, LensGraph


def random_edges(n_schemas: int, n_lenses: int, seed: int) -> list[LensEdge]:
    rng = random.Random(seed)
    authors = [f"did:plc:author{i:03d}" for i in range(200)]
    return [
        LensEdge(
            cid=f"bafy{i:08x}{rng.getrandbits(32):08x}",
            source=f"at://schema/{rng.randrange(n_schemas)}",
            target=f"at://schema/{rng.randrange(n_schemas)}",
            author=rng.choice(authors),
            cost=float(rng.randint(1, 4)),
        )
        for i in range(n_lenses)
    ]


def plain_bfs(adj: dict[str, list[LensEdge]], source: str, target: str) -> list[LensEdge] | None:
    """The baseline: breadth-first from the source only, first path found, no tie-breaking."""
    parent: dict[str, LensEdge | None] = {source: None}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        if node == target:
            path = []
            while (edge := parent[node]) is not None:
                path.append(edge)
                node = edge.source
            return path[::-1]
        for e in adj.get(node, ()):
            if e.target not in parent:
                parent[e.target] = e
                queue.append(e.target)
    return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schemas", type=int, default=100_000)
    ap.add_argument("--lenses", type=int, default=300_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    edges = random_edges(args.schemas, args.lenses, args.seed)
    t0 = time.perf_counter()
    graph = LensGraph(edges)
    build_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    adj: dict[str, list[LensEdge]] = {}
    for e in edges:
        adj.setdefault(e.source, []).append(e)
    build_base = time.perf_counter() - t0

    rng = random.Random(args.seed + 1)
    queries = [
        (f"at://schema/{rng.randrange(args.schemas)}", f"at://schema/{rng.randrange(args.schemas)}")
        for _ in range(args.queries)
    ]
    ours: list[float] = []
    ours_found: list[float] = []
    base: list[float] = []
    hops: list[int] = []
    misses = 0
    for source, target in queries:
        t0 = time.perf_counter()
        try:
            found = graph.path(source, target)
            hops.append(len(found))
            ours_found.append(time.perf_counter() - t0)
        except LensPathError:
            found = None
            misses += 1
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        expected = plain_bfs(adj, source, target)
        base.append(time.perf_counter() - t0)
        assert (found is None) == (expected is None) and (found is None or len(found) == len(expected or []))

    ms = 1000.0
    print(
        f"graph: {args.schemas:,} schemas, {args.lenses:,} lenses; {args.queries} random queries "
        f"({misses} without a path, median {statistics.median(hops) if hops else 0:.0f} hops)"
    )
    print(f"{'':34}{'build s':>10}{'p50 ms':>10}{'p99 ms':>10}{'p50 speed-up':>14}")
    p50_b, p50_o = percentile(base, 0.5), percentile(ours, 0.5)
    print(
        f"{'plain BFS (baseline)':34}{build_base:>10.2f}{p50_b * ms:>10.3f}"
        f"{percentile(base, 0.99) * ms:>10.3f}"
        f"{1.0:>13.1f}x"
    )
    print(
        f"{'LensGraph.path (bidirectional)':34}{build_ours:>10.2f}{p50_o * ms:>10.3f}"
        f"{percentile(ours, 0.99) * ms:>10.3f}{p50_b / p50_o:>13.1f}x"
    )
    print(
        f"{'  of which queries with a path':34}{'':>10}{percentile(ours_found, 0.5) * ms:>10.3f}"
        f"{percentile(ours_found, 0.99) * ms:>10.3f}"
    )
    print("(a query without a path also lists the schemas the source reaches, for the error message)")
    print(f"goal p50 < 5 ms: {'met' if p50_o * ms < 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
