"""The appview against the official PDS and PLC (the registry's dev stack) on loopback.

Records are written with plain ``com.atproto.repo.*`` calls; the appview must see them through the
PDS's own firehose or its ``getRepo``, verified against the DID documents the PLC serves.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import appview_examples as examples
import httpx
import pytest
from support.appview_process import AppviewProcess, start
from support.repo_writer import RepoWriter, SigningKey, commit_frame

from atdata.cli.main import main as atdata_main
from atdata.lexicon.nsid import SCHEMA
from atdata.network.identity import IdentityResolver
from atdata_appview.ingest.events import CommitEvent, RejectedEvent
from atdata_appview.ingest.frames import decode_frame
from atdata_appview.service import Appview
from atdata_appview.store import Store, open_store
from atdata_registry.devstack import DevStack

pytestmark = pytest.mark.integration


class PdsAccount:
    """An account on the dev stack's PDS, writing records with bare XRPC calls."""

    def __init__(self, stack: DevStack) -> None:
        self.handle = f"av{uuid.uuid4().hex[:10]}.test"
        password = f"pw-{uuid.uuid4().hex}"
        self.did = stack.create_account(self.handle, password)
        self.http = httpx.Client(base_url=stack.pds, timeout=30)
        session = self.http.post(
            "/xrpc/com.atproto.server.createSession", json={"identifier": self.handle, "password": password}
        )
        session.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {session.json()['accessJwt']}"

    def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.http.post(f"/xrpc/{method}", json={"repo": self.did, **body})
        resp.raise_for_status()
        return dict(resp.json())

    def create(self, collection: str, rkey: str, record: dict[str, Any]) -> dict[str, Any]:
        return self._call(
            "com.atproto.repo.createRecord", {"collection": collection, "rkey": rkey, "record": record}
        )

    def put(self, collection: str, rkey: str, record: dict[str, Any]) -> dict[str, Any]:
        return self._call(
            "com.atproto.repo.putRecord", {"collection": collection, "rkey": rkey, "record": record}
        )

    def delete(self, collection: str, rkey: str) -> None:
        self._call("com.atproto.repo.deleteRecord", {"collection": collection, "rkey": rkey})

    def listed(self, collection: str) -> set[tuple[str, str]]:
        """(uri, cid) of every record the PDS holds in ``collection``."""
        out: set[tuple[str, str]] = set()
        cursor = None
        while True:
            params = {"repo": self.did, "collection": collection, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = self.http.get("/xrpc/com.atproto.repo.listRecords", params=params).json()
            out |= {(r["uri"], r["cid"]) for r in page["records"]}
            cursor = page.get("cursor")
            if not cursor or not page["records"]:
                return out


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60.0, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"timed out waiting until {what}\n{tail}")
        time.sleep(0.1)


def indexed(store: Store, did: str) -> set[tuple[str, str]]:
    return {(r.uri, r.cid) for r in store.records(did=did)}


@pytest.fixture
def account(dev_stack: DevStack) -> PdsAccount:
    return PdsAccount(dev_stack)


@pytest.fixture
def following(store: Store, dev_stack: DevStack) -> Iterator[Appview]:
    appview = Appview(store, plc_url=dev_stack.plc, handle_resolver=dev_stack.pds)
    appview.follow(pdses=[dev_stack.pds])
    yield appview
    appview.close()


def test_records_written_to_the_pds_are_ingested_live_and_verified(
    account: PdsAccount, following: Appview, store: Store
) -> None:
    first = account.create(SCHEMA, "A:1.0.0", examples.schema("A"))
    wait_until("the first record is indexed", lambda: len(indexed(store, account.did)) == 1)
    # The repo is known now: everything below arrives as verified firehose commits.
    account.create(SCHEMA, "B:1.0.0", examples.schema("B"))
    account.put(SCHEMA, "A:1.0.0", examples.schema("A", doc="changed"))
    account.create(SCHEMA, "C:1.0.0", examples.schema("C"))
    account.delete(SCHEMA, "C:1.0.0")
    expected = account.listed(SCHEMA)
    wait_until("the index matches the PDS", lambda: indexed(store, account.did) == expected)
    assert first["cid"] not in {cid for _, cid in expected}  # the update really changed A
    assert store.rejections() == []
    wait_until(
        "the handle is checked both ways",
        lambda: (store.repo(account.did) or object()).handle == account.handle,
    )  # type: ignore[attr-defined]
    repo = store.repo(account.did)
    assert repo is not None and repo.signing_key is not None


