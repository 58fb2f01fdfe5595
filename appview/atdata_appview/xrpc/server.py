"""The HTTP server: starlette routes for XRPC, the graph and the followers started with the app.

Parameters are parsed and validated against the lexicon before a query runs, and every output is
validated before it is sent: an output that fails is a bug, answered as an InternalServerError.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from atdata.errors import RecordValidationError
from atdata.lexicon.validator import parse_params, validate_output
from atdata_appview.lens_index import GraphService, IndexSnapshot
from atdata_appview.service import Appview
from atdata_appview.store import Store
from atdata_appview.web.routes import routes as web_routes
from atdata_appview.xrpc.queries import Queries, QueryError

log = logging.getLogger(__name__)

PREDECESSOR_RESOLVE_SCHEMA = "science.alt.dataset.resolveSchema"
"""atdata 0.7's query, answered so that 0.7 clients pointed at this appview resolve their schemas."""


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


def answer(queries: Queries, nsid: str, raw: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
    """One XRPC call, transport aside: (HTTP status, JSON body)."""
    if nsid == PREDECESSOR_RESOLVE_SCHEMA:
        return queries.predecessor_resolve_schema(raw)
    handler = queries.handlers.get(nsid)
    if handler is None:
        return 501, {"error": "MethodNotImplemented", "message": f"{nsid} is not served here"}
    try:
        params = parse_params(nsid, raw)
    except RecordValidationError as e:
        return 400, {"error": "InvalidRequest", "message": "; ".join(str(p) for p in e.problems)}
    try:
        body = handler(params)
    except QueryError as e:
        return e.status, {"error": e.error, "message": e.message}
    problems = validate_output(nsid, body)
    if problems:
        log.error("%s produced an invalid output: %s", nsid, "; ".join(map(str, problems)))
        return 500, {
            "error": "InternalServerError",
            "message": f"{nsid} produced an output that fails its lexicon",
        }
    return 200, body


def create_app(
    appview: Appview,
    *,
    relays: Sequence[str] = (),
    pdses: Sequence[str] = (),
    graph_refresh: float = 30.0,
) -> Starlette:
    """The ASGI app of a process that ingests and serves (``--role all``); starting it loads the lens
    graph and starts following the given firehoses.

    A process that follows nothing serves a database another process ingests into: it reloads its lens
    graph every ``graph_refresh`` seconds (:func:`create_api_app` follows the change log instead).
    """
    stop = threading.Event()

    def reload_graph() -> None:
        while not stop.wait(graph_refresh):
            try:
                appview.graph.load()
            except Exception:  # keep serving the graph we have
                log.exception("reloading the lens graph failed")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        appview.graph.load()
        appview.follow(relays, pdses)
        if not relays and not pdses:
            threading.Thread(target=reload_graph, name="graph reload", daemon=True).start()
        try:
            yield
        finally:
            stop.set()
            appview.close()

    return _app(appview.store, appview.graph, lifespan)


def create_api_app(store: Store, *, poll: float = 5.0, snapshot: IndexSnapshot | None = None) -> Starlette:
    """The ASGI app of an API process (``--role api``): it only reads the store, which an ingester
    process writes; its lens index follows the store's change log (woken by PostgreSQL NOTIFY, checked
    at least every ``poll`` seconds). Starting it builds the lens index first or, given a
    ``snapshot`` (built by the supervisor that forked this process), resumes from it, replaying the
    change log after it before serving."""
    graph = GraphService(store)
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started = time.monotonic()
        if snapshot is None:
            graph.load()
            log.info("lens index: %d lenses loaded in %.1f s", len(graph), time.monotonic() - started)
            how = "built here"
        else:
            graph.resume(snapshot)
            how = (
                f"the supervisor's, brought up to date from change {snapshot.change_id} to {graph.change_id}"
            )
        follower = threading.Thread(target=graph.follow, args=(stop, poll), name="change log", daemon=True)
        follower.start()
        log.info("appview API process %d serving: lens index of %d lenses (%s)", os.getpid(), len(graph), how)
        try:
            yield
        finally:
            stop.set()
            follower.join(timeout=poll + 5)
            store.close()

    return _app(store, graph, lifespan)


def _app(store: Store, graph: GraphService, lifespan: Any) -> Starlette:
    queries = Queries(store, graph)

    def xrpc(request: Request) -> JSONResponse:
        if request.method != "GET":
            return _error(405, "InvalidRequest", "queries are GET requests")
        raw: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            raw.setdefault(key, []).append(value)
        try:
            status, body = answer(queries, request.path_params["nsid"], raw)
        except Exception:
            log.exception("XRPC %s failed", request.path_params["nsid"])
            return _error(500, "InternalServerError", "the query failed; see the appview's log")
        return JSONResponse(body, status_code=status)

    return Starlette(
        routes=[
            Route("/xrpc/{nsid}", xrpc, methods=["GET", "POST"]),
            *web_routes(store, graph, queries),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )


_ERROR_NAMES = {404: "NotFound", 405: "MethodNotAllowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer as XRPC errors do: JSON ``{error, message}``."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    messages = {404: f"nothing at {request.url.path[:200]}", 405: f"{request.method} is not allowed here"}
    message = messages.get(status, str(exc.detail))
    return JSONResponse(
        {"error": _ERROR_NAMES.get(status, "InvalidRequest"), "message": message},
        status_code=status,
        headers=exc.headers,
    )


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path[:200], exc_info=exc)
    return _error(500, "InternalServerError", "the request failed; see the appview's log")
