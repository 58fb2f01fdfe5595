"""One ``com.atproto.sync.subscribeRepos`` frame -> one verified :class:`~events.Event`.

A frame is two DAG-CBOR values, a header ``{op, t}`` and a body, decoded here with ``libipld`` straight
into what verification needs: the fields each message type must have are checked by hand against the
``com.atproto.sync.subscribeRepos`` lexicon (the strict types atproto's pydantic models enforced, which
cost more CPU than the rest of a frame's decoding; every frame failing those checks is still refused,
naming the field). Commits are filtered on their op paths first, so the (large majority of) commits
that touch none of our collections cost one CBOR decode of the frame and nothing more: no CAR parsing,
no signature check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import libipld
from atproto_subscription.frames import ErrorFrameBody

from atdata.errors import NetworkError
from atdata.lexicon.formats import is_did
from atdata.network.identity import IdentityResolver
from atdata_appview.indexed_collections import is_ours
from atdata_appview.ingest import verify
from atdata_appview.ingest.car import CarError, cid_str, read_car, supported_cid
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
# The lexicon's bound on a commit's ops (``com.atproto.sync.subscribeRepos#commit``, maxLength).
MAX_OPS = 200


class StreamError(NetworkError):
    """The server sent an error frame (e.g. FutureCursor, ConsumerTooSlow) and ends the stream."""

    def __init__(self, error: str, message: str | None) -> None:
        self.error = error
        super().__init__(f"firehose error frame {error}: {message or ''}".rstrip(": "))


class _Malformed(NetworkError, ValueError):
    """A frame body field does not have its lexicon type; the message names the field."""


class CommitOp(NamedTuple):
    action: str
    path: str
    cid: bytes | None  # binary CID, as DAG-CBOR links decode


class CommitFrame(NamedTuple):
    """A parsed #commit touching our collections, not yet verified."""

    seq: int
    did: str
    commit: bytes  # binary CID of the commit block
    rev: str
    too_big: bool
    blocks: bytes  # the CAR
    ops: tuple[CommitOp, ...]


# --- the lexicon types of body fields --------------------------------------------------------------


def _link_problem(v: bytes) -> str | None:
    # libipld decodes a link (tag 42) to its binary CID, and checks it is one; a byte string in its
    # place is checked here. Whether the CID is one we can verify (CIDv1, sha2-256) is the verifier's
    # question: a frame naming another kind of CID is well-formed, its commit or op is refused.
    if len(v) == 36 and v[0] == 1 and v[1] < 0x80 and v[2:4] == b"\x12\x20":
        return None
    try:
        libipld.decode_cid(v)
    except ValueError:
        return "must be a CID link"
    return None


def _optional_link_problem(v: bytes | None) -> str | None:
    return None if v is None else _link_problem(v)


def _links_problem(v: list[Any]) -> str | None:
    for i, x in enumerate(v):
        if type(x) is not bytes or _link_problem(x):
            return f"item {i} must be a CID link, not {_shown(x)}"
    return None


def _ops_problem(v: list[Any]) -> str | None:
    if len(v) > MAX_OPS:
        return f"holds {len(v)} ops; at most {MAX_OPS} are allowed"
    for i, op in enumerate(v):
        problem = _problem(op, _OP)
        if problem:
            return f"op {i}: {problem}"
    return None


