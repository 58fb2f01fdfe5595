"""``atdata.resolve(name)``: a published schema as a working sample type class.

Names take four forms: ``Name``, ``handle/Name`` (or ``did/Name``), ``Name@1.2.0`` (also
``handle/Name@1.2.0``) and an at-uri ``at://<did or handle>/dev.atdata.schema/<rkey>``.

The appview (``resolveSchema``) only says where to look. The record itself is read from its
author's PDS and its CID recomputed (:mod:`atdata.network.record_fetch`), or read from the on-disk
cache, where it is checked against its CID again (:mod:`atdata.record_cache`). Only then does
:func:`~atdata.schema.from_schema` build the class, which keeps the record's strong ref
(``__schema_ref__``) so that coercion and publishing name that exact record. One class per CID per
process: resolving the same record twice gives the same class object.

Ranking among the candidates is recomputed here, so that the answer does not rest on the appview's
word: the form of the name narrows the candidates (an author, a version, one record), then
:func:`atdata.ranking.rank` orders them as the appview's ``resolveSchema`` and the MCP server do
(trusted authors first in the policy's order, then the highest version, then DID, then at-uri).

With ``strict=True`` a name that does not pin its author (``Name``, ``Name@1.2.0``) and that several
authors publish raises :class:`~atdata.errors.AmbiguousNameError` listing the candidates instead of
picking one. Without strict, the appview itself refuses a name several authors publish when none of
them is trusted (the same error), so that a squatter cannot capture a popular name.

After a name has been resolved once, it resolves offline: when the appview (or the author's PDS)
cannot be reached, the last answer for that name and the cached record are used, with a warning
naming the record and how long ago the name was resolved. Names and records are cached per network
(per PLC directory, :mod:`atdata.record_cache`), so an answer from one network never serves another.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from atdata.config import how_to_set, settings
from atdata.errors import (
    AmbiguousNameError,
    AppviewError,
    AtdataError,
    IdentityError,
    IntegrityError,
    NetworkError,
    NotFoundError,
    Problem,
    RecordNotFoundError,
    SchemaError,
)
from atdata.lexicon.formats import is_did, is_handle
from atdata.lexicon.nsid import DATASET, RESOLVE_SCHEMA, SCHEMA
from atdata.network import predecessor
from atdata.network.appview_client import AppviewClient, SchemaView
from atdata.network.record_fetch import FetchedRecord, RecordFetcher
from atdata.network.refs import AtUri
from atdata.ranking import rank
from atdata.record_cache import CachedRecord, RecordCache
from atdata.schema import by_reference, from_schema
from atdata.schema import semver as _semver
from atdata.schema.record import REF_ATTR
from atdata.shards.blobs import record_blob_urls
from atdata.trust import TrustPolicy, current_policy

log = logging.getLogger(__name__)

_classes: dict[str, type] = {}
_classes_lock = threading.Lock()


# --- names (pure) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaName:
    """A parsed schema name: exactly one of ``uri`` or ``name`` is set."""

    text: str
    name: str | None = None
    author: str | None = None  # handle or DID
    version: str | None = None
    uri: str | None = None


def _bad_name(text: str, why: str) -> SchemaError:
    return SchemaError(f"schema name {text!r}", [Problem("$", why)])


def parse_name(text: str) -> SchemaName:
    """Parse one of the four name forms; SchemaError naming what is wrong otherwise."""
    text = text.strip()
    if text.startswith("at://"):
        at = AtUri.parse(text)
        if at.collection not in (SCHEMA, predecessor.ALT_SCHEMA):
            raise _bad_name(
                text,
                f"an at-uri of a schema is in the {SCHEMA} collection (or atdata 0.7's "
                f"{predecessor.ALT_SCHEMA}), not {at.collection}",
            )
        return SchemaName(text, uri=text)
    author: str | None = None
    rest = text
    if "/" in rest:
        author, rest = rest.split("/", 1)
        author = author.removeprefix("@")
        if not (is_did(author) or is_handle(author)):
            raise _bad_name(text, f"{author!r} is neither a handle (alice.bsky.social) nor a DID")
        if not author.startswith("did:"):
            author = author.lower()
    version: str | None = None
    if "@" in rest:
        rest, version = rest.split("@", 1)
        if not _semver.is_semver(version):
            raise _bad_name(text, f"{version!r} is not a semantic version such as 1.2.0")
    if not rest.isidentifier():
        raise _bad_name(
            text, "expected Name, handle/Name, Name@1.2.0 or an at-uri; the name must be a Python identifier"
        )
    return SchemaName(text, name=rest, author=author, version=version)


def _matches(view: SchemaView, wanted: SchemaName) -> bool:
    if wanted.uri is not None:
        return view.uri == wanted.uri
    if view.name != wanted.name or (wanted.version is not None and view.version != wanted.version):
        return False
    return wanted.author is None or wanted.author in (view.author, (view.handle or "").lower())


def _label(view: SchemaView) -> str:
    who = f"{view.handle} ({view.author})" if view.handle else view.author
    return f"{view.name}@{view.version} by {who}: {view.uri}"


def _ambiguous(wanted: SchemaName, ranked: list[SchemaView]) -> bool:
    return wanted.uri is None and wanted.author is None and len({c.author for c in ranked}) > 1


# --- resolution --------------------------------------------------------------------------------


def resolve(name: str, *, strict: bool = False, trust: TrustPolicy | None = None) -> type:
    """The sample type class a published schema name refers to (see the module docstring).

    ``trust`` overrides the trust policy from the config file for this call.
    """
    wanted = parse_name(name)
    with _Resolver(current_policy(trust)) as resolver:
        return resolver.resolve(wanted, strict=strict)


def resolve_record(name: str, *, strict: bool = False, trust: TrustPolicy | None = None) -> dict[str, Any]:
    """The schema record :func:`resolve` would build its class from (CID-checked, cached)."""
    with _Resolver(current_policy(trust)) as resolver:
        return dict(resolver.find(parse_name(name), strict=strict).value)


def find_schema(
    appview: AppviewClient,
    name: str,
    *,
    trusted: Sequence[str] = (),
    fetcher: RecordFetcher | None = None,
) -> SchemaView:
    """The appview's view of the schema a name refers to, re-ranked and re-verified as :func:`resolve`
    does (for tools that show a schema rather than build its class, such as the MCP server).

    The best candidate is chosen here with :func:`atdata.ranking.rank`; its record is read from its
    author's PDS and checked against its CID, author and name, and replaces the appview's copy in
    the view returned; a handle in the name must resolve to the author; the view keeps its handle
    only when the two-way check passes (else None: show the DID).
    """
    # An at-uri goes to the appview first, whose parameter check names what is wrong with it.
    view = appview.get_schema(name.strip()).schema if name.strip().startswith("at://") else None
    wanted = parse_name(name)
    with _Resolver(TrustPolicy(), fetcher=fetcher) as resolver:
        if view is not None:
            record = resolver.verified(view, wanted)
        else:
            answer = appview.resolve_schema(wanted.text, trusted=list(trusted))
            candidates = [answer.schema, *answer.candidates]
            endpoint = appview.endpoint(RESOLVE_SCHEMA)
            view, record = resolver.best(candidates, endpoint, wanted, list(trusted), strict=False)
        value = dict(record.value)
        return replace(
            view, record=value, description=value.get("description"), handle=resolver.verified_handle(view)
        )


def schema_class(ref: Mapping[str, str], *, fetcher: RecordFetcher | None = None) -> type:
    """The class of the schema record a strong ref (uri + cid) points to, CID-checked and cached."""
    with _Resolver(TrustPolicy(), fetcher=fetcher) as resolver:
        return resolver.class_for(resolver.record(ref["uri"], ref["cid"]))


def known_class(cid: str) -> type | None:
    """The class this process already built for the schema record with this CID, if any."""
    with _classes_lock:
        return _classes.get(cid)


def class_from_cache(uri: str, cid: str, cache: RecordCache) -> type:
    """The class of the record ``uri``/``cid`` held in ``cache`` (how a DataLoader worker rebuilds a
    resolved type, see :mod:`atdata.schema.by_reference`); records it refers to come from the same
    cache, else from their authors' PDSes."""
    with _Resolver(TrustPolicy()) as resolver:
        resolver.cache = cache
        return resolver.class_for(resolver.record(uri, cid))


