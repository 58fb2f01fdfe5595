"""Backfill: a repository's current records from ``com.atproto.sync.getRepo``, verified like a commit.

The CAR's blocks are hashed against their CIDs as it is read, its root commit's signature is checked
against the DID document, and only the part of the tree under our collections' prefix is walked.
"""

from __future__ import annotations

import httpx

from atdata.errors import NetworkError
from atdata.lexicon.nsid import AUTHORITY
from atdata.network.identity import IdentityResolver
from atdata.network.predecessor import NAMESPACE as PREDECESSOR_NAMESPACE
from atdata_appview.indexed_collections import is_ours
from atdata_appview.ingest import mst, verify
from atdata_appview.ingest.car import CarError, read_car
from atdata_appview.ingest.events import OpRejection, RecordOp, Snapshot
from atdata_appview.ingest.record_blocks import read_record

MAX_REPO_BYTES = 512 * 1024 * 1024


def fetch_repo(http: httpx.Client, pds: str, did: str) -> bytes:
    url = f"{pds.rstrip('/')}/xrpc/com.atproto.sync.getRepo"
    try:
        with http.stream("GET", url, params={"did": did}) as resp:
            if resp.status_code != 200:
                resp.read()
                raise NetworkError(f"getRepo {did} from {pds}: HTTP {resp.status_code} {resp.text[:200]}")
            chunks: list[bytes] = []
            total = 0
            for chunk in resp.iter_bytes():
                total += len(chunk)
                if total > MAX_REPO_BYTES:
                    raise NetworkError(f"getRepo {did} from {pds}: larger than {MAX_REPO_BYTES} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as e:
        raise NetworkError(f"getRepo {did} from {pds}: {e}") from None


def snapshot_from_car(data: bytes, did: str, identities: IdentityResolver) -> Snapshot:
    """Verify a repo export and read our collections' records out of it."""
    try:
        car = read_car(data)
    except CarError as e:
        raise verify.VerificationError(f"repo of {did}: {e}") from None
    if not car.roots:
        raise verify.VerificationError(f"repo of {did}: the CAR has no root commit")
    commit = verify.verify_commit(car, car.roots[0], did, identities)
    ops: list[RecordOp] = []
    rejected: list[OpRejection] = []
    try:
        for prefix in (AUTHORITY + ".", PREDECESSOR_NAMESPACE + "."):
            for path, cid in mst.walk(car.blocks.__getitem__, commit.data, prefix):
                if not is_ours(path.partition("/")[0]):
                    continue  # the predecessor's collections this appview does not index
                result = read_record(car, did, path, cid, "create")
                (ops if isinstance(result, RecordOp) else rejected).append(result)  # type: ignore[arg-type]
    except (mst.MissingBlock, mst.MalformedNode) as e:
        raise verify.VerificationError(f"repo of {did}: incomplete or malformed tree ({e!r})") from None
    return Snapshot(did, commit.rev, commit.identity, tuple(ops), tuple(rejected))


class Backfiller:
    """Fetches and verifies snapshots; ``pds`` overrides the PDS named in DID documents (tests, mirrors)."""

    def __init__(
        self, identities: IdentityResolver, *, pds: str | None = None, timeout: float = 60.0
    ) -> None:
        self.identities = identities
        self.pds = pds
        self._http = httpx.Client(timeout=timeout, follow_redirects=True)

    def __call__(self, did: str) -> Snapshot:
        ident = self.identities.resolve(did)
        pds = self.pds or ident.pds
        if not pds:
            raise NetworkError(f"{did}: the DID document names no PDS to fetch the repo from")
        return snapshot_from_car(fetch_repo(self._http, pds, did), did, self.identities)

    def close(self) -> None:
        self._http.close()


__all__ = ["Backfiller", "Snapshot", "fetch_repo", "snapshot_from_car"]
