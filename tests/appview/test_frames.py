"""Frame parsing: libipld straight into what verification needs, refusing every frame atproto's own
parser (``Frame.from_bytes`` + its pydantic models, which the ingest used before) refused, with a
message naming the field. Each hostile frame is also run through atproto's parser here, so a case
that parser would have let through cannot pass for a refusal it made."""

from __future__ import annotations

from typing import Any

import libipld
import pytest
from atproto_firehose import parse_subscribe_repos_message
from atproto_subscription.frames import Frame
from support.repo_writer import (
    RepoWriter,
    SigningKey,
    account_frame,
    commit_frame,
    identity_frame,
    sync_frame,
)

from atdata.lexicon.nsid import SCHEMA
from atdata_appview.ingest.car import cid_bytes, cid_of
from atdata_appview.ingest.events import (
    AccountEvent,
    IdentityEvent,
    RejectedEvent,
    ResyncEvent,
    SkippedEvent,
)
from atdata_appview.ingest.frames import MAX_OPS, CommitFrame, CommitOp, StreamError, parse_frame

PATH = f"{SCHEMA}/Frame:1.0.0"


@pytest.fixture(scope="module")
def writer() -> RepoWriter:
    return RepoWriter("did:plc:framesframesframes0000", SigningKey())


@pytest.fixture(scope="module")
def honest(writer: RepoWriter) -> bytes:
    return commit_frame(7, writer.did, writer.commit([("create", PATH, {"$type": SCHEMA, "name": "F"})]))


