"""One ``com.atproto.sync.subscribeRepos`` frame -> one verified :class:`~events.Event`.

Commits are filtered on their op paths first, so the (large majority of) commits that touch none of
our collections cost one CBOR decode of the frame and nothing more: no CAR parsing, no signature check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from atproto_firehose import parse_subscribe_repos_message
from atproto_subscription.frames import ErrorFrame, Frame, MessageFrame

from atdata.errors import NetworkError
from atdata.lexicon.formats import is_did
from atdata.network.identity import IdentityResolver
from atdata_appview.indexed_collections import is_ours
from atdata_appview.ingest import verify
from atdata_appview.ingest.car import CarError, cid_bytes, read_car
from atdata_appview.ingest.events import (
    AccountEvent,
    CommitEvent,
    Event,
    IdentityEvent,
    OpRejection,
    RecordOp,
    RejectedEvent,
    ResyncEvent,
    SkippedEvent,
    UnverifiedEvent,
)
from atdata_appview.ingest.record_blocks import read_record

log = logging.getLogger(__name__)

# Frames larger than this are not verified (an honest commit carries at most a few hundred kB of
# blocks; a relay marks larger ones tooBig); the firehose connection reads up to HARD_FRAME_BYTES.
MAX_FRAME_BYTES = 5 * 1024 * 1024
HARD_FRAME_BYTES = 64 * 1024 * 1024


class StreamError(NetworkError):
    """The server sent an error frame (e.g. FutureCursor, ConsumerTooSlow) and ends the stream."""

    def __init__(self, error: str, message: str | None) -> None:
        self.error = error
        super().__init__(f"firehose error frame {error}: {message or ''}".rstrip(": "))


def _touches_ours(ops: Any) -> bool:
    if not isinstance(ops, list):
        return True  # malformed: let the full parse reject it with a reason
    for op in ops:
        path = op.get("path") if isinstance(op, dict) else None
        if not isinstance(path, str) or is_ours(path.partition("/")[0]):
            return True
    return False


@dataclass(frozen=True)
class CommitFrame:
    """A parsed #commit touching our collections, not yet verified."""

    did: str
    msg: Any


def parse_frame(raw: bytes) -> Event | CommitFrame:
    """Decode one frame without any network access or signature check. Bad input becomes a
    :class:`RejectedEvent`; an error frame, which ends the stream, raises :class:`StreamError`."""
    try:
        frame = Frame.from_bytes(raw)
    except Exception as e:  # any decoding failure of untrusted bytes is a rejected frame
        return RejectedEvent(None, None, f"malformed frame: {e}"[:2000])
    if len(raw) > MAX_FRAME_BYTES and isinstance(frame, MessageFrame):
        # Too big to verify and index: skip it, and take its repo's state from getRepo instead.
        seq = frame.body.get("seq") if isinstance(frame.body, dict) else None
        did = _did_of(frame.body)
        return RejectedEvent(
            seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            did if did and is_did(did) else None,
            f"frame of {len(raw)} bytes; at most {MAX_FRAME_BYTES} are read",
            resync=True,
        )
    if isinstance(frame, ErrorFrame):
        raise StreamError(frame.body.error, frame.body.message)
    assert isinstance(frame, MessageFrame)
    body = frame.body
    seq = body.get("seq") if isinstance(body, dict) else None
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    kind = frame.type
    if kind == "#commit" and not _touches_ours(body.get("ops")):
        return SkippedEvent(seq)
    if kind not in ("#commit", "#identity", "#account", "#sync"):
        if kind == "#info":
            log.info("firehose info: %s", body)
        return SkippedEvent(seq)
    try:
        msg: Any = parse_subscribe_repos_message(frame)
    except Exception as e:  # the body does not fit the lexicon of its type
        return RejectedEvent(seq, _did_of(body), f"malformed {kind} frame: {e}"[:2000])
    did = msg.repo if kind == "#commit" else msg.did
    if not isinstance(did, str) or not is_did(did):
        return RejectedEvent(seq, None, f"{kind} frame for {str(did)[:200]!r}, which is not a DID")
    if kind == "#identity":
        return IdentityEvent(msg.seq, msg.did, msg.handle)
    if kind == "#account":
        return AccountEvent(msg.seq, msg.did, bool(msg.active), msg.status)
    if kind == "#sync":
        return ResyncEvent(msg.seq, msg.did, "#sync event")
    return CommitFrame(msg.repo, msg)


def verify_frame(parsed: Event | CommitFrame, identities: IdentityResolver) -> Event:
    """Finish a parsed frame: commits are verified (see :func:`_commit`), other events pass through."""
    return _commit(parsed.msg, identities) if isinstance(parsed, CommitFrame) else parsed


def decode_frame(raw: bytes, identities: IdentityResolver) -> Event:
    """Decode and verify one frame (:func:`parse_frame` then :func:`verify_frame`)."""
    return verify_frame(parse_frame(raw), identities)


def _did_of(body: Any) -> str | None:
    if isinstance(body, dict):
        did = body.get("repo") or body.get("did")
        return did if isinstance(did, str) else None
    return None


def _commit(msg: Any, identities: IdentityResolver) -> Event:
    did: str = msg.repo
    if msg.too_big:
        return ResyncEvent(msg.seq, did, "tooBig commit")
    try:
        car = read_car(bytes(msg.blocks))
        commit_cid = cid_bytes(str(msg.commit))
        verified = verify.verify_commit(car, commit_cid, did, identities)
    except verify.IdentityUnavailable as e:
        return UnverifiedEvent(msg.seq, did, str(e))
    except (CarError, verify.VerificationError) as e:
        return RejectedEvent(msg.seq, did, f"commit rejected: {e}")
    if verified.rev != msg.rev:
        return RejectedEvent(
            msg.seq, did, f"commit rejected: the event's rev {msg.rev} is not the signed {verified.rev}"
        )
    ops: list[RecordOp] = []
    rejected: list[OpRejection] = []
    for op in msg.ops:
        path: str = op.path
        collection, _, rkey = path.partition("/")
        if not is_ours(collection):
            continue
        uri = f"at://{did}/{path}"
        try:
            if op.action in ("create", "update"):
                if op.cid is None:
                    rejected.append(OpRejection(uri, None, f"{op.action} without a CID"))
                    continue
                cid = cid_bytes(str(op.cid))
                verify.record_in_tree(car, verified.data, path, cid)
                result = read_record(car, did, path, cid, op.action)
                (ops if isinstance(result, RecordOp) else rejected).append(result)  # type: ignore[arg-type]
            elif op.action == "delete":
                verify.record_absent(car, verified.data, path)
                ops.append(RecordOp("delete", did, collection, rkey))
            else:
                rejected.append(OpRejection(uri, None, f"unknown op action {op.action!r}"))
        except (CarError, verify.VerificationError) as e:
            rejected.append(OpRejection(uri, str(op.cid) if op.cid else None, str(e)))
    return CommitEvent(msg.seq, did, verified.rev, verified.identity, tuple(ops), tuple(rejected))