def schema_ref(cls: type) -> dict[str, str] | None:
    """The strong ref of the record a class was built from (None for a class defined in code)."""
    ref = getattr(cls, REF_ATTR, None)
    return {"uri": str(ref["uri"]), "cid": str(ref["cid"])} if isinstance(ref, Mapping) else None


@dataclass(frozen=True)
class PublishedDataset:
    """A dataset record read from its author's PDS: its sample type, shard URLs and schema ref.

    For an atdata 0.7 entry (``science.alt.dataset.entry``), ``metadata`` keeps what has no
    counterpart here (description, license, tags, size, per-shard checksums, its own metadata).
    """

    uri: str
    cid: str
    sample_type: type
    schema: dict[str, str]
    urls: list[str]
    record: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


def resolve_dataset(uri: str, *, fetcher: RecordFetcher | None = None) -> PublishedDataset:
    """The dataset record at ``uri``, CID-checked, with the class of its schema resolved.

    Accepts ``dev.atdata.dataset`` records and atdata 0.7's ``science.alt.dataset.entry``.
    """
    at = AtUri.parse(uri)
    if at.collection not in (DATASET, predecessor.ALT_ENTRY):
        raise SchemaError(
            f"dataset {uri!r}",
            [
                Problem(
                    "$",
                    f"a dataset lives in {DATASET} (or atdata 0.7's {predecessor.ALT_ENTRY}), "
                    f"not {at.collection}",
                )
            ],
        )
    with _Resolver(TrustPolicy(), fetcher=fetcher) as resolver:
        record = resolver.fetcher.fetch(uri)
        value = record.value
        if at.collection == predecessor.ALT_ENTRY:
            return resolver.predecessor_dataset(record.uri, record.cid, record.author, value)
        if value.get("$type") != DATASET or not isinstance(value.get("schema"), dict):
            raise IntegrityError(f"the record at {uri} is not a {DATASET} record")
        ref = {"uri": str(value["schema"]["uri"]), "cid": str(value["schema"]["cid"])}
        cls = resolver.class_for(resolver.record(ref["uri"], ref["cid"]))
        urls = [str(u) for u in value["urls"]]
        if any(isinstance(s, dict) and "blob" in s for s in value.get("shards") or []):
            # Shards stored as blobs are read from the author's PDS as its DID document names it
            pds = resolver.fetcher.identities.resolve(record.author).pds
            urls = record_blob_urls(value, record.author, pds, record.uri) or urls
    return PublishedDataset(record.uri, record.cid, cls, ref, urls, value)