def _parts(raw: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    header, body = libipld.decode_dag_cbor_multi(raw)
    return header, body


def _frame(header: Any, body: Any) -> bytes:
    return libipld.encode_dag_cbor(header) + libipld.encode_dag_cbor(body)


def _with(raw: bytes, **changes: Any) -> bytes:
    """``raw`` with body fields replaced (a value of ``...`` removes the field)."""
    header, body = _parts(raw)
    for name, value in changes.items():
        if value is ...:
            body.pop(name, None)
        else:
            body[name] = value
    return _frame(header, body)


def atproto_refuses(raw: bytes) -> bool:
    """Whether atproto's parser (the one the ingest used before) refuses ``raw``."""
    try:
        frame = Frame.from_bytes(raw)
        if frame.is_error:
            return False
        parse_subscribe_repos_message(frame)  # type: ignore[arg-type]
    except Exception:
        return True
    return False


def test_an_honest_commit_parses_to_what_atprotos_model_holds(honest: bytes) -> None:
    parsed = parse_frame(honest)
    model: Any = parse_subscribe_repos_message(Frame.from_bytes(honest))  # type: ignore[arg-type]
    assert isinstance(parsed, CommitFrame)
    assert (parsed.seq, parsed.did, parsed.rev, parsed.too_big) == (model.seq, model.repo, model.rev, False)
    assert parsed.blocks == model.blocks
    assert libipld.encode_cid(parsed.commit) == str(model.commit)
    assert parsed.ops == tuple(CommitOp(op.action, op.path, cid_bytes(str(op.cid))) for op in model.ops)


def test_identity_account_and_sync_frames_become_their_events(writer: RepoWriter) -> None:
    handle = "alice.test"
    assert parse_frame(identity_frame(3, writer.did, handle)) == IdentityEvent(3, writer.did, handle)
    assert parse_frame(identity_frame(4, writer.did)) == IdentityEvent(4, writer.did, None)
    assert parse_frame(account_frame(5, writer.did, False, "takendown")) == AccountEvent(
        5, writer.did, False, "takendown"
    )
    assert parse_frame(sync_frame(6, writer)) == ResyncEvent(6, writer.did, "#sync event")


def test_an_error_frame_ends_the_stream_with_its_error() -> None:
    raw = _frame({"op": -1}, {"error": "FutureCursor", "message": "cursor in the future"})
    with pytest.raises(StreamError, match="FutureCursor: cursor in the future"):
        parse_frame(raw)


@pytest.mark.parametrize(
    ("case", "mutate", "says"),
    [
        ("undecodable CBOR", lambda raw: b"\xff\x00garbage", "malformed frame"),
        ("trailing value", lambda raw: raw + libipld.encode_dag_cbor(0), "not 3 DAG-CBOR values"),
        ("trailing garbage", lambda raw: raw + b"\xff", "malformed frame"),
        ("header alone", lambda raw: raw[: len(libipld.encode_dag_cbor(_parts(raw)[0]))], "not 1 DAG-CBOR"),
        ("header not a map", lambda raw: _frame([1, "#commit"], _parts(raw)[1]), "op must be 1 or -1"),
        ("unknown op", lambda raw: _frame({"op": 2, "t": "#commit"}, _parts(raw)[1]), "op must be 1 or -1"),
        ("body not a map", lambda raw: _frame(_parts(raw)[0], [1, 2]), "the body must be a map, not a list"),
        ("seq a string", lambda raw: _with(raw, seq="7"), "'seq' must be int, not str"),
        ("seq a boolean", lambda raw: _with(raw, seq=True), "'seq' must be int, not bool"),
        ("repo missing", lambda raw: _with(raw, repo=...), "'repo' is missing"),
        ("repo a number", lambda raw: _with(raw, repo=5), "'repo' must be str, not int"),
        ("commit not a CID", lambda raw: _with(raw, commit=b"\x01\x71junk"), "'commit' must be a CID link"),
        ("rev missing", lambda raw: _with(raw, rev=...), "'rev' is missing"),
        ("since a number", lambda raw: _with(raw, since=3), "'since' must be null or str, not int"),
        ("blocks a list", lambda raw: _with(raw, blocks=[b"x"]), "'blocks' must be bytes, not a list of 1"),
        ("tooBig missing", lambda raw: _with(raw, tooBig=...), "'tooBig' is missing"),
        ("rebase a number", lambda raw: _with(raw, rebase=0), "'rebase' must be bool, not int"),
        ("time missing", lambda raw: _with(raw, time=...), "'time' is missing"),
        ("blobs not CIDs", lambda raw: _with(raw, blobs=["x"]), "'blobs' item 0 must be a CID link, not str"),
        ("prevData not a CID", lambda raw: _with(raw, prevData=b"nope"), "'prevData' must be a CID link"),
        (
            "an op without its action",
            lambda raw: _with(raw, ops=[{"path": PATH, "cid": cid_of(b"r")}]),
            "'ops' op 0: 'action' is missing",
        ),
        (
            "an op whose cid is not a CID",
            lambda raw: _with(raw, ops=[{"action": "create", "path": PATH, "cid": b"\x00" * 36}]),
            "'ops' op 0: 'cid' must be a CID link",
        ),
        (
            "an op that is not a map",
            lambda raw: _with(raw, ops=[{"action": "create", "path": PATH, "cid": None}, "delete"]),
            "'ops' op 1: must be a map, not str",
        ),
        (
            "more ops than the lexicon allows",
            lambda raw: _with(raw, ops=[{"action": "delete", "path": PATH, "cid": None}] * (MAX_OPS + 1)),
            f"'ops' holds {MAX_OPS + 1} ops; at most {MAX_OPS} are allowed",
        ),
    ],
)
def test_a_malformed_commit_frame_is_refused_naming_what_is_wrong(
    honest: bytes, case: str, mutate: Any, says: str
) -> None:
    raw = mutate(honest)
    assert atproto_refuses(raw), f"{case}: atproto's parser took it; not a refusal the old path made"
    event = parse_frame(raw)
    assert isinstance(event, RejectedEvent), case
    assert says in event.reason, (case, event.reason)


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        (lambda did: _with(identity_frame(3, did), handle=7), "malformed #identity frame: 'handle' must be"),
        (lambda did: _with(identity_frame(3, did), did=...), "malformed #identity frame: 'did' is missing"),
        (lambda did: _with(account_frame(3, did, True), active="yes"), "'active' must be bool, not str"),
        (lambda did: _with(account_frame(3, did, True), status=[]), "'status' must be null or str"),
    ],
)
def test_malformed_identity_and_account_frames_are_refused(writer: RepoWriter, frame: Any, says: str) -> None:
    raw = frame(writer.did)
    assert atproto_refuses(raw)
    event = parse_frame(raw)
    assert isinstance(event, RejectedEvent) and says in event.reason, event


