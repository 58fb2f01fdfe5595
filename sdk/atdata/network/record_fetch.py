"""Records read from their author's PDS, never from a middleman: DID -> PDS -> ``getRecord`` -> CID check.

``RecordFetcher.list`` reads a whole collection of one repo (``listRecords``, every record CID-checked
the same way), remembered per process by the repo's revision (``sync.getLatestCommit``): a repo that
has not changed is not listed again. This is what lets resolution and lens paths work straight from
authors' repos when no appview is configured or it is down.

The CID is recomputed from the record returned (:func:`atdata.schema.record_cid`), so a PDS, proxy
or cache that changed one byte is caught: :class:`~atdata.errors.IntegrityError`. A record that is
gone raises :class:`~atdata.errors.RecordNotFoundError`; one that was replaced since the caller
learned its CID raises IntegrityError naming both CIDs.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from atdata.config import settings
from atdata.errors import AtUriError, IntegrityError, RecordNotFoundError, SchemaError
from atdata.network.guard import active as guard_active
from atdata.network.identity import IdentityResolver
from atdata.network.refs import AtUri
from atdata.network.xrpc import XrpcClient, XrpcError
from atdata.schema import record_cid

log = logging.getLogger(__name__)

MAX_LISTED = 10_000
"""Records read from one collection of one repo at most: a repo cannot make a reader list forever."""
_PAGE = 100

# (did, collection) -> (repo rev, records): a listing stays good while the repo's revision is the same.
_listings: dict[tuple[str, str], tuple[str, list[FetchedRecord]]] = {}
_listings_lock = threading.Lock()

PINNED_TTL = 60.0
"""Seconds a record fetched by uri and CID is answered from memory. Its content cannot change (the
CID is its hash); only its deletion by the author could, and that shows within this long."""
# (uri, cid) -> (monotonic time fetched, record)
_pinned: dict[tuple[str, str], tuple[float, FetchedRecord]] = {}
_MAX_PINNED = 10_000
# (plc, pds) -> the resolver every fetcher of this process shares, so DID documents are cached once
_resolvers: dict[tuple[str, str | None], IdentityResolver] = {}


@dataclass(frozen=True)
class FetchedRecord:
    """A record whose CID was recomputed from its content and matched."""

    uri: str
    cid: str
    author: str  # DID
    value: dict[str, Any]

    @property
    def ref(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


def default_resolver() -> IdentityResolver:
    """An identity resolver pointed where :func:`atdata.configure` (or the environment) says."""
    s = settings()
    return IdentityResolver(s.plc, pds_url=s.pds)


def _shared_resolver() -> IdentityResolver | None:
    """The process's resolver for the configured network (never closed), or None under a location
    guard, whose transport is fixed when a resolver is made and must not outlive the guard."""
    if guard_active() is not None:
        return None
    s = settings()
    key = (s.plc, s.pds)
    with _listings_lock:
        resolver = _resolvers.get(key)
        if resolver is None:
            resolver = _resolvers[key] = IdentityResolver(s.plc, pds_url=s.pds)
        return resolver


class RecordFetcher:
    """Fetches records from their authors' PDSes (one XRPC client per PDS, reused)."""

    def __init__(self, identities: IdentityResolver | None = None, *, timeout: float = 10.0) -> None:
        shared = None if identities is not None else _shared_resolver()
        self._own_identities = identities is None and shared is None
        self.identities = identities or shared or default_resolver()
        self.timeout = timeout
        self._clients: dict[str, XrpcClient] = {}

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self._own_identities:
            self.identities.close()

    def __enter__(self) -> RecordFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _client(self, pds: str) -> XrpcClient:
        client = self._clients.get(pds)
        if client is None:
            client = self._clients[pds] = XrpcClient(pds, timeout=self.timeout)
        return client

    def list(self, repo: str, collection: str) -> list[FetchedRecord]:
        """Every record of ``collection`` in ``repo`` (handle or DID), each CID-checked.

        A record whose content does not hash to the CID the PDS gave is left out with a warning (it
        proves nothing, and must not hide the author's other records). The listing is reused while
        the repo's revision is unchanged.
        """
        author = self.identities.resolve(repo)
        client = self._client(author.pds)
        try:
            head = client.query("com.atproto.sync.getLatestCommit", {"did": author.did})
        except XrpcError as e:
            if e.error == "RepoNotFound" or e.status == 404:
                raise RecordNotFoundError(f"the repository of {author.did} is not on {author.pds}") from None
            raise
        rev = str(head.get("rev", "")) if isinstance(head, dict) else ""
        key = (author.did, collection)
        with _listings_lock:
            known = _listings.get(key)
        if known is not None and rev and known[0] == rev:
            return list(known[1])
        records: list[FetchedRecord] = []
        cursor: str | None = None
        while len(records) < MAX_LISTED:
            params: dict[str, Any] = {"repo": author.did, "collection": collection, "limit": _PAGE}
            if cursor:
                params["cursor"] = cursor
            page = client.query("com.atproto.repo.listRecords", params)
            items = page.get("records") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise IntegrityError(f"{author.pds} answered listRecords for {author.did} without records")
            for item in items:
                record = _listed(item, author.did, collection)
                if record is not None:
                    records.append(record)
            cursor = page.get("cursor") if isinstance(page.get("cursor"), str) else None
            if not cursor or not items:
                break
        else:
            log.warning(
                "%s has more than %d %s records; read the first %d",
                author.did,
                MAX_LISTED,
                collection,
                MAX_LISTED,
            )
        if rev:
            with _listings_lock:
                _listings[key] = (rev, records)
        return list(records)

    def fetch(self, uri: str, cid: str | None = None) -> FetchedRecord:
        """The record at ``uri`` (pinned to ``cid`` when given), CID-checked.

        A pinned record fetched in the last :data:`PINNED_TTL` seconds is answered from memory.
        """
        if cid is not None:
            with _listings_lock:
                hit = _pinned.get((uri, cid))
            if hit is not None and time.monotonic() - hit[0] < PINNED_TTL:
                return hit[1]
        record = self._fetch(uri, cid)
        if cid is not None:
            with _listings_lock:
                if len(_pinned) >= _MAX_PINNED:
                    _pinned.clear()
                _pinned[(uri, cid)] = (time.monotonic(), record)
        return record

    def _fetch(self, uri: str, cid: str | None) -> FetchedRecord:
        at = AtUri.parse(uri)
        author = self.identities.resolve(at.repo)
        client = self._client(author.pds)
        canonical = str(AtUri(author.did, at.collection, at.rkey))
        params = {"repo": author.did, "collection": at.collection, "rkey": at.rkey}
        try:
            answer = client.query("com.atproto.repo.getRecord", {**params, "cid": cid})
        except XrpcError as e:
            if e.error != "RecordNotFound" and e.status != 404:
                raise
            if cid is None:
                raise RecordNotFoundError(f"{canonical} is not in the repository on {author.pds}") from None
            current = self._current_cid(client, params)
            if current is None:
                raise RecordNotFoundError(
                    f"{canonical} was deleted from the repository on {author.pds}"
                ) from None
            raise IntegrityError(f"{canonical} was replaced: it is now {current}, not {cid}") from None
        return _checked(canonical, author.did, answer, cid)

    @staticmethod
    def _current_cid(client: XrpcClient, params: dict[str, str]) -> str | None:
        try:
            answer = client.query("com.atproto.repo.getRecord", params)
        except XrpcError:
            return None
        return str(answer.get("cid")) if isinstance(answer, dict) else None


