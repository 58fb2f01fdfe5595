"""``atdata.find_datasets(T)``: every published dataset that can be read as the sample type ``T``.

The appview proposes: ``listDatasets`` (with ``convertible``) gives the datasets whose schema is
``T``'s or has some lens path to it, and ``findLensPath`` gives, per stored schema, the shortest
path allowed by the trust policy (lenses by trusted authors or attested by one), and, when
``include_untrusted`` is asked for, the shortest path through any lens. Each hop's trust is then
decided here from the lens views (author, attestations), not from which search found the path; a
path with an untrusted hop is listed only with ``include_untrusted`` and is marked
(``Source.trusted`` is False).

Nothing proposed is run on the appview's word: :meth:`Source.open` reads the dataset record from
its author's PDS (CID-checked), checks it names the schema the appview said, and builds the lens
chain from lens records fetched and checked the same way (:func:`atdata.lenses.remote.lens_for_path`),
each lens run as the trust policy says: trusted ones inline, others in the process sandbox, and
under a strict policy untrusted ones are refused.

With no appview configured, the same question is answered over the repositories of the trusted
authors alone (their dataset and lens records, listed from their PDSes and CID-checked): the
datasets they published that their lenses (or none) read as ``T``. Untrusted paths cannot be
found that way, so ``include_untrusted`` adds nothing there.

Order: fewest hops first, then trusted paths before untrusted ones, then datasets by trusted
authors (in trust-list order) before others, then the most samples, then the at-uri.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from atdata.config import settings
from atdata.dataset import Dataset
from atdata.errors import AtdataError, IdentityError, IntegrityError, LensPathError, NetworkError
from atdata.lenses.coerce import CHUNK, LensTransform
from atdata.lexicon.nsid import DATASET, SCHEMA
from atdata.network.appview_client import AppviewClient, DatasetView, LensPath, LensView, PathStep
from atdata.network.record_fetch import FetchedRecord, RecordFetcher
from atdata.network.refs import StrongRef
from atdata.resolve import schema_ref
from atdata.schema import content_hash, schema_of
from atdata.trust import TrustPolicy, current_policy

log = logging.getLogger("atdata.sources")


@dataclass(frozen=True)
class Hop:
    """One lens on a source's path: its record, ``name@version``, author and whether it is trusted."""

    lens: StrongRef
    name: str
    author: str
    handle: str | None
    trusted: bool
    source: StrongRef
    target: StrongRef


@dataclass(frozen=True)
class Source:
    """A dataset that can be read as the target type, and the lens path that reads it so.

    ``dataset``: the dataset record as the appview indexed it (name, uri, cid, author, record);
    ``stored_type``: ``Name@version`` of the schema its samples are stored in; ``path``: the lenses
    from that schema to the target's, in order (empty when stored as the target itself);
    ``trusted``: every lens on the path is trusted by the policy; ``samples``, ``license``: from
    the record (None when it does not say). :meth:`open` reads it as the target type.
    """

    dataset: DatasetView
    stored_type: str
    stored_schema: StrongRef
    target: StrongRef
    path: tuple[Hop, ...]
    trusted: bool
    samples: int | None
    license: str | None
    target_type: type = field(repr=False, compare=False)
    policy: TrustPolicy = field(repr=False, compare=False)
    appview: str | None = field(repr=False, compare=False)
    """The appview that proposed it; None when found in the trusted authors' repositories."""

    @property
    def hops(self) -> int:
        return len(self.path)

    @property
    def path_names(self) -> tuple[str, ...]:
        """``name@version`` of each lens on the path."""
        return tuple(h.name for h in self.path)

    @property
    def author(self) -> str:
        """The dataset author's DID."""
        return self.dataset.author

    @property
    def label(self) -> str:
        """``name (at-uri)``, for messages."""
        return f"{self.dataset.name} ({self.dataset.uri})"

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary (what the MCP tool answers)."""
        return {
            "dataset": {
                "uri": self.dataset.uri,
                "cid": self.dataset.cid,
                "name": self.dataset.name,
                "author": self.dataset.author,
                "handle": self.dataset.handle,
            },
            "storedType": self.stored_type,
            "storedSchema": self.stored_schema.as_dict(),
            "target": self.target.as_dict(),
            "hops": self.hops,
            "path": [
                {"lens": h.lens.as_dict(), "name": h.name, "author": h.author, "trusted": h.trusted}
                for h in self.path
            ],
            "trusted": self.trusted,
            "samples": self.samples,
            "license": self.license,
        }

    def open(self) -> Dataset[Any]:
        """The dataset read as the target type, checked against its author's PDS (module docstring)."""
        from atdata.lenses.remote import lens_for_path

        stored: Dataset[Any] = Dataset(
            self.dataset.uri, sample_type=self.target_type if not self.path else None
        )
        published = stored.published
        if (published.schema["uri"], published.schema["cid"]) != (
            self.stored_schema.uri,
            self.stored_schema.cid,
        ):
            raise IntegrityError(
                f"dataset {self.dataset.uri} on its author's PDS is stored in {published.schema['uri']}, "
                f"not {self.stored_schema.uri} as the appview {self.appview} said"
            )
        if not self.path:
            return stored
        _check_chain(self)
        steps = tuple(PathStep(h.lens, h.source, h.target) for h in self.path)
        path = LensPath(steps, None, ())
        if self.appview is None:
            lens = lens_for_path(path, stored.sample_type, self.target_type, policy=self.policy, appview=None)
        else:
            with AppviewClient(self.appview) as client:
                lens = lens_for_path(
                    path, stored.sample_type, self.target_type, policy=self.policy, appview=client
                )
        return stored._transformed(
            self.target_type,
            LensTransform(lens),
            chunk=CHUNK,
            lens_path=lens.step_names,
            lenses=tuple(h.lens.uri for h in self.path),
        )


