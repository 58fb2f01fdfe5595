"""Firehose frames in, verified records out: the ingest on both store backends."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import appview_examples as examples
import libipld
import pytest
from appview_network import LoopbackNetwork, settle
from support.repo_writer import (
    RepoWriter,
    SigningKey,
    account_frame,
    commit_frame,
    identity_frame,
    sync_frame,
)

from atdata.lexicon import default_lexicons
from atdata.lexicon.nsid import LENS, SCHEMA
from atdata.network.identity import IdentityResolver
from atdata_appview.checks import MAX_RECORD_BYTES
from atdata_appview.indexed_collections import DERIVED_TABLE, PREDECESSOR
from atdata_appview.ingest.apply import Applier
from atdata_appview.ingest.car import cid_str
from atdata_appview.ingest.events import SkippedEvent
from atdata_appview.ingest.firehose import FirehoseIngester
from atdata_appview.ingest.heap import YOUNG_THRESHOLD
from atdata_appview.service import Appview
from atdata_appview.store import Store, open_store

SOURCE = "ws://relay.test"


@pytest.fixture
def ingest(appview: Appview) -> FirehoseIngester:
    return appview.ingester(SOURCE)


class Stream:
    """Numbers frames like a relay does."""

    def __init__(self) -> None:
        self.seq = 0

    def commit(self, writer: RepoWriter, writes: list[tuple[str, str, object]], **kw: object) -> bytes:
        self.seq += 1
        return commit_frame(self.seq, writer.did, writer.commit(writes, **kw))  # type: ignore[arg-type]


def schema_path(name: str = "Frame", version: str = "1.0.0") -> str:
    return f"{SCHEMA}/{name}:{version}"


def uri(writer: RepoWriter, path: str) -> str:
    return f"at://{writer.did}/{path}"


def test_a_created_record_is_verified_stored_and_served(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice = network.account()
    ingest.handle_frames([Stream().commit(alice, [("create", schema_path(), examples.schema())])])
    rec = store.record(uri(alice, schema_path()))
    assert rec is not None and rec.value["name"] == "Frame" and rec.valid
    assert rec.cid == cid_str(alice.records[schema_path()][0])
    assert [r["name"] for r in store.derived("schemas")] == ["Frame"]
    assert store.rejections() == []


def test_a_record_whose_strings_hold_nul_characters_is_indexed_on_either_backend(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    # PostgreSQL text cannot hold NUL: the row it indexes has U+FFFD instead, the record stays as published.
    alice = network.account()
    record = examples.schema("Nul\x00Name", doc="before\x00after")
    ingest.handle_frames([Stream().commit(alice, [("create", schema_path(), record)])])
    assert store.rejections() == []
    rec = store.record(uri(alice, schema_path()))
    assert rec is not None and rec.value["description"] == "before\x00after"
    [row] = store.derived("schemas")
    assert (row["name"], row["description"]) == ("Nul\ufffdName", "before\ufffdafter")


def test_updates_replace_and_deletes_remove(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account(), Stream()
    ingest.handle_frames([s.commit(alice, [("create", schema_path(), examples.schema(doc="first"))])])
    ingest.handle_frames([s.commit(alice, [("update", schema_path(), examples.schema(doc="second"))])])
    rec = store.record(uri(alice, schema_path()))
    assert rec is not None and rec.value["description"] == "second"
    ingest.handle_frames([s.commit(alice, [("delete", schema_path(), None)])])
    assert store.records() == [] and store.derived("schemas") == []


def test_the_cursor_moves_with_each_batch(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account(), Stream()
    ingest.handle_frames([s.commit(alice, [("create", schema_path(), examples.schema())])])
    assert store.cursor(SOURCE) == 1
    assert ingest.url().endswith("subscribeRepos?cursor=1")


def test_commits_outside_our_collections_are_skipped_before_their_blocks_are_read(
    ingest: FirehoseIngester, store: Store
) -> None:
    header = libipld.encode_dag_cbor({"op": 1, "t": "#commit"})
    body = libipld.encode_dag_cbor(
        {
            "seq": 5,
            "repo": "did:plc:someoneelse",
            "blocks": b"not a CAR at all",
            "ops": [{"action": "create", "path": "app.bsky.feed.post/3k2", "cid": None}],
        }
    )
    events = ingest.handle_frames([header + body])
    assert events == [SkippedEvent(5)]
    assert store.cursor(SOURCE) == 5 and store.rejections() == [] and store.repos() == []


def test_a_commit_signed_with_the_wrong_key_is_rejected_and_ingest_goes_on(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account(), Stream()
    # Someone else's key, claiming alice's DID; alice's real repo never holds this record.
    mallory = RepoWriter(alice.did, SigningKey())
    forged = s.commit(mallory, [("create", schema_path("Forged"), examples.schema("Forged"))])
    genuine = s.commit(alice, [("create", schema_path(), examples.schema())])
    ingest.handle_frames([forged, genuine])
    assert [r.rkey for r in store.records()] == ["Frame:1.0.0"]
    [rej] = store.rejections()
    assert rej.seq == 1 and "signature does not match" in rej.reason and rej.did == alice.did


def test_the_did_document_is_fetched_again_once_when_the_key_has_rotated(
    appview: Appview, ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account(), Stream()
    ingest.handle_frames([s.commit(alice, [("create", schema_path("A"), examples.schema("A"))])])
    settle(appview)  # the first-seen resync and handle check fetch the document too
    network.rotate_key(alice)  # the cached key is now stale
    fetches = network.doc_fetches
    ingest.handle_frames([s.commit(alice, [("create", schema_path("B"), examples.schema("B"))])])
    assert {r.rkey for r in store.records()} == {"A:1.0.0", "B:1.0.0"}
    assert network.doc_fetches == fetches + 1


def test_p256_signed_repositories_verify(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    bob = network.account("bob.test", curve="p256")
    ingest.handle_frames([Stream().commit(bob, [("create", schema_path(), examples.schema())])])
    assert len(store.records()) == 1


def test_a_malformed_frame_is_logged_and_skipped(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account(), Stream()
    ingest.handle_frames(
        [b"\xff\x00garbage", s.commit(alice, [("create", schema_path(), examples.schema())])]
    )
    assert len(store.records()) == 1
    assert "malformed frame" in store.rejections()[0].reason


def test_a_block_that_does_not_hash_to_its_cid_rejects_the_commit(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice = network.account()
    commit = alice.commit([("create", schema_path(), examples.schema())])
    record_block = alice.records[schema_path()][1]
    tampered = commit.car.replace(record_block, record_block.replace(b"Frame", b"Fraud"))
    frame = commit_frame(
        1, alice.did, type(commit)(commit.cid, commit.rev, commit.since, tampered, commit.ops)
    )
    ingest.handle_frames([frame])
    assert store.records() == [] and "does not hash to its CID" in store.rejections()[0].reason


def test_an_op_claiming_a_record_the_signed_tree_does_not_hold_is_rejected(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice = network.account()
    commit = alice.commit([("create", schema_path(), examples.schema())])
    # A relay swaps the op's path: the block and the signature are genuine, the claim is not.
    ops = [{**commit.ops[0], "path": schema_path("Other")}]
    frame = commit_frame(1, alice.did, type(commit)(commit.cid, commit.rev, commit.since, commit.car, ops))
    ingest.handle_frames([frame])
    assert store.record(uri(alice, schema_path("Other")), include_unserved=True) is None
    assert "signed tree does not hold" in store.rejections()[0].reason


def test_cids_that_are_not_cidv1_sha256_are_refused_by_name(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice = network.account()
    commit = alice.commit([("create", schema_path(), examples.schema())])
    v0 = bytes((0x12, 32)) + commit.cid[4:]  # a CIDv0: well-formed, but no block can be checked by it
    ops = [*commit.ops, {"action": "create", "path": schema_path("Other"), "cid": v0}]
    good_op = commit_frame(1, alice.did, type(commit)(commit.cid, commit.rev, commit.since, commit.car, ops))
    bad_commit = commit_frame(2, alice.did, type(commit)(v0, commit.rev, commit.since, commit.car, ops))
    ingest.handle_frames([good_op, bad_commit])
    assert [r.rkey for r in store.records()] == ["Frame:1.0.0"]
    reasons = [r.reason for r in store.rejections()]
    assert any(r.startswith("unsupported CID Qm") for r in reasons), reasons
    assert any(r.startswith("commit rejected: unsupported CID Qm") for r in reasons), reasons


def test_a_record_of_the_wrong_shape_is_kept_unserved_with_its_report(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice = network.account()
    bad = {**examples.schema(), "version": 3}
    ingest.handle_frames([Stream().commit(alice, [("create", schema_path(), bad)])])
    assert store.records() == []
    kept = store.record(uri(alice, schema_path()), include_unserved=True)
    assert kept is not None and any("$.version" in p for p in kept.report)
    assert "$.version" in store.rejections()[0].reason


def test_an_oversized_record_is_rejected(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice = network.account()
    huge = examples.schema(doc="x" * (MAX_RECORD_BYTES + 1))
    ingest.handle_frames([Stream().commit(alice, [("create", schema_path(), huge)])])
    assert store.records(include_unserved=True) == []
    assert "bytes; at most" in store.rejections()[0].reason


def test_a_record_in_an_unknown_collection_of_ours_is_rejected(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice = network.account()
    ingest.handle_frames(
        [Stream().commit(alice, [("create", "dev.atdata.mystery/x", {"$type": "dev.atdata.mystery"})])]
    )
    assert store.records(include_unserved=True) == []
    assert "unknown collection dev.atdata.mystery" in store.rejections()[0].reason


def test_replaying_frames_changes_nothing(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account(), Stream()
    frames = [
        s.commit(alice, [("create", schema_path("A"), examples.schema("A"))]),
        s.commit(alice, [("create", schema_path("B"), examples.schema("B"))]),
        s.commit(alice, [("delete", schema_path("A"), None)]),
    ]
    ingest.handle_frames(frames)
    before = [(r.uri, r.cid) for r in store.records()]
    ingest.handle_frames(frames)
    assert [(r.uri, r.cid) for r in store.records()] == before
    assert before == [(uri(alice, schema_path("B")), cid_str(alice.records[schema_path("B")][0]))]
    assert store.count("records") == 1 and store.count("schemas") == 1


def test_an_account_taken_down_is_hidden_until_reactivated(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account(), Stream()
    ingest.handle_frames([s.commit(alice, [("create", schema_path(), examples.schema())])])
    ingest.handle_frames([account_frame(10, alice.did, False, "takendown")])
    assert store.records() == [] and store.repo(alice.did).status == "takendown"  # type: ignore[union-attr]
    ingest.handle_frames([account_frame(11, alice.did, True)])
    assert len(store.records()) == 1


def test_a_deleted_account_loses_its_records(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account(), Stream()
    ingest.handle_frames([s.commit(alice, [("create", schema_path(), examples.schema())])])
    ingest.handle_frames([account_frame(10, alice.did, False, "deleted")])
    assert store.records(include_unserved=True) == []


def test_an_identity_event_refreshes_the_handle_in_the_background(
    appview: Appview, ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account("alice.test"), Stream()
    ingest.handle_frames([s.commit(alice, [("create", schema_path(), examples.schema())])])
    network.docs[alice.did]["alsoKnownAs"] = ["at://alice2.test"]
    network.handles["alice2.test"] = alice.did
    ingest.handle_frames([identity_frame(10, alice.did, "alice2.test")])
    deadline = time.monotonic() + 30
    while not appview.refresher.idle() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.repo(alice.did).handle == "alice2.test"  # type: ignore[union-attr]


def test_after_an_identity_event_the_next_commit_is_checked_against_the_new_key(
    appview: Appview, ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account(), Stream()
    ingest.handle_frames([s.commit(alice, [("create", schema_path("A"), examples.schema("A"))])])
    settle(appview)
    old_key = alice.key
    network.rotate_key(alice)
    ingest.handle_frames([identity_frame(10, alice.did)])
    stale = s.commit(alice, [("create", schema_path("B"), examples.schema("B"))], sign_with=old_key)
    ingest.handle_frames([stale])
    assert store.record(uri(alice, schema_path("B"))) is None
    assert "signature does not match" in store.rejections()[0].reason


def test_a_commit_after_an_identity_event_in_the_same_batch_is_checked_against_the_new_key(
    appview: Appview, ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account(), Stream()
    ingest.handle_frames([s.commit(alice, [("create", schema_path("A"), examples.schema("A"))])])
    settle(appview)
    old_key = alice.key
    network.rotate_key(alice)
    identity = identity_frame(10, alice.did)
    stale = s.commit(alice, [("create", schema_path("B"), examples.schema("B"))], sign_with=old_key)
    ingest.handle_frames([identity, stale])
    assert store.record(uri(alice, schema_path("B"))) is None
    assert "signature does not match" in store.rejections()[0].reason


def test_a_record_published_twice_byte_for_byte_is_validated_once(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atdata_appview.ingest import apply

    validated: list[str] = []
    real = apply.record_problems

    def counting(collection: str, value: object, size: int) -> list[str]:
        validated.append(collection)
        return real(collection, value, size)

    monkeypatch.setattr(apply, "record_problems", counting)
    alice, bob, s = network.account("alice.test"), network.account("bob.test"), Stream()
    same = examples.schema()
    ingest.handle_frames([s.commit(alice, [("create", schema_path(), same)])])
    ingest.handle_frames([s.commit(bob, [("create", schema_path(), same)])])
    assert store.record(uri(alice, schema_path())) and store.record(uri(bob, schema_path()))
    assert validated == [SCHEMA]


def test_a_repo_seen_for_the_first_time_is_backfilled(
    appview: Appview, ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice = network.account()
    # Written before the appview followed the stream: only a backfill can know them.
    alice.commit(
        [
            ("create", schema_path("Old"), examples.schema("Old")),
            ("create", "app.bsky.feed.post/1", {"text": "hi"}),
        ]
    )
    ingest.handle_frames([Stream().commit(alice, [("create", schema_path("New"), examples.schema("New"))])])
    settle(appview)
    assert {r.rkey for r in store.records()} == {"Old:1.0.0", "New:1.0.0"}


def test_a_sync_event_makes_the_store_match_the_repo(
    appview: Appview, ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account(), Stream()
    ingest.handle_frames([s.commit(alice, [("create", schema_path("A"), examples.schema("A"))])])
    # Changes the stream never carried (say, a repo migrated between hosts), then #sync.
    alice.commit([("delete", schema_path("A"), None), ("create", schema_path("B"), examples.schema("B"))])
    ingest.handle_frames([sync_frame(s.seq + 1, alice)])
    settle(appview)
    assert [r.rkey for r in store.records()] == ["B:1.0.0"]


def test_a_sync_event_for_a_repo_we_do_not_index_fetches_nothing(
    appview: Appview, ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    stranger = network.account("stranger.test")
    stranger.commit([("create", "app.bsky.feed.post/1", {"text": "not ours"})])
    ingest.handle_frames([sync_frame(1, stranger)])
    settle(appview)
    assert store.repos() == [] and store.cursor(SOURCE) == 1


def test_on_demand_backfill_makes_the_store_match_the_repo(
    appview: Appview, network: LoopbackNetwork, store: Store
) -> None:
    alice = network.account()
    alice.commit(
        [
            ("create", schema_path("A"), examples.schema("A")),
            ("create", schema_path("B"), examples.schema("B")),
        ]
    )
    appview.applier.backfill(alice.did)
    alice.commit([("delete", schema_path("A"), None)])
    snap = appview.applier.backfill(alice.did)
    assert [r.rkey for r in store.records()] == ["B:1.0.0"] and store.repo(alice.did).rev == snap.rev  # type: ignore[union-attr]


def test_a_lens_is_indexed_with_its_schemas(
    ingest: FirehoseIngester, network: LoopbackNetwork, store: Store
) -> None:
    alice, s = network.account(), Stream()
    ingest.handle_frames(
        [
            s.commit(
                alice,
                [
                    ("create", schema_path("A"), examples.schema("A")),
                    ("create", schema_path("B"), examples.schema("B")),
                ],
            )
        ]
    )
    a, b = (store.record(uri(alice, schema_path(n))) for n in "AB")
    assert a is not None and b is not None
    lens = examples.lens(examples.strong_ref(a.uri, a.cid), examples.strong_ref(b.uri, b.cid))
    ingest.handle_frames([s.commit(alice, [("create", f"{LENS}/a_to_b:1.0.0", lens)])])
    [row] = store.derived("lenses")
    assert (row["source_uri"], row["target_uri"], row["code_ok"]) == (a.uri, b.uri, 1)


def test_setting_up_ingest_freezes_what_exists_and_collects_young_objects_less_often(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'heap.db'}")
    try:
        Applier(store, IdentityResolver("http://127.0.0.1:9"))
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        store.close()


def test_setting_up_ingest_generates_the_lexicon_check_of_every_indexed_collection(tmp_path: Path) -> None:
    checks = default_lexicons()._record_checks
    checks.clear()  # generated again on demand
    store = open_store(f"sqlite:///{tmp_path / 'checks.db'}")
    try:
        Applier(store, IdentityResolver("http://127.0.0.1:9"))
    finally:
        store.close()
    assert {c for c in DERIVED_TABLE if c not in PREDECESSOR} <= set(checks)