def test_backfill_indexes_an_existing_repo(account: PdsAccount, dev_stack: DevStack, db_url: str) -> None:
    for name in ("A", "B", "C"):
        account.create(SCHEMA, f"{name}:1.0.0", examples.schema(name))
    account.create("com.example.note", "n1", {"$type": "com.example.note", "text": "not ours"})
    assert atdata_main(["appview", "backfill", account.did, "--db", db_url, "--plc", dev_stack.plc]) == 0
    store = open_store(db_url)
    try:
        assert indexed(store, account.did) == account.listed(SCHEMA)
        assert store.repo(account.did).rev is not None  # type: ignore[union-attr]
    finally:
        store.close()


def test_a_commit_signed_with_a_key_not_in_the_did_document_is_rejected(
    account: PdsAccount, dev_stack: DevStack
) -> None:
    identities = IdentityResolver(dev_stack.plc)
    try:
        mallory = RepoWriter(account.did, SigningKey())  # the real DID, someone else's key
        frame = commit_frame(
            1, account.did, mallory.commit([("create", f"{SCHEMA}/X:1.0.0", examples.schema("X"))])
        )
        event = decode_frame(frame, identities)
        assert isinstance(event, RejectedEvent) and "signature does not match" in event.reason
        # The DID document (from the real PLC) names another key: that is the only fault in the frame.
        assert identities.resolve(account.did).signing_key != mallory.key.did_key
    finally:
        identities.close()


def test_a_commit_from_the_pds_verifies_with_the_plc_key(account: PdsAccount, dev_stack: DevStack) -> None:
    """The frame handler accepts what the real PDS signs (the converse of the test above)."""
    from websockets.sync.client import connect

    identities = IdentityResolver(dev_stack.plc)
    ws_url = dev_stack.pds.replace("http://", "ws://") + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0"
    account.create(SCHEMA, "Live:1.0.0", examples.schema("Live"))
    try:
        with connect(ws_url) as ws:
            while True:
                event = decode_frame(ws.recv(timeout=30), identities)  # type: ignore[arg-type]
                if isinstance(event, CommitEvent) and event.did == account.did and event.ops:
                    break
        assert [op.rkey for op in event.ops] == ["Live:1.0.0"]
    finally:
        identities.close()


def _serve(db_url: str, stack: DevStack, log: Path) -> AppviewProcess:
    # Not waiting for it to answer: a kill may land before it does, as in a real crash loop.
    return start(db_url, log_file=log, pds=[stack.pds], plc=stack.plc, handle_resolver=stack.pds, wait=False)


def test_sigkills_mid_stream_lose_and_duplicate_nothing(
    account: PdsAccount, dev_stack: DevStack, db_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "appview.log"
    kills_done = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        # Creates, updates and deletes, so a lost or replayed event would show in the final state.
        # It keeps writing until the last kill is over, so every kill lands while events flow.
        try:
            i = 0
            while not kills_done.is_set() and i < 1000:
                account.create(SCHEMA, f"T{i}:1.0.0", examples.schema(f"T{i}"))
                if i % 3 == 2:
                    account.put(SCHEMA, f"T{i - 1}:1.0.0", examples.schema(f"T{i - 1}", doc="updated"))
                if i % 5 == 4:
                    account.delete(SCHEMA, f"T{i - 2}:1.0.0")
                i += 1
        except BaseException as e:
            errors.append(e)
        finally:
            done.set()

    reader = open_store(db_url)
    appview = _serve(db_url, dev_stack, log)
    writer = threading.Thread(target=write)
    try:
        account.create(SCHEMA, "Ready:1.0.0", examples.schema("Ready"))
        wait_until("the appview follows the PDS", lambda: len(indexed(reader, account.did)) == 1, log=log)
        writer.start()
        for kill_at in (8, 20, 32):  # three kills, each while the PDS is still emitting events
            wait_until(
                f"{kill_at} records are indexed",
                lambda n=kill_at: len(indexed(reader, account.did)) >= n,
                log=log,
            )
            appview.kill()
            assert not errors and not done.is_set(), f"the writer ended before kill at {kill_at}: {errors}"
            appview = _serve(db_url, dev_stack, log)
        kills_done.set()
        writer.join(timeout=120)
        assert not errors
        expected = account.listed(SCHEMA)
        wait_until(
            "the restarted appview catches up", lambda: indexed(reader, account.did) == expected, log=log
        )
        # One row per record, in the records table and in the derived index alike.
        assert len(reader.records(did=account.did, include_unserved=True)) == len(expected)
        assert len(reader.derived("schemas", did=account.did)) == len(expected)
        assert [r for r in reader.rejections() if r.did == account.did] == []
    finally:
        kills_done.set()
        appview.kill()
        if writer.is_alive():
            writer.join(timeout=120)
        reader.close()