def _check_chain(source: Source) -> None:
    """The path must lead from the stored schema to the target, each lens reading what the last wrote.

    Each lens record is then checked to read and write exactly the schemas its step names
    (:func:`atdata.lenses.remote.lens_for_path`), so the whole chain is proven, not proposed.
    """
    at = source.stored_schema
    for i, hop in enumerate(source.path):
        if hop.source != at:
            raise IntegrityError(
                f"the lens path for dataset {source.dataset.uri} is broken at step {i + 1} "
                f"({hop.lens.uri}): it reads {hop.source.uri}, but the step before gives {at.uri}"
            )
        at = hop.target
    if at != source.target:
        raise IntegrityError(
            f"the lens path for dataset {source.dataset.uri} ends at {at.uri}, not at {source.target.uri}"
        )


def find_datasets(
    sample_type: type,
    *,
    trust: TrustPolicy | None = None,
    max_hops: int | None = None,
    include_untrusted: bool = False,
    appview: str | None = None,
) -> list[Source]:
    """Every dataset readable as ``sample_type`` under the trust policy, best first (module docstring).

    ``trust`` overrides the configured policy for this call; ``max_hops`` the policy's hop limit;
    ``include_untrusted`` also lists datasets reachable only through untrusted lenses (marked);
    ``appview`` overrides the configured appview.
    """
    policy = current_policy(trust)
    limit = max_hops if max_hops is not None else policy.max_hops
    url = appview or settings().appview
    if not url:
        return _find_in_repos(sample_type, policy, limit)
    with AppviewClient(url) as client:
        return _Finder(client, policy, limit, include_untrusted).find(sample_type)


class _Finder:
    def __init__(self, client: AppviewClient, policy: TrustPolicy, max_hops: int, untrusted: bool) -> None:
        self.client = client
        self.policy = policy
        self.max_hops = max_hops
        self.untrusted = untrusted
        self.trusted = [a.did for a in policy.authors]
        self._lenses: dict[str, LensView] = {}
        self._paths: dict[str, tuple[Hop, ...] | None] = {}
        self._names: dict[str, str] = {}

    def find(self, sample_type: type) -> list[Source]:
        from atdata.lenses.remote import _ref_of

        target = StrongRef.of(_ref_of(sample_type, self.client, self.trusted))
        found: list[Source] = []
        for view in self._candidates(target.uri):
            path = () if view.schema.uri == target.uri else self._path(view.schema.uri, target.uri)
            if path is None:
                continue
            trusted = all(h.trusted for h in path)
            if not trusted and not self.untrusted:
                continue
            found.append(
                Source(
                    dataset=view,
                    stored_type=self._name(view.schema.uri),
                    stored_schema=view.schema,
                    target=target,
                    path=path,
                    trusted=trusted,
                    samples=_samples(view.record),
                    license=_text(view.record.get("license")),
                    target_type=sample_type,
                    policy=self.policy,
                    appview=self.client.base_url,
                )
            )
        return _ranked(found, self.trusted)

    def _candidates(self, target: str) -> list[DatasetView]:
        views: list[DatasetView] = []
        cursor: str | None = None
        while True:
            page = self.client.list_datasets(schema=target, convertible=True, limit=100, cursor=cursor)
            views.extend(page.items)
            if page.cursor is None or not page.items:
                return views
            cursor = page.cursor

    def _path(self, source: str, target: str) -> tuple[Hop, ...] | None:
        if source in self._paths:
            return self._paths[source]
        found: LensPath | None = None
        if self.trusted:
            found = self.client.find_lens_path(source, target, trusted=self.trusted, max_hops=self.max_hops)
        if (found is None or not found.steps) and self.untrusted:
            found = self.client.find_lens_path(source, target, max_hops=self.max_hops)
        path = tuple(self._hop(s) for s in found.steps) if found is not None and found.steps else None
        self._paths[source] = path
        return path

    def _hop(self, step: PathStep) -> Hop:
        view = self._lenses.get(step.lens.uri)
        if view is None:
            view = self._lenses[step.lens.uri] = self.client.get_lens(step.lens.uri, cid=step.lens.cid)
        dids = self.policy.dids
        trusted = view.author in dids or any(a.author in dids for a in view.attestations)
        return Hop(
            step.lens,
            f"{view.name}@{view.version}",
            view.author,
            view.handle,
            trusted,
            step.source,
            step.target,
        )

    def _name(self, schema_uri: str) -> str:
        if schema_uri not in self._names:
            view = self.client.get_schema(schema_uri).schema
            self._names[schema_uri] = f"{view.name}@{view.version}"
        return self._names[schema_uri]


