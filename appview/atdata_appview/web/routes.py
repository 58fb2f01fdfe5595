"""The web page's routes: gather from the store and the graph, render with :mod:`pages` and :mod:`svg`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from atdata.errors import LensPathError
from atdata.network.predecessor import ALT_LENS
from atdata_appview.lens_index import GraphService
from atdata_appview.store import Store
from atdata_appview.web import pages, svg
from atdata_appview.xrpc.queries import Queries, QueryError

# No scripts at all; styles inline; nothing loaded from elsewhere.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
}
NEIGHBOURS = 12


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def routes(store: Store, graph: GraphService, queries: Queries) -> list[Route]:
    def schema_rows(uris: list[str]) -> dict[str, dict[str, Any]]:
        if not uris:
            return {}
        return {r["uri"]: r for r in store.derived("schemas", uris=uris)}

    def home(request: Request) -> HTMLResponse:
        q = request.query_params.get("q", "").strip()[:512]
        if q:
            try:
                rows = queries.search_schemas({"q": q, "limit": 50})["schemas"]
            except QueryError:
                rows = []
            results = [{**r, "did": r["author"]} for r in rows]
        else:
            results = store.derived("schemas", order="newest", limit=50)
        return _html(pages.home(q, results))

    def schema(request: Request) -> HTMLResponse:
        uri = request.query_params.get("uri", "")
        rows = store.derived("schemas", uri=uri)
        if not rows:
            return _html(pages.not_found(f"no schema at {uri}"), 404)
        row = rows[0]
        versions = store.derived(
            "schemas", did=row["did"], name=row["name"], exclude_uri=uri, order="version", limit=50
        )
        datasets = store.derived("datasets", schema_uri=uri, limit=100)
        lenses_in = store.derived("lenses", target_uri=uri, limit=100)
        lenses_out = store.derived("lenses", source_uri=uri, limit=100)
        target = request.query_params.get("target", "")
        path: list[str] = []
        note = "Choose a target to highlight the shortest lens path."
        edges = [
            svg.Edge(lens["source_uri"], lens["target_uri"], str(lens.get("name") or lens["uri"]))
            for lens in (*lenses_in[:NEIGHBOURS], *lenses_out[:NEIGHBOURS])
            if lens["code_ok"]
        ]
        edges += [  # atdata 0.7 lenses: shown, marked, never used for a path
            svg.Edge(
                lens["source_uri"],
                lens["target_uri"],
                f"{lens.get('name') or lens['uri']}: code by git reference, not runnable here",
                runnable=False,
            )
            for lens in (*lenses_in[:NEIGHBOURS], *lenses_out[:NEIGHBOURS])
            if f"/{ALT_LENS}/" in lens["uri"]
        ]
        if target:
            try:
                steps = graph.path(uri, target)
                path = [uri, *(s.target_uri for s in steps)]
                edges += [svg.Edge(s.source_uri, s.target_uri, s.uri) for s in steps]
                note = f"Shortest path: {len(steps)} lens(es)."
            except LensPathError as e:
                note = str(e).split("\n", 1)[0]
        readable = readable_as(uri)
        reachable = graph.reachable(uri)[:50]
        nodes = {uri, *path, *(e.source for e in edges), *(e.target for e in edges), *reachable}
        found = schema_rows(sorted(nodes))
        labels = {u: f"{r['name']}@{r['version']}" for u, r in found.items()}
        picture = svg.render(uri, labels, edges, path)
        targets = [(u, labels.get(u, u)) for u in reachable]
        return _html(
            pages.schema_page(
                row, versions, datasets, lenses_in, lenses_out, picture, targets, target, note, readable
            )
        )

    def readable_as(uri: str) -> list[pages.Readable]:
        """Datasets of other schemas a lens path converts to ``uri`` (what atdata.find_datasets lists)."""
        try:
            views = queries.list_datasets({"schema": uri, "convertible": True, "limit": 100})["datasets"]
        except QueryError:
            return []
        views = [v for v in views if v.get("path")]
        lens_uris = sorted({step["uri"] for v in views for step in v["path"]})
        lenses: dict[str, dict[str, Any]] = {}
        if lens_uris:
            lenses = {r["uri"]: r for r in store.derived("lenses", uris=lens_uris)}
        stored = schema_rows(sorted({v["schema"]["uri"] for v in views}))
        return [
            pages.Readable(
                dataset={"name": v["name"], "handle": v.get("handle"), "did": v["author"]},
                stored=stored.get(v["schema"]["uri"]),
                path=[lenses.get(step["uri"], {"uri": step["uri"]}) for step in v["path"]],
            )
            for v in views
        ]

    def lens(request: Request) -> HTMLResponse:
        uri = request.query_params.get("uri", "")
        rows = store.derived("lenses", uri=uri)
        if not rows:
            return _html(pages.not_found(f"no lens at {uri}"), 404)
        row = rows[0]
        ends = schema_rows([row["source_uri"], row["target_uri"]])

        def end(u: str) -> str:
            return pages.schema_link(ends[u]) if u in ends else f"<code>{pages.escape(u)}</code>"

        attestations = store.derived("attestations", subject_uri=uri, limit=100)
        return _html(pages.lens_page(row, end(row["source_uri"]), end(row["target_uri"]), attestations))

    return [Route("/", home), Route("/schema", schema), Route("/lens", lens)]
