"""Records read from their author's PDS, never from a middleman: DID -> PDS -> ``getRecord`` -> CID check.

The CID is recomputed from the record returned (:func:`atdata.schema.record_cid`), so a PDS, proxy
or cache that changed one byte is caught: :class:`~atdata.errors.IntegrityError`. A record that is
gone raises :class:`~atdata.errors.RecordNotFoundError`; one that was replaced since the caller
learned its CID raises IntegrityError naming both CIDs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atdata.config import settings
from atdata.errors import IntegrityError, RecordNotFoundError, SchemaError
from atdata.network.identity import IdentityResolver
from atdata.network.xrpc import XrpcClient, XrpcError
from atdata.schema import record_cid


@dataclass(frozen=True)
class AtUri:
    repo: str
    collection: str
    rkey: str

    @classmethod
    def parse(cls, uri: str) -> AtUri:
        parts = uri.removeprefix("at://").split("/") if uri.startswith("at://") else []
        if len(parts) != 3 or not all(parts):
            raise RecordNotFoundError(f"{uri!r} is not a record address at://<did>/<collection>/<rkey>")
        return cls(*parts)

    def __str__(self) -> str:
        return f"at://{self.repo}/{self.collection}/{self.rkey}"


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


class RecordFetcher:
    """Fetches records from their authors' PDSes (one XRPC client per PDS, reused)."""

    def __init__(self, identities: IdentityResolver | None = None, *, timeout: float = 10.0) -> None:
        self._own_identities = identities is None
        self.identities = identities or default_resolver()
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

    def fetch(self, uri: str, cid: str | None = None) -> FetchedRecord:
        """The record at ``uri`` (pinned to ``cid`` when given), CID-checked."""
        at = AtUri.parse(uri)
        author = self.identities.resolve(at.repo)
        client = self._clients.get(author.pds)
        if client is None:
            client = self._clients[author.pds] = XrpcClient(author.pds, timeout=self.timeout)
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
