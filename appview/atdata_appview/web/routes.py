"""The web page's routes: gather from the store and the graph, render with :mod:`pages` and draw the
lens graph with :mod:`atdata.drawing` (the SDK's renderer, which escapes every text)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from atdata import drawing
from atdata.errors import LensPathError
from atdata.network.predecessor import ALT_LENS
from atdata_appview.lens_index import GraphService
from atdata_appview.store import Store
from atdata_appview.web import pages
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

    def served(table: str, uri: str) -> dict[str, Any] | None:
        """The row of the record at ``uri`` in a derived table, if it is served."""
        rows = store.derived(table, uri=uri)
        return rows[0] if rows else None

    def schema(request: Request) -> HTMLResponse:
        uri = request.query_params.get("uri", "")
        row = served("schemas", uri)
        if row is None:
            return _html(pages.not_found(f"no schema at {uri}"), 404)
        versions = store.derived(
            "schemas", did=row["did"], name=row["name"], exclude_uri=uri, order="version", limit=50
        )
        datasets = store.derived("datasets", schema_uri=uri, limit=100)
        lenses_in = store.derived("lenses", target_uri=uri, limit=100)
        lenses_out = store.derived("lenses", source_uri=uri, limit=100)
        target = request.query_params.get("target", "")
        highlight: list[str] = []
        note = "Choose a target to highlight the shortest lens path."
        arrows: list[drawing.Arrow] = []
        if target:
            try:
                steps = graph.path(uri, target)
                arrows += [drawing.Arrow(s.uri, s.source_uri, s.target_uri) for s in steps]
                highlight = [s.uri for s in steps]
                note = f"Shortest path: {len(steps)} lens(es)."
            except LensPathError as e:
                note = str(e).split("\n", 1)[0]
        neighbours = (*lenses_in[:NEIGHBOURS], *lenses_out[:NEIGHBOURS])
        arrows += [
            drawing.Arrow(lens["uri"], lens["source_uri"], lens["target_uri"], str(lens.get("name") or ""))
            for lens in neighbours
            if lens["code_ok"]
        ]
        arrows += [  # atdata 0.7 lenses: shown, marked, never used for a path
            drawing.Arrow(
                lens["uri"],
                lens["source_uri"],
                lens["target_uri"],
                f"{lens.get('name') or lens['uri']}: code by git reference, not runnable here",
                runnable=False,
            )
            for lens in neighbours
            if f"/{ALT_LENS}/" in lens["uri"]
        ]
        # Parallel lenses share one arrow (the path's, if it is one of them): the picture shows which
        # schemas convert, not how often.
        pairs = {(a.source, a.target): a for a in reversed(arrows)}
        arrows = [a for a in arrows if pairs[(a.source, a.target)] is a]
        readable = readable_as(uri)
        reachable = graph.reachable(uri)[:50]
        nodes = {uri, *(a.source for a in arrows), *(a.target for a in arrows), *reachable}
        found = schema_rows(sorted(nodes))
        labels = {u: f"{r['name']}@{r['version']}" for u, r in found.items()}
        shown = {uri, *(a.source for a in arrows), *(a.target for a in arrows)}
        boxes = [
            drawing.Box(
                u,
                labels.get(u, u.rsplit("/", 1)[-1]),
                str(found[u].get("handle") or found[u]["did"]) if u in found else "",
                tooltip=u,
            )
            for u in sorted(shown)
        ]
        picture = drawing.render(
            boxes,
            arrows,
            highlight=highlight,
            focus=uri,
            title=f"lens graph around {labels.get(uri, uri)}",
            path_label="shortest path",
        )
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
        row = served("lenses", uri)
        if row is None:
            return _html(pages.not_found(f"no lens at {uri}"), 404)
        ends = schema_rows([row["source_uri"], row["target_uri"]])

        def end(u: str) -> str:
            return pages.schema_link(ends[u]) if u in ends else f"<code>{pages.escape(u)}</code>"

        attestations = store.derived("attestations", subject_uri=uri, limit=100)
        return _html(pages.lens_page(row, end(row["source_uri"]), end(row["target_uri"]), attestations))

    return [Route("/", home), Route("/schema", schema), Route("/lens", lens)]
