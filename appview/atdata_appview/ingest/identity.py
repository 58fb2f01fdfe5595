"""DID -> the repo's current ``#atproto`` key, handle and PDS, cached, with a forced refresh.

The appview needs only this direction (commits name their DID); did:plc goes through a PLC directory
(pointable at a local one), did:web through ``/.well-known/did.json`` (plain http on loopback hosts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote

import httpx
from atproto_core.did_doc import DidDocument

from atdata.errors import AtdataError, IdentityError, NetworkError

DEFAULT_PLC_URL = "https://plc.directory"
_LOOPBACK = {"localhost", "127.0.0.1", "[::1]"}


@dataclass(frozen=True)
class RepoIdentity:
    did: str
    signing_key: str  # did:key form of the #atproto verification method
    handle: str | None
    pds: str | None


def did_document_url(did: str, plc_url: str) -> str:
    if did.startswith("did:plc:"):
        return f"{plc_url.rstrip('/')}/{did}"
    if did.startswith("did:web:"):
        host = unquote(did.removeprefix("did:web:"))
        if not host or ":" in host.split("]")[-1].rsplit(":", 1)[0]:
            raise IdentityError(
                f"{did!r}: only did:web with a bare host (optionally a %3A port) is supported"
            )
        hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        scheme = "http" if hostname in _LOOPBACK else "https"
        return f"{scheme}://{host}/.well-known/did.json"
    raise IdentityError(f"{did!r}: unsupported DID method (did:plc and did:web are)")


class IdentityResolver:
    """Thread-safe cache of DID documents. ``resolve(did, fresh=True)`` bypasses and refreshes it."""

    def __init__(self, plc_url: str = DEFAULT_PLC_URL, *, timeout: float = 10.0, ttl: float = 3600.0) -> None:
        self.plc_url = plc_url
        self.ttl = ttl
        self._http = httpx.Client(timeout=timeout, follow_redirects=True)
        self._cache: dict[str, tuple[float, RepoIdentity]] = {}
        self._lock = threading.Lock()

    def resolve(self, did: str, *, fresh: bool = False) -> RepoIdentity:
        if not fresh:
            with self._lock:
                hit = self._cache.get(did)
            if hit is not None and time.monotonic() - hit[0] < self.ttl:
                return hit[1]
        ident = self._fetch(did)
        with self._lock:
            self._cache[did] = (time.monotonic(), ident)
        return ident

    def prefetch(self, dids: Iterable[str]) -> None:
        """Resolve the uncached DIDs among ``dids`` concurrently (failures are left for ``resolve``)."""
        now = time.monotonic()
        with self._lock:
            todo = [d for d in set(dids) if d not in self._cache or now - self._cache[d][0] >= self.ttl]
        if len(todo) < 2:
            return  # nothing to overlap
        with ThreadPoolExecutor(max_workers=min(16, len(todo))) as pool:
            for did, result in zip(todo, pool.map(self._try_fetch, todo)):
                if result is not None:
                    with self._lock:
                        self._cache[did] = (time.monotonic(), result)

    def _try_fetch(self, did: str) -> RepoIdentity | None:
        try:
            return self._fetch(did)
        except AtdataError:
            return None

    def forget(self, did: str) -> None:
        with self._lock:
            self._cache.pop(did, None)

    def _fetch(self, did: str) -> RepoIdentity:
        url = did_document_url(did, self.plc_url)
        try:
            resp = self._http.get(url)
        except httpx.HTTPError as e:
            raise NetworkError(f"fetching the DID document of {did} from {url}: {e}") from None
        if resp.status_code == 404 or resp.status_code == 410:
            raise IdentityError(f"{did}: no DID document at {url} (HTTP {resp.status_code})")
        if resp.status_code != 200:
            raise NetworkError(f"fetching the DID document of {did} from {url}: HTTP {resp.status_code}")
        try:
            doc = DidDocument.from_dict(resp.json())
        except Exception as e:  # the document is remote input; any parse failure means "unusable"
            raise IdentityError(f"{did}: the DID document at {url} is malformed: {e}") from None
        if doc.id != did:
            raise IdentityError(f"{did}: the DID document at {url} is for {doc.id}")
        key = doc.get_did_key()
        if key is None:
            raise IdentityError(f"{did}: the DID document has no usable #atproto key")
        return RepoIdentity(did=did, signing_key=key, handle=doc.get_handle(), pds=doc.get_pds_endpoint())

    def close(self) -> None:
        self._http.close()