_NONE = type(None)
# A field: (name, the Python types libipld decodes its lexicon type to, required, a deeper check).
Field = tuple[str, frozenset[type], bool, Callable[[Any], str | None] | None]
_INT, _STR, _BOOL, _BYTES = frozenset({int}), frozenset({str}), frozenset({bool}), frozenset({bytes})
_SEQ: Field = ("seq", _INT, True, None)
_TIME: Field = ("time", _STR, True, None)
_OP: tuple[Field, ...] = (
    ("action", _STR, True, None),
    ("path", _STR, True, None),
    ("cid", frozenset({bytes, _NONE}), False, _optional_link_problem),
    ("prev", frozenset({bytes, _NONE}), False, _optional_link_problem),
)
_FIELDS: dict[str, tuple[Field, ...]] = {
    "#commit": (
        _SEQ,
        ("repo", _STR, True, None),
        ("commit", _BYTES, True, _link_problem),
        ("rev", _STR, True, None),
        ("since", frozenset({str, _NONE}), False, None),
        ("blocks", _BYTES, True, None),
        ("ops", frozenset({list}), True, _ops_problem),
        ("rebase", _BOOL, True, None),
        ("tooBig", _BOOL, True, None),
        ("blobs", frozenset({list}), True, _links_problem),
        _TIME,
        ("prevData", frozenset({bytes, _NONE}), False, _optional_link_problem),
    ),
    "#identity": (_SEQ, ("did", _STR, True, None), _TIME, ("handle", frozenset({str, _NONE}), False, None)),
    "#account": (
        _SEQ,
        ("did", _STR, True, None),
        _TIME,
        ("active", _BOOL, True, None),
        ("status", frozenset({str, _NONE}), False, None),
    ),
    "#sync": (
        _SEQ,
        ("did", _STR, True, None),
        ("rev", _STR, True, None),
        ("blocks", _BYTES, True, None),
        _TIME,
    ),
}


def _problem(value: Any, fields: tuple[Field, ...]) -> str | None:
    """What is wrong with ``value`` as a map of ``fields`` (extra keys are allowed), or None."""
    if type(value) is not dict:
        return f"must be a map, not {_shown(value)}"
    for name, types, required, deeper in fields:
        if name in value:
            v = value[name]
            if type(v) not in types:
                kinds = " or ".join(sorted("null" if t is _NONE else t.__name__ for t in types))
                return f"{name!r} must be {kinds}, not {_shown(v)}"
            if deeper is not None:
                problem = deeper(v)
                if problem:
                    return f"{name!r} {problem}"
        elif required:
            return f"{name!r} is missing"
    return None


def _shown(v: Any) -> str:
    if isinstance(v, (bytes, str)):
        return f"{type(v).__name__} of length {len(v)}"
    if isinstance(v, list):
        return f"a list of {len(v)}"
    return type(v).__name__


def _touches_ours(ops: Any) -> bool:
    if not isinstance(ops, list):
        return True  # malformed: let the full parse reject it with a reason
    for op in ops:
        path = op.get("path") if isinstance(op, dict) else None
        if not isinstance(path, str) or is_ours(path.partition("/")[0]):
            return True
    return False


def _decode(raw: bytes) -> tuple[Any, Any]:
    """(header, body) of a frame; ValueError naming what is wrong."""
    parts = libipld.decode_dag_cbor_multi(raw)
    if len(parts) != 2:
        raise ValueError(f"a frame is a header and a body, not {len(parts)} DAG-CBOR values")
    return parts[0], parts[1]


