"""The appview's XRPC queries: typed parameters in (already validated), lexicon-shaped outputs out.

``resolveSchema`` ranking, deterministic for the same index:
1. the form of the name narrows the candidates: an at-uri names one record; ``handle/Name`` (or
   ``did/Name``) only that author's; ``Name@1.2.0`` only that version;
2. then :func:`atdata.ranking.rank`, the ranking the SDK and the MCP server use too: candidates by
   an author in ``trusted`` first, in the order the caller listed the DIDs; then the highest version
   (semver precedence, releases above their pre-releases); then the author's DID, then the at-uri.
When a bare name (no author given) is published by several authors and none of them is trusted, the
answer is the ``Ambiguous`` error naming them, so that a squatter cannot capture a popular name.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import atdata
from atdata.errors import AtdataError, LensPathError
from atdata.lenses.graph import LensFilter
from atdata.lexicon import nsid as N
from atdata.network.predecessor import ALT_SCHEMA
from atdata.ranking import rank
from atdata_appview.lens_index import GraphService, LensInfo
from atdata_appview.store import Store

COUNTS_TTL = 5.0  # seconds describeService's record counts may lag: COUNT(*) scans each table
_UNVERSIONED = "0.0.0"
_WORD = re.compile(r"[^\W_]+")  # the letters and digits of a query; everything else separates words


class QueryError(AtdataError):
    """An XRPC error answer: HTTP status, error name (from the lexicon) and message."""

    def __init__(self, status: int, error: str, message: str) -> None:
        self.status = status
        self.error = error
        self.message = message
        super().__init__(f"{error}: {message}")


def _not_found(message: str) -> QueryError:
    return QueryError(400, "NotFound", message)


def _ref(uri: str, cid: str) -> dict[str, str]:
    return {"uri": uri, "cid": cid}


def _common(row: dict[str, Any]) -> dict[str, Any]:
    view = {
        "uri": row["uri"],
        "cid": row["cid"],
        "author": row["did"],
        "indexedAt": row["indexed_at"],
        "record": row["record"],
    }
    if row.get("handle"):
        view["handle"] = row["handle"]
    return view


def schema_view(row: dict[str, Any]) -> dict[str, Any]:
    view = {**_common(row), "name": row["name"], "version": row["version"]}
    if row.get("description"):
        view["description"] = row["description"]
    return view


# Cursors this service issues: a row offset, ASCII digits, far below any database's integer limits.
_CURSOR = re.compile(r"[0-9]{1,9}")


def _page(params: dict[str, Any]) -> tuple[int, int]:
    limit = int(params.get("limit") or 25)
    cursor = params.get("cursor")
    if cursor is None:
        return limit, 0
    if not isinstance(cursor, str) or not _CURSOR.fullmatch(cursor):
        raise QueryError(400, "InvalidRequest", f"cursor {str(cursor)[:40]!r} was not issued by this service")
    return limit, int(cursor)


def _with_cursor(body: dict[str, Any], key: str, rows: list[Any], limit: int, offset: int) -> dict[str, Any]:
    # One row more than the page was fetched: its presence says there is a next page.
    body[key] = body[key][:limit]
    if len(rows) > limit:
        body["cursor"] = str(offset + limit)
    return body


class Queries:
    def __init__(self, store: Store, graph: GraphService) -> None:
        self.store = store
        self.graph = graph
        self._counts: tuple[float, dict[str, int]] | None = None
        self.handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            N.RESOLVE_SCHEMA: self.resolve_schema,
            N.GET_SCHEMA: self.get_schema,
            N.SEARCH_SCHEMAS: self.search_schemas,
            N.FIND_LENS_PATH: self.find_lens_path,
            N.GET_LENS: self.get_lens,
            N.LIST_LENSES: self.list_lenses,
            N.LIST_DATASETS: self.list_datasets,
            N.DESCRIBE_SERVICE: self.describe_service,
        }

    # --- schemas ---------------------------------------------------------------------------
    def _schema_row(self, uri: str) -> dict[str, Any] | None:
        rows = self.store.derived("schemas", uri=uri)
        return rows[0] if rows else None

    def resolve_schema(self, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["name"]
        trusted: list[str] = params.get("trusted") or []
        if name.startswith("at://"):
            row = self._schema_row(name)
            if row is None:
                raise _not_found(f"no schema at {name}")
            return {"schema": schema_view(row)}
        author = None
        if "/" in name:
            author, name = name.split("/", 1)
        version = None
        if "@" in name:
            name, version = name.split("@", 1)
        rows = self.store.derived("schemas", name=name, version=version, author=author, limit=1000)
        if not rows:
            raise _not_found(f"no schema named {params['name']!r}")
        rows = rank(rows, trusted, lambda r: (r["did"], r["version"], r["uri"]))
        authors = sorted({r["did"] for r in rows})
        if author is None and len(authors) > 1 and not any(a in trusted for a in authors):
            names = ", ".join(sorted({r.get("handle") or r["did"] for r in rows}))
            raise QueryError(
                400,
                "Ambiguous",
                f"{len(authors)} authors publish {name!r} ({names}); "
                f"name one (handle/{name}) or pass trusted",
            )
        views = [schema_view(r) for r in rows]
        out: dict[str, Any] = {"schema": views[0]}
        if len(views) > 1:
            out["candidates"] = views[1:101]
        return out

    def predecessor_resolve_schema(self, raw: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """atdata 0.7's ``science.alt.dataset.resolveSchema(handle, schemaId, version?)``: the
        author's 0.7 schema record of that name (the highest version unless one is given), so a 0.7
        client pointed at this appview resolves its schemas. Answers ``{uri, cid, record}``."""
        params: dict[str, str] = {}
        for key, limit, required in (("handle", 253, True), ("schemaId", 500, True), ("version", 100, False)):
            values = raw.get(key, [])
            if len(values) > 1 or (required and not values) or (values and not 0 < len(values[0]) <= limit):
                return 400, {
                    "error": "InvalidRequest",
                    "message": f"{key}: one string of 1..{limit} characters",
                }
            if values:
                params[key] = values[0]
        handle = params["handle"].removeprefix("@")
        rows = self.store.derived(
            "schemas",
            collection=ALT_SCHEMA,
            author=handle,
            name=params["schemaId"],
            version=params.get("version"),
            order="version",
            limit=1,
        )
        if not rows:
            return 400, {
                "error": "SchemaNotFound",
                "message": f"{handle} publishes no atdata 0.7 schema {params['schemaId']!r}"
                + (f" version {params['version']}" if "version" in params else ""),
            }
        return 200, {"uri": rows[0]["uri"], "cid": rows[0]["cid"], "record": rows[0]["record"]}

    def get_schema(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._schema_row(params["uri"])
        if row is None:
            raise _not_found(f"no schema at {params['uri']}")
        if params.get("cid") and params["cid"] != row["cid"]:
            raise _not_found(f"{params['uri']} is now {row['cid']}, not {params['cid']}")
        others = self.store.derived(
            "schemas", did=row["did"], name=row["name"], exclude_uri=row["uri"], order="version", limit=100
        )
        out: dict[str, Any] = {"schema": schema_view(row)}
        if others:
            out["versions"] = [schema_view(r) for r in others]
        return out

    def search_schemas(self, params: dict[str, Any]) -> dict[str, Any]:
        """Schemas holding a word that starts with each word of ``q`` (in names, their CamelCase and
        snake_case parts, descriptions, field names and docs). Exact name first, then by name."""
        limit, offset = _page(params)
        words = _WORD.findall(params["q"].lower())
        if not words:
            return {"schemas": []}
        rows = self.store.derived("schemas", words=words[:16], order="search", limit=limit + 1, offset=offset)
        return _with_cursor({"schemas": [schema_view(r) for r in rows]}, "schemas", rows, limit, offset)

    # --- lenses ----------------------------------------------------------------------------
    def _lens_view(self, row: dict[str, Any]) -> dict[str, Any]:
        record = row["record"]
        attestations = self.store.derived("attestations", subject_uri=row["uri"], limit=1000)
        view = {
            **_common(row),
            "name": record["name"],
            "version": record.get("version", _UNVERSIONED),  # atdata 0.7 lenses have no version
            "source": _ref(row["source_uri"], row["source_cid"]),
            "target": _ref(row["target_uri"], row["target_cid"]),
            "valid": bool(row["code_ok"]),
        }
        if row.get("code_report"):
            view["problems"] = [p[:1000] for p in json.loads(row["code_report"])][:1000]
        if attestations:
            view["attestations"] = [
                {
                    "uri": a["uri"],
                    "cid": a["cid"],
                    "author": a["did"],
                    "kind": a["statement"],
                    "createdAt": a["record"]["createdAt"],
                    **({"comment": a["record"]["comment"]} if a["record"].get("comment") else {}),
                }
                for a in attestations
            ]
        return view

    def get_lens(self, params: dict[str, Any]) -> dict[str, Any]:
        rows = self._with_lens_cids(self.store.derived("lenses", uri=params["uri"]))
        if not rows:
            raise _not_found(f"no lens at {params['uri']}")
        if params.get("cid") and params["cid"] != rows[0]["cid"]:
            raise _not_found(f"{params['uri']} is now {rows[0]['cid']}, not {params['cid']}")
        return {"lens": self._lens_view(rows[0])}

    def list_lenses(self, params: dict[str, Any]) -> dict[str, Any]:
        limit, offset = _page(params)
        rows = self.store.derived(
            "lenses",
            source_uri=params.get("source") or None,
            target_uri=params.get("target") or None,
            did=params.get("author") or None,
            limit=limit + 1,
            offset=offset,
        )
        body = {"lenses": [self._lens_view(r) for r in self._with_lens_cids(rows[:limit])]}
        return _with_cursor(body, "lenses", rows, limit, offset)

    def _with_lens_cids(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """atdata 0.7 lenses name their schemas by at-uri alone: the CIDs this appview serves under
        them; a lens whose schemas it does not serve is left out."""
        missing = {r[k] for r in rows for k in ("source_uri", "target_uri") if not r[k.replace("uri", "cid")]}
        if not missing:
            return rows
        cids = self.store.schema_cids(sorted(missing))
        out = []
        for r in rows:
            for end in ("source", "target"):
                if not r[f"{end}_cid"] and r[f"{end}_uri"] in cids:
                    r = {**r, f"{end}_cid": cids[r[f"{end}_uri"]]}
            if r["source_cid"] and r["target_cid"]:
                out.append(r)
        return out

    def _trust(self, trusted: list[str], max_hops: int | None) -> LensFilter:
        if not trusted:
            return LensFilter(max_hops=max_hops)
        attested = self.store.derived("attestations", dids=trusted)
        return LensFilter(
            authors=frozenset(trusted),
            attested=self.graph.current({(a["subject_uri"], a["subject_cid"]) for a in attested}),
            max_hops=max_hops,
        )

    @staticmethod
    def _steps(path: list[LensInfo]) -> list[dict[str, Any]]:
        return [
            {
                "lens": _ref(p.uri, p.cid),
                "source": _ref(p.source_uri, p.source_cid),
                "target": _ref(p.target_uri, p.target_cid),
            }
            for p in path
        ]

    def find_lens_path(self, params: dict[str, Any]) -> dict[str, Any]:
        source, target = params["source"], params["target"]
        served = self.store.schema_cids([source, target])  # one light query: no record is parsed
        for uri in (source, target):
            if uri not in served:
                raise _not_found(f"no schema at {uri}")
        policy = self._trust(params.get("trusted") or [], params.get("maxHops"))
        try:
            return {"path": self._steps(self.graph.path(source, target, policy))}
        except LensPathError as e:
            # The graph already listed (the first few) reachable schemas for its message.
            reachable = [u for u in e.reachable if u.startswith("at://")]
            cids = self.store.schema_cids(reachable)
            body: dict[str, Any] = {"path": [], "reason": str(e).split("\n", 1)[0][:2000]}
            refs = [_ref(u, cids[u]) for u in reachable if u in cids]
            if refs:
                body["reachable"] = refs
            return body

    # --- datasets --------------------------------------------------------------------------
    def list_datasets(self, params: dict[str, Any]) -> dict[str, Any]:
        limit, offset = _page(params)
        schema = params.get("schema")
        author = params.get("author") or None
        if schema and params.get("convertible"):
            # Every dataset is a candidate; keep those whose schema is the target or converts to it.
            rows = self._with_schema_cids(self.store.derived("datasets", did=author))
            kept: list[dict[str, Any]] = []
            for row in rows:
                view = self._dataset_view(row)
                if row["schema_uri"] != schema:
                    try:
                        view["path"] = [
                            s["lens"] for s in self._steps(self.graph.path(row["schema_uri"], schema))
                        ]
                    except LensPathError:
                        continue
                kept.append(view)
            kept.sort(key=lambda v: (len(v.get("path", [])), v["uri"]))
            page = kept[offset : offset + limit + 1]
            return _with_cursor({"datasets": page}, "datasets", page, limit, offset)
        rows = self.store.derived(
            "datasets", did=author, schema_uri=schema or None, limit=limit + 1, offset=offset
        )
        views = [self._dataset_view(r) for r in self._with_schema_cids(rows)]
        return _with_cursor({"datasets": views}, "datasets", rows, limit, offset)

    def _with_schema_cids(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """atdata 0.7 entries name their schema by at-uri alone: give them the CID of the schema this
        appview serves under it, and leave out those whose schema it does not serve."""
        missing = [r["schema_uri"] for r in rows if not r["schema_cid"]]
        if not missing:
            return rows
        cids = self.store.schema_cids(sorted(set(missing)))
        out = []
        for r in rows:
            if not r["schema_cid"]:
                if r["schema_uri"] not in cids:
                    continue
                r = {**r, "schema_cid": cids[r["schema_uri"]]}
            out.append(r)
        return out

    @staticmethod
    def _dataset_view(row: dict[str, Any]) -> dict[str, Any]:
        return {**_common(row), "name": row["name"], "schema": _ref(row["schema_uri"], row["schema_cid"])}

    # --- service ---------------------------------------------------------------------------
    def describe_service(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "version": atdata.__version__,
            "lexicons": [*N.RECORDS, *N.QUERIES],
            "counts": self._record_counts(),
        }

    def _record_counts(self) -> dict[str, int]:
        now = time.monotonic()
        cached = self._counts
        if cached is None or now - cached[0] > COUNTS_TTL:
            tables = ("schemas", "lenses", "datasets", "attestations")
            cached = (now, {table: self.store.count(table) for table in tables})
            self._counts = cached  # one tuple assignment: concurrent callers see old or new, never half
        return dict(cached[1])