def test_a_frame_for_something_that_is_not_a_did_is_refused(honest: bytes) -> None:
    event = parse_frame(_with(honest, repo="mallory"))
    assert isinstance(event, RejectedEvent)
    assert event.reason == "#commit frame for 'mallory', which is not a DID"


def test_a_commit_outside_our_collections_is_skipped_unexamined(honest: bytes) -> None:
    # Its other fields are not even read: the ingest does not pay for what it does not index.
    raw = _with(honest, ops=[{"action": "create", "path": "app.bsky.feed.post/3k", "cid": None}], time=...)
    assert parse_frame(raw) == SkippedEvent(7)


def test_extra_fields_are_allowed_as_atprotos_models_allow_them(honest: bytes) -> None:
    raw = _with(honest, futureField={"x": 1})
    assert not atproto_refuses(raw)
    assert isinstance(parse_frame(raw), CommitFrame)


# A value of every DAG-CBOR kind (links included), and removal (...), to put in place of each field.
_VALUES: list[Any] = [
    ...,
    None,
    True,
    0,
    -1,
    2**64 - 1,
    "",
    "did:plc:framesframesframes0000",
    b"",
    b"\x01\x71junk",
    cid_of(b"a block"),
    bytes((0x12, 32)) + bytes(32),  # a CIDv0
    [],
    [0],
    [cid_of(b"b")],
    [{"action": "create", "path": PATH, "cid": cid_of(b"r")}],
    {},
    {"k": 1},
]
_TOP_FIELDS = [
    *("seq", "repo", "commit", "rev", "since", "blocks", "ops", "rebase", "tooBig", "blobs", "time"),
    *("prevData", "did", "handle", "active", "status"),
]


def _changed(raw: bytes, name: str, value: Any, *, in_op: bool = False) -> bytes:
    header, body = _parts(raw)
    target = body["ops"][0] if in_op else body
    if value is ...:
        target.pop(name, None)
    else:
        target[name] = value
    return _frame(header, body)


def test_every_field_change_atprotos_parser_refuses_is_refused() -> None:
    did = "did:plc:framesframesframes0000"
    honest = {
        "#commit": _COMMIT,
        "#identity": identity_frame(3, did, "alice.test"),
        "#account": account_frame(3, did, True),
    }
    cases = [(kind, name, v, False) for kind in honest for name in _TOP_FIELDS for v in _VALUES]
    cases += [("#commit", name, v, True) for name in ("action", "path", "cid", "prev") for v in _VALUES]
    missed = []
    refused_by_atproto = 0
    for kind, name, value, in_op in cases:
        raw = _changed(honest[kind], name, value, in_op=in_op)
        event = parse_frame(raw)  # never raises: every byte is untrusted
        if atproto_refuses(raw) and not isinstance(event, SkippedEvent):
            refused_by_atproto += 1
            if not isinstance(event, RejectedEvent):
                missed.append((kind, "op." + name if in_op else name, value))
        if isinstance(event, RejectedEvent):
            assert event.reason.startswith((f"malformed {kind} frame: ", f"{kind} frame for ")), event.reason
    assert not missed, missed
    assert refused_by_atproto > 150  # the cases are refusals, not changes any parser takes


_COMMIT = commit_frame(
    7,
    "did:plc:framesframesframes0000",
    RepoWriter("did:plc:framesframesframes0000", SigningKey()).commit(
        [("create", PATH, {"$type": SCHEMA, "name": "F"})]
    ),
)