def parse_frame(raw: bytes) -> Event | CommitFrame:
    """Decode one frame without any network access or signature check. Bad input becomes a
    :class:`RejectedEvent`; an error frame, which ends the stream, raises :class:`StreamError`."""
    try:
        header, body = _decode(raw)
        op = header.get("op") if type(header) is dict else None
        if type(op) is not int or op not in (1, -1):
            raise ValueError(f"the header's op must be 1 or -1, not {_shown(op)}")
        if type(body) is not dict:
            raise ValueError(f"the body must be a map, not {_shown(body)}")
    except (ValueError, RecursionError) as e:  # any decoding failure of untrusted bytes is a rejected frame
        return RejectedEvent(None, None, f"malformed frame: {e}"[:2000])
    seq = body.get("seq")
    seq = seq if type(seq) is int else None
    if len(raw) > MAX_FRAME_BYTES and op == 1:
        # Too big to verify and index: skip it, and take its repo's state from getRepo instead.
        did = _did_of(body)
        return RejectedEvent(
            seq,
            did if did and is_did(did) else None,
            f"frame of {len(raw)} bytes; at most {MAX_FRAME_BYTES} are read",
            resync=True,
        )
    if op == -1:
        try:
            error = ErrorFrameBody(**body)
        except TypeError as e:
            return RejectedEvent(None, None, f"malformed frame: error frame {e}"[:2000])
        raise StreamError(error.error, error.message)
    kind = header.get("t")
    if kind == "#commit" and not _touches_ours(body.get("ops")):
        return SkippedEvent(seq)
    fields = _FIELDS.get(kind) if type(kind) is str else None
    if fields is None:
        if kind == "#info":
            log.info("firehose info: %s", str(body)[:2000])
        return SkippedEvent(seq)
    problem = _problem(body, fields)
    if problem is not None:
        return RejectedEvent(seq, _did_of(body), f"malformed {kind} frame: {problem}"[:2000])
    did = body["repo"] if kind == "#commit" else body["did"]
    if not is_did(did):
        return RejectedEvent(seq, None, f"{kind} frame for {did[:200]!r}, which is not a DID")
    if kind == "#identity":
        return IdentityEvent(seq, did, body.get("handle"))  # type: ignore[arg-type]
    if kind == "#account":
        return AccountEvent(seq, did, body["active"], body.get("status"))  # type: ignore[arg-type]
    if kind == "#sync":
        return ResyncEvent(seq, did, "#sync event")  # type: ignore[arg-type]
    return CommitFrame(
        seq,  # type: ignore[arg-type]
        did,
        body["commit"],
        body["rev"],
        body["tooBig"],
        body["blocks"],
        tuple(CommitOp(op["action"], op["path"], op.get("cid")) for op in body["ops"]),
    )


def verify_frame(parsed: Event | CommitFrame, identities: IdentityResolver) -> Event:
    """Finish a parsed frame: commits are verified (see :func:`_commit`), other events pass through."""
    return _commit(parsed, identities) if isinstance(parsed, CommitFrame) else parsed


def decode_frame(raw: bytes, identities: IdentityResolver) -> Event:
    """Decode and verify one frame (:func:`parse_frame` then :func:`verify_frame`)."""
    return verify_frame(parse_frame(raw), identities)


def _did_of(body: Any) -> str | None:
    if isinstance(body, dict):
        did = body.get("repo") or body.get("did")
        return did if isinstance(did, str) else None
    return None


def _commit(frame: CommitFrame, identities: IdentityResolver) -> Event:
    did, seq = frame.did, frame.seq
    if frame.too_big:
        return ResyncEvent(seq, did, "tooBig commit")
    try:
        car = read_car(frame.blocks)
        verified = verify.verify_commit(car, supported_cid(frame.commit), did, identities)
    except verify.IdentityUnavailable as e:
        return UnverifiedEvent(seq, did, str(e))
    except (CarError, verify.VerificationError) as e:
        return RejectedEvent(seq, did, f"commit rejected: {e}")
    if verified.rev != frame.rev:
        return RejectedEvent(
            seq, did, f"commit rejected: the event's rev {frame.rev} is not the signed {verified.rev}"
        )
    ops: list[RecordOp] = []
    rejected: list[OpRejection] = []
    for op in frame.ops:
        path = op.path
        collection, _, rkey = path.partition("/")
        if not is_ours(collection):
            continue
        try:
            if op.action in ("create", "update"):
                if op.cid is None:
                    rejected.append(OpRejection(f"at://{did}/{path}", None, f"{op.action} without a CID"))
                    continue
                cid = supported_cid(op.cid)
                verify.record_in_tree(car, verified.data, path, cid)
                result = read_record(car, did, path, cid, op.action)
                (ops if isinstance(result, RecordOp) else rejected).append(result)  # type: ignore[arg-type]
            elif op.action == "delete":
                verify.record_absent(car, verified.data, path)
                ops.append(RecordOp("delete", did, collection, rkey))
            else:
                rejected.append(
                    OpRejection(f"at://{did}/{path}", None, f"unknown op action {op.action[:200]!r}")
                )
        except (CarError, verify.VerificationError) as e:
            rejected.append(OpRejection(f"at://{did}/{path}", cid_str(op.cid) if op.cid else None, str(e)))
    return CommitEvent(seq, did, verified.rev, verified.identity, tuple(ops), tuple(rejected))
