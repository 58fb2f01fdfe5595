"""What the ingest hands to :mod:`apply`: verified, decoded events, one per firehose frame."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from atdata.network.identity import Identity


@dataclass(frozen=True)
class RecordOp:
    """A verified change to one record: its block hashed to ``cid`` and the signed tree holds it."""

    action: str  # create | update | delete
    did: str
    collection: str
    rkey: str
    cid: str | None = None
    value: Any = None  # JSON form of the record; None for deletes and for records refused undecoded
    size: int = 0

    @cached_property
    def uri(self) -> str:
        # Computed once: the applier asks for it several times per record. (A cached property
        # writes the instance's __dict__ directly, which a frozen dataclass allows.)
        return f"at://{self.did}/{self.collection}/{self.rkey}"


@dataclass(frozen=True)
class OpRejection:
    uri: str
    cid: str | None
    reason: str


@dataclass(frozen=True)
class CommitEvent:
    seq: int | None
    did: str
    rev: str
    identity: Identity
    ops: tuple[RecordOp, ...]
    rejected: tuple[OpRejection, ...] = ()


@dataclass(frozen=True)
class IdentityEvent:
    seq: int
    did: str
    handle: str | None


@dataclass(frozen=True)
class AccountEvent:
    seq: int
    did: str
    active: bool
    status: str | None


@dataclass(frozen=True)
class ResyncEvent:
    """The stream cannot carry this repo's change (#sync, tooBig): fetch the whole repo again."""

    seq: int
    did: str
    reason: str


@dataclass(frozen=True)
class RejectedEvent:
    """A frame or commit that failed decoding or verification; nothing in it is applied."""

    seq: int | None
    did: str | None
    reason: str
    resync: bool = False  # the frame was poison for its repo: fetch that repo whole instead


@dataclass(frozen=True)
class UnverifiedEvent:
    """A commit that could not be checked yet for want of its DID document (PLC down, timeout).
    Never dropped: the repo is queued for a resync, which fetches and verifies it later."""

    seq: int | None
    did: str
    reason: str


@dataclass(frozen=True)
class SkippedEvent:
    """Nothing of ours in it; only the cursor moves."""

    seq: int | None


Event = (
    CommitEvent | IdentityEvent | AccountEvent | ResyncEvent | RejectedEvent | UnverifiedEvent | SkippedEvent
)


@dataclass(frozen=True)
class Snapshot:
    """A whole repository's records of our collections at one verified commit (from getRepo)."""

    did: str
    rev: str
    identity: Identity
    ops: tuple[RecordOp, ...]
    rejected: tuple[OpRejection, ...] = ()