def _checked(uri: str, author: str, answer: Any, expected: str | None) -> FetchedRecord:
    if not isinstance(answer, dict) or not isinstance(answer.get("value"), dict):
        raise IntegrityError(f"the PDS answered getRecord for {uri} without a record value")
    value: dict[str, Any] = answer["value"]
    try:
        actual = record_cid(value)
    except SchemaError as e:
        raise IntegrityError(f"the record at {uri} is outside the ATProto data model: {e}") from None
    claimed = answer.get("cid")
    if claimed is not None and claimed != actual:
        raise IntegrityError(
            f"the record served for {uri} hashes to {actual}, but the PDS called it {claimed}"
        )
    if expected is not None and expected != actual:
        raise IntegrityError(f"the record served for {uri} hashes to {actual}, not the expected {expected}")
    return FetchedRecord(uri=uri, cid=actual, author=author, value=value)


def _listed(item: Any, did: str, collection: str) -> FetchedRecord | None:
    """One listRecords entry, CID-checked; None (with a warning) when it proves nothing."""
    uri = item.get("uri") if isinstance(item, dict) else None
    try:
        at = AtUri.parse(str(uri))
        if at.repo != did or at.collection != collection:
            raise IntegrityError(f"listRecords of {did}/{collection} returned {uri}")
        return _checked(str(AtUri(did, collection, at.rkey)), did, item, None)
    except (AtUriError, IntegrityError, RecordNotFoundError) as e:
        log.warning("skipping a record listed in %s/%s: %s", did, collection, e)
        return None