class _Resolver:
    def __init__(self, policy: TrustPolicy, *, fetcher: RecordFetcher | None = None) -> None:
        self.policy = policy
        self.cache = RecordCache()
        self._own_fetcher = fetcher is None
        self.fetcher = fetcher or RecordFetcher()
        self._listed: dict[str, FetchedRecord] = {}

    def __enter__(self) -> _Resolver:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._own_fetcher:
            self.fetcher.close()

    def resolve(self, wanted: SchemaName, *, strict: bool) -> type:
        return self.class_for(self.find(wanted, strict=strict))

    def find(self, wanted: SchemaName, *, strict: bool) -> CachedRecord:
        """The schema record a name refers to, from the network, else from the offline cache."""
        try:
            record = self._online(wanted, strict=strict)
        except (NetworkError, _NoAppview) as e:
            if isinstance(e, (AppviewError, RecordNotFoundError)):
                raise  # the network answered (no such name, record deleted): that answer stands
            return self._offline(wanted, e)  # keeps the name's age: it was not asked again
        self.cache.remember_name(wanted.text, record)
        return record

    def _online(self, wanted: SchemaName, *, strict: bool) -> CachedRecord:
        if wanted.uri is not None:
            fetched = self.fetcher.fetch(wanted.uri)
            self._check_schema(fetched.uri, fetched.value, wanted)
            return self.cache.put(fetched.uri, fetched.author, fetched.value)
        trusted = [a.did for a in self.policy.authors]
        candidates, endpoint = self._candidates(wanted, trusted)
        return self.best(candidates, endpoint, wanted, trusted, strict=strict)[1]

    def best(
        self,
        candidates: list[SchemaView],
        endpoint: str,
        wanted: SchemaName,
        trusted: list[str],
        *,
        strict: bool,
    ) -> tuple[SchemaView, CachedRecord]:
        """The best of the candidates for a name, ranked here (:func:`atdata.ranking.rank`), with its
        record read from its author's PDS (CID-checked) and checked against the name."""
        ranked = rank([c for c in candidates if _matches(c, wanted)], trusted)
        if not ranked:
            raise NotFoundError(endpoint, f"no candidate for {wanted.text!r} matches the name")
        if strict and _ambiguous(wanted, ranked):
            listed = "\n  ".join(_label(c) for c in ranked)
            raise AmbiguousNameError(
                endpoint,
                f"{wanted.text!r} is published by {len({c.author for c in ranked})} authors; "
                f"name one (handle/{wanted.name}) or use an at-uri:\n  {listed}",
            )
        best = ranked[0]
        return best, self.verified(best, wanted)

    def verified(self, view: SchemaView, wanted: SchemaName) -> CachedRecord:
        """The record ``view`` names, read from its author's PDS (or as just listed there, or the
        cache) and checked against its CID, its author and the name it was found by."""
        seen = self._listed.get(view.uri)
        if seen is not None and seen.cid == view.cid:
            record = self.cache.put(seen.uri, seen.author, seen.value)
        else:
            record = self.record(view.uri, view.cid)
        self._check_schema(record.uri, record.value, wanted)
        if record.author != view.author:
            raise IntegrityError(f"{view.uri} is in the repository of {record.author}, not {view.author}")
        if wanted.author is not None and not wanted.author.startswith("did:"):
            did = self.fetcher.identities.resolve(wanted.author).did
            if did != record.author:
                raise IntegrityError(f"{view.uri} is not by {wanted.author} ({did})")
        return record

    def verified_handle(self, view: SchemaView) -> str | None:
        """The handle of the view's author that passes the two-way check, whatever the appview said."""
        identities = self.fetcher.identities
        try:
            return identities.verified_handle(identities.resolve_did(view.author))
        except AtdataError:
            return None

    def _candidates(self, wanted: SchemaName, trusted: list[str]) -> tuple[list[SchemaView], str]:
        """Candidates from the appview when one is configured and up, else from the authors' repos."""
        url = settings().appview
        if url:
            try:
                with AppviewClient(url) as appview:
                    answer = appview.resolve_schema(wanted.text, trusted=trusted)
                return [answer.schema, *answer.candidates], appview.endpoint(RESOLVE_SCHEMA)
            except NetworkError as e:
                if isinstance(e, AppviewError) and (e.status is None or e.status < 500):
                    raise  # the appview answered: no such name, or an ambiguous one
                log.warning("the appview %s is unavailable (%s); reading authors' repositories", url, e)
        return self._from_repos(wanted, trusted)

    def _from_repos(self, wanted: SchemaName, trusted: list[str]) -> tuple[list[SchemaView], str]:
        """Schema records named ``wanted`` in the named author's repo, or in every trusted author's.

        Each record is CID-checked as listed (:meth:`RecordFetcher.list`). A trusted author's repo
        that cannot be read is skipped with a warning, so one PDS down stops no one.
        """
        repos = [wanted.author] if wanted.author is not None else list(trusted)
        if not repos:
            raise _NoAppview(
                f"{wanted.text!r} names no author, no appview is configured or reachable, and the trust "
                f"policy names no author to look among: write handle/{wanted.name}, trust an author "
                f"(atdata trust add HANDLE), or configure an appview ({how_to_set('appview')})"
            )
        found: list[SchemaView] = []
        failures: list[str] = []
        for repo in repos:
            try:
                records = [r for c in (SCHEMA, predecessor.ALT_SCHEMA) for r in self.fetcher.list(repo, c)]
            except (NetworkError, IdentityError) as e:
                if wanted.author is not None or isinstance(e, RecordNotFoundError):
                    raise
                log.warning("cannot list the schemas of %s: %s", repo, e)
                failures.append(f"{repo}: {e}")
                continue
            for r in records:
                name, version = r.value.get("name"), r.value.get("version")
                if not isinstance(name, str) or not isinstance(version, str) or name != wanted.name:
                    continue
                self._listed[r.uri] = r
                handle = repo if repo == wanted.author and not repo.startswith("did:") else None
                description = r.value.get("description")
                found.append(
                    SchemaView(
                        uri=r.uri,
                        cid=r.cid,
                        author=r.author,
                        handle=handle,
                        indexed_at="",
                        name=name,
                        version=version,
                        description=description if isinstance(description, str) else None,
                        record=r.value,
                    )
                )
        if not found and failures:
            raise NetworkError(f"cannot resolve {wanted.text!r}: " + "; ".join(failures))
        return found, "the repositories of " + ", ".join(repos)

    def _offline(self, wanted: SchemaName, cause: Exception) -> CachedRecord:
        entry = self.cache.name(wanted.text)
        record = self.cache.get(entry.cid, entry.uri) if entry is not None else None
        if entry is None or record is None:
            raise NetworkError(
                f"cannot resolve {wanted.text!r}: {cause}; it was not resolved here before"
            ) from None
        log.warning(
            "%r answered from the offline cache: %s (cid %s), resolved %s ago; the network could not "
            "be asked (%s)",
            wanted.text,
            record.uri,
            record.cid,
            entry.age(),
            cause,
        )
        return record

    @staticmethod
    def _check_schema(uri: str, value: Mapping[str, Any], wanted: SchemaName) -> None:
        if value.get("$type") not in (SCHEMA, predecessor.ALT_SCHEMA):
            raise IntegrityError(f"the record at {uri} is a {value.get('$type')!r}, not a {SCHEMA} record")
        if wanted.name is not None and value.get("name") != wanted.name:
            raise IntegrityError(f"the record at {uri} is named {value.get('name')!r}, not {wanted.name!r}")
        if wanted.version is not None and value.get("version") != wanted.version:
            raise IntegrityError(
                f"the record at {uri} is version {value.get('version')!r}, not {wanted.version}"
            )

    def record(self, uri: str, cid: str) -> CachedRecord:
        """The record with this CID: from the cache (checked there), else from its author's PDS."""
        cached = self.cache.get(cid, uri)
        if cached is not None:
            return cached
        fetched = self.fetcher.fetch(uri, cid)
        return self.cache.put(fetched.uri, fetched.author, fetched.value)

    def class_for(self, record: CachedRecord) -> type:
        with _classes_lock:
            known = _classes.get(record.cid)
        # The same content published in two repos has one CID; each record gets a class naming it.
        if known is not None and _ref_uri(known) == record.uri:
            return known
        value, kept = record.value, None
        if value.get("$type") == predecessor.ALT_SCHEMA:
            value, kept = predecessor.convert_schema(value, record.uri)
        cls = from_schema(
            value, resolve=lambda ref: self.record(ref["uri"], ref["cid"]).value, ref=record.ref
        )
        if kept is not None:
            setattr(cls, predecessor.PREDECESSOR_ATTR, {"uri": record.uri, "cid": record.cid, **kept})
        by_reference.refer_to_cache(cls, record.uri, record.cid, self.cache.root)
        with _classes_lock:
            known = _classes.setdefault(record.cid, cls)
        return known if _ref_uri(known) == record.uri else cls

    def predecessor_dataset(self, uri: str, cid: str, author: str, value: dict[str, Any]) -> PublishedDataset:
        """An atdata 0.7 entry: its bare ``schemaRef`` is fetched once and pinned by the CID found."""
        pds = self.fetcher.identities.resolve(author).pds
        entry = predecessor.convert_entry(value, uri, author_pds=pds, author=author)
        if AtUri.parse(entry.schema_uri).collection != predecessor.ALT_SCHEMA:
            raise IntegrityError(
                f"the entry at {uri} names {entry.schema_uri}, not a {predecessor.ALT_SCHEMA} record"
            )
        fetched = self.fetcher.fetch(entry.schema_uri)
        if fetched.value.get("$type") != predecessor.ALT_SCHEMA:
            raise IntegrityError(
                f"{fetched.uri}, the schema of {uri}, is not a {predecessor.ALT_SCHEMA} record"
            )
        cls = self.class_for(self.cache.put(fetched.uri, fetched.author, fetched.value))
        metadata = {**entry.metadata, "checksums": entry.checksums}
        return PublishedDataset(uri, cid, cls, fetched.ref, entry.urls, value, metadata)


def _ref_uri(cls: type) -> str | None:
    ref = schema_ref(cls)
    return ref["uri"] if ref is not None else None


class _NoAppview(AtdataError):
    """No appview configured: only cached answers can help."""