def _ranked(found: list[Source], trusted: list[str]) -> list[Source]:
    order = {did: i for i, did in enumerate(trusted)}
    return sorted(
        found,
        key=lambda s: (
            s.hops,
            not s.trusted,
            order.get(s.author, len(order)),
            -(s.samples or 0),
            s.dataset.uri,
        ),
    )


# --- without an appview: the trusted authors' repositories ---------------------------------------


def _find_in_repos(sample_type: type, policy: TrustPolicy, max_hops: int) -> list[Source]:
    from atdata.lenses.remote import _trusted_graph

    if not policy.authors:
        raise AtdataError(
            "find_datasets has no appview to ask and no trusted author whose repository to read: "
            "configure an appview (atdata.configure(appview=URL)) or trust someone (atdata trust add HANDLE)"
        )
    fetcher = RecordFetcher()
    try:
        target = _target_in_repos(sample_type, fetcher, policy)
        graph, lenses = _trusted_graph(fetcher, policy)
        allowed = replace(policy.lens_filter(trusted_only=True), max_hops=max_hops)
        names: dict[str, str] = {}
        found: list[Source] = []
        for author in policy.authors:
            try:
                datasets = fetcher.list(author.did, DATASET)
            except (NetworkError, IdentityError) as e:
                log.warning("cannot list the datasets of %s: %s", author.label, e)
                continue
            for record in datasets:
                schema = record.value.get("schema")
                if record.value.get("$type") != DATASET or not isinstance(schema, dict):
                    continue
                stored = StrongRef(str(schema.get("uri")), str(schema.get("cid")))
                try:
                    edges = [] if stored.uri == target.uri else graph.path(stored.uri, target.uri, allowed)
                except LensPathError:
                    continue
                path = tuple(_repo_hop(lenses[e.cid], author.handle) for e in edges)
                if stored.uri not in names:
                    value = fetcher.fetch(stored.uri, stored.cid).value
                    names[stored.uri] = f"{value.get('name')}@{value.get('version')}"
                view = DatasetView(
                    uri=record.uri,
                    cid=record.cid,
                    author=record.author,
                    handle=author.handle,
                    indexed_at="",
                    name=str(record.value.get("name", "")),
                    schema=stored,
                    path=tuple(h.lens for h in path),
                    record=dict(record.value),
                )
                found.append(
                    Source(
                        dataset=view,
                        stored_type=names[stored.uri],
                        stored_schema=stored,
                        target=target,
                        path=path,
                        trusted=True,
                        samples=_samples(record.value),
                        license=_text(record.value.get("license")),
                        target_type=sample_type,
                        policy=policy,
                        appview=None,
                    )
                )
    finally:
        fetcher.close()
    return _ranked(found, [a.did for a in policy.authors])


def _target_in_repos(cls: type, fetcher: RecordFetcher, policy: TrustPolicy) -> StrongRef:
    """The record ``cls`` stands for: its own ref, else a trusted author's schema with its content."""
    ref = schema_ref(cls)
    if ref is not None:
        return StrongRef.of(ref)
    mine = content_hash(schema_of(cls))
    for author in policy.authors:
        try:
            listed = fetcher.list(author.did, SCHEMA)
        except (NetworkError, IdentityError):
            continue
        for record in listed:
            try:
                if content_hash(record.value) == mine:
                    return StrongRef(record.uri, record.cid)
            except AtdataError:
                continue
    raise AtdataError(
        f"{cls.__name__} is not a schema any trusted author published (no appview is configured to "
        "search further): use a class from atdata.resolve(...), or configure an appview"
    )


def _repo_hop(record: FetchedRecord, handle: str | None) -> Hop:
    value = record.value
    return Hop(
        StrongRef(record.uri, record.cid),
        f"{value.get('name')}@{value.get('version')}",
        record.author,
        handle,
        True,
        StrongRef.of(value["source"]),
        StrongRef.of(value["target"]),
    )


def _samples(record: Mapping[str, Any]) -> int | None:
    count = record.get("sampleCount")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    shards = record.get("shards")
    if isinstance(shards, list) and shards:
        counts = [s.get("samples") for s in shards if isinstance(s, dict)]
        whole = [c for c in counts if isinstance(c, int) and not isinstance(c, bool) and c >= 0]
        if len(whole) == len(shards):
            return sum(whole)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
