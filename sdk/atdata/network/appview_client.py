"""A typed client of an atdata appview: one method per query in ``lexicons/dev/atdata``.

Parameters are checked against the query's lexicon before anything is sent, and every answer is
checked against the output schema before it is read, so a typo fails locally and a misbehaving
appview fails loudly instead of handing back half-shaped data. Errors name the endpoint:
:class:`~atdata.errors.NotFoundError` and :class:`~atdata.errors.AmbiguousNameError` for the
lexicon's declared errors, :class:`~atdata.errors.AppviewError` for any other answer, and
:class:`~atdata.errors.NetworkError` when the appview cannot be reached.

The views are the appview's index, not proof: a caller that runs what they point at fetches the
record from its author's PDS and checks the CID (see ``atdata.network.record_fetch``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from atdata.config import settings
from atdata.errors import (
    AmbiguousNameError,
    AppviewError,
    NotFoundError,
    RecordValidationError,
)
from atdata.lexicon import nsid as N
from atdata.lexicon import validate_output, validate_params
from atdata.network.refs import StrongRef
from atdata.network.xrpc import DEFAULT_TIMEOUT, XrpcClient, XrpcError

T = TypeVar("T")

# --- views ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Indexed:
    """What every indexed view has: its address, author, when it was indexed and its name."""

    uri: str
    cid: str
    author: str
    handle: str | None
    indexed_at: str
    name: str


@dataclass(frozen=True)
class _IndexedRecord(_Indexed):
    """What every indexed schema or lens view has besides: its version (name@version)."""

    version: str

    @property
    def ref(self) -> StrongRef:
        return StrongRef(self.uri, self.cid)

    @property
    def author_label(self) -> str:
        return self.handle or self.author

    @staticmethod
    def _common(raw: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "uri": raw["uri"],
            "cid": raw["cid"],
            "author": raw["author"],
            "handle": raw.get("handle"),
            "indexed_at": raw["indexedAt"],
            "name": raw["name"],
            "version": raw["version"],
        }


@dataclass(frozen=True)
class SchemaView(_IndexedRecord):
    """A schema record as the appview indexed it; ``record`` is the record as published."""

    description: str | None
    record: dict[str, Any] = field(repr=False)

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> SchemaView:
        return cls(**cls._common(raw), description=raw.get("description"), record=dict(raw["record"]))


@dataclass(frozen=True)
class AttestationView:
    uri: str
    cid: str
    author: str
    kind: str
    created_at: str
    comment: str | None

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> AttestationView:
        return cls(raw["uri"], raw["cid"], raw["author"], raw["kind"], raw["createdAt"], raw.get("comment"))


@dataclass(frozen=True)
class LensView(_IndexedRecord):
    """A lens record as indexed; ``valid`` says whether its code passed the appview's validator."""

    source: StrongRef
    target: StrongRef
    valid: bool
    problems: tuple[str, ...]
    attestations: tuple[AttestationView, ...]
    record: dict[str, Any] = field(repr=False)

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> LensView:
        return cls(
            **cls._common(raw),
            source=StrongRef.of(raw["source"]),
            target=StrongRef.of(raw["target"]),
            valid=bool(raw["valid"]),
            problems=tuple(raw.get("problems", ())),
            attestations=tuple(AttestationView.of(a) for a in raw.get("attestations", ())),
            record=dict(raw["record"]),
        )


@dataclass(frozen=True)
class DatasetView(_Indexed):
    """A dataset record as indexed; ``path`` lists the lenses to its queried schema (convertible lists)."""

    schema: StrongRef
    path: tuple[StrongRef, ...]
    record: dict[str, Any] = field(repr=False)

    @property
    def author_label(self) -> str:
        return self.handle or self.author

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> DatasetView:
        return cls(
            uri=raw["uri"],
            cid=raw["cid"],
            author=raw["author"],
            handle=raw.get("handle"),
            indexed_at=raw["indexedAt"],
            name=raw["name"],
            schema=StrongRef.of(raw["schema"]),
            path=tuple(StrongRef.of(r) for r in raw.get("path", ())),
            record=dict(raw["record"]),
        )


@dataclass(frozen=True)
class Resolution:
    """``resolveSchema``: the best match and the other candidates, best first."""

    schema: SchemaView
    candidates: tuple[SchemaView, ...]


@dataclass(frozen=True)
class SchemaWithVersions:
    """``getSchema``: the record and the other versions its author published."""

    schema: SchemaView
    versions: tuple[SchemaView, ...]


@dataclass(frozen=True)
class PathStep:
    lens: StrongRef
    source: StrongRef
    target: StrongRef


@dataclass(frozen=True)
class LensPath:
    """``findLensPath``: the steps in order; when empty, ``reason`` and the ``reachable`` schemas."""

    steps: tuple[PathStep, ...]
    reason: str | None
    reachable: tuple[StrongRef, ...]

    @property
    def found(self) -> bool:
        return bool(self.steps) or self.reason is None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list query; pass ``cursor`` back for the next one (None: last page)."""

    items: tuple[T, ...]
    cursor: str | None


@dataclass(frozen=True)
class ServiceDescription:
    version: str
    lexicons: tuple[str, ...]
    counts: dict[str, int]


# --- the client -------------------------------------------------------------------------------


class AppviewClient:
    """Queries one appview: ``AppviewClient("http://127.0.0.1:8080")``, or the configured one.

    Without ``base_url`` the appview comes from :func:`atdata.config.settings` (``atdata.configure``,
    ``ATDATA_APPVIEW``, the config file, the running dev network); with none configured it raises
    :class:`AtdataError` saying how to set one.
    """

    def __init__(self, base_url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        url = base_url or settings().require_appview()
        self.base_url = url.rstrip("/")
        self._xrpc = XrpcClient(self.base_url, timeout=timeout)

    def __repr__(self) -> str:
        return f"AppviewClient({self.base_url!r})"

    def close(self) -> None:
        self._xrpc.close()

    def __enter__(self) -> AppviewClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- schemas -----------------------------------------------------------------------------

    def resolve_schema(self, name: str, *, trusted: Sequence[str] = ()) -> Resolution:
        """The schema ``name`` refers to: ``Name``, ``handle/Name``, ``Name@1.2.0`` or an at-uri.

        ``trusted`` DIDs rank first; a bare name several untrusted authors publish raises
        :class:`AmbiguousNameError`.
        """
        body = self._query(N.RESOLVE_SCHEMA, {"name": name, "trusted": list(trusted) or None})
        return Resolution(
            SchemaView.of(body["schema"]), tuple(SchemaView.of(c) for c in body.get("candidates", ()))
        )

    def get_schema(self, uri: str, *, cid: str | None = None) -> SchemaWithVersions:
        body = self._query(N.GET_SCHEMA, {"uri": uri, "cid": cid})
        return SchemaWithVersions(
            SchemaView.of(body["schema"]), tuple(SchemaView.of(v) for v in body.get("versions", ()))
        )

    def search_schemas(
        self, q: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[SchemaView]:
        body = self._query(N.SEARCH_SCHEMAS, {"q": q, "limit": limit, "cursor": cursor})
        return Page(tuple(SchemaView.of(s) for s in body["schemas"]), body.get("cursor"))

    # --- lenses ------------------------------------------------------------------------------

    def find_lens_path(
        self, source: str, target: str, *, trusted: Sequence[str] = (), max_hops: int | None = None
    ) -> LensPath:
        """The shortest lens chain from schema ``source`` to ``target`` (at-uris)."""
        body = self._query(
            N.FIND_LENS_PATH,
            {"source": source, "target": target, "trusted": list(trusted) or None, "maxHops": max_hops},
        )
        steps = tuple(
            PathStep(StrongRef.of(s["lens"]), StrongRef.of(s["source"]), StrongRef.of(s["target"]))
            for s in body["path"]
        )
        reason = body.get("reason")
        if not steps and reason is None and source != target:
            reason = "no lens path"
        return LensPath(steps, reason, tuple(StrongRef.of(r) for r in body.get("reachable", ())))

    def get_lens(self, uri: str, *, cid: str | None = None) -> LensView:
        return LensView.of(self._query(N.GET_LENS, {"uri": uri, "cid": cid})["lens"])

    def list_lenses(
        self,
        *,
        source: str | None = None,
        target: str | None = None,
        author: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[LensView]:
        body = self._query(
            N.LIST_LENSES,
            {"source": source, "target": target, "author": author, "limit": limit, "cursor": cursor},
        )
        return Page(tuple(LensView.of(v) for v in body["lenses"]), body.get("cursor"))

    # --- datasets and the service --------------------------------------------------------------

    def list_datasets(
        self,
        *,
        schema: str | None = None,
        convertible: bool = False,
        author: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[DatasetView]:
        """Datasets of ``schema``; with ``convertible`` also those a lens path converts to it."""
        body = self._query(
            N.LIST_DATASETS,
            {
                "schema": schema,
                "convertible": convertible or None,
                "author": author,
                "limit": limit,
                "cursor": cursor,
            },
        )
        return Page(tuple(DatasetView.of(d) for d in body["datasets"]), body.get("cursor"))

    def describe_service(self) -> ServiceDescription:
        body = self._query(N.DESCRIBE_SERVICE, {})
        counts = {k: int(v) for k, v in body.get("counts", {}).items()}
        return ServiceDescription(body["version"], tuple(body["lexicons"]), counts)

    # --- transport ---------------------------------------------------------------------------

    def endpoint(self, nsid: str) -> str:
        return self._xrpc.url(nsid)

    def _query(self, nsid: str, params: dict[str, Any]) -> dict[str, Any]:
        clean = {k: v for k, v in params.items() if v is not None}
        problems = validate_params(nsid, clean)
        if problems:
            raise RecordValidationError(f"parameters for {self.endpoint(nsid)}", problems)
        try:
            body = self._xrpc.query(nsid, clean)
        except XrpcError as e:
            raise _answer_error(self.endpoint(nsid), e) from None
        problems = validate_output(nsid, body)
        if problems:
            shown = "; ".join(str(p) for p in problems[:5])
            raise AppviewError(
                self.endpoint(nsid), f"the answer does not match the lexicon of {nsid}: {shown}"
            )
        return dict(body)


def _answer_error(endpoint: str, e: XrpcError) -> AppviewError:
    kind = {"NotFound": NotFoundError, "Ambiguous": AmbiguousNameError}.get(e.error, AppviewError)
    text = f"{e.error}: {e.message}" if e.message else e.error
    return kind(endpoint, f"answered {e.status} {text}", status=e.status, error=e.error)
