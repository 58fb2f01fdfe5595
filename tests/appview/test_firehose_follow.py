"""Following a firehose over a real websocket: faults are rejected while ingest keeps going, and a
reconnect resumes from the committed cursor."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import appview_examples as examples
import libipld
import pytest
from appview_network import LoopbackNetwork
from support.repo_writer import RepoWriter, SigningKey, commit_frame
from websockets.sync.server import Server, ServerConnection, serve

from atdata.lexicon.nsid import SCHEMA
from atdata_appview.checks import MAX_RECORD_BYTES
from atdata_appview.service import Appview
from atdata_appview.store import Store


class Relay:
    """A websocket relay on loopback replaying prepared frames (each tagged with its seq) after the
    cursor a client asks for, then holding the connection open."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, bytes]] = []
        self.cursors: list[str | None] = []
        self._server: Server = serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handle(self, ws: ServerConnection) -> None:
        query = ws.request.path.partition("?")[2] if ws.request else ""
        cursor = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("cursor")
        self.cursors.append(cursor)
        for seq, frame in self.frames:
            if cursor is None or seq > int(cursor):
                ws.send(frame)
        with contextlib.suppress(Exception):
            ws.recv()  # until the client goes away

    def close(self) -> None:
        self._server.shutdown()


@pytest.fixture
def relay() -> Iterator[Relay]:
    r = Relay()
    yield r
    r.close()


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_faulty_frames_are_rejected_while_good_ones_are_ingested(
    relay: Relay, network: LoopbackNetwork, appview: Appview, store: Store
) -> None:
    alice = network.account()
    mallory = RepoWriter(alice.did, SigningKey())
    good = [("create", f"{SCHEMA}/Good{i}:1.0.0", examples.schema(f"Good{i}")) for i in range(3)]
    relay.frames = [
        (1, commit_frame(1, alice.did, alice.commit([good[0]]))),
        (2, b"\x00\x01 not cbor"),
        (
            3,
            libipld.encode_dag_cbor({"op": 1, "t": "#commit"})
            + libipld.encode_dag_cbor({"seq": 3, "ops": 7}),
        ),
        (
            4,
            commit_frame(
                4, alice.did, mallory.commit([("create", f"{SCHEMA}/Evil:1.0.0", examples.schema("Evil"))])
            ),
        ),
        (
            5,
            commit_frame(
                5,
                alice.did,
                alice.commit(
                    [("create", f"{SCHEMA}/Huge:1.0.0", examples.schema(doc="x" * MAX_RECORD_BYTES))]
                ),
            ),
        ),
        (
            6,
            commit_frame(
                6,
                alice.did,
                alice.commit([("create", "dev.atdata.unheard/x", {"$type": "dev.atdata.unheard"})]),
            ),
        ),
        (
            7,
            commit_frame(
                7, alice.did, alice.commit([("create", f"{SCHEMA}/Bad:1.0.0", {"$type": SCHEMA, "name": 1})])
            ),
        ),
        (8, commit_frame(8, alice.did, alice.commit(good[1:]))),
    ]
    appview.follow(relays=[relay.url])
    wait_until(lambda: store.cursor(relay.url) == 8)
    assert sorted(r.rkey for r in store.records()) == ["Good0:1.0.0", "Good1:1.0.0", "Good2:1.0.0"]
    reasons = " | ".join(r.reason for r in store.rejections())
    for expected in (
        "malformed frame",
        "malformed #commit",
        "signature does not match",
        "bytes; at most",
        "unknown collection",
        "$.name",
    ):
        assert expected in reasons


def test_a_reconnect_resumes_after_the_last_committed_event(
    relay: Relay, network: LoopbackNetwork, store: Store
) -> None:
    alice = network.account()
    relay.frames = [
        (
            seq,
            commit_frame(
                seq,
                alice.did,
                alice.commit([("create", f"{SCHEMA}/S{seq}:1.0.0", examples.schema(f"S{seq}"))]),
            ),
        )
        for seq in (1, 2, 3)
    ]
    first = Appview(store, plc_url=network.url)
    first.follow(relays=[relay.url])
    wait_until(lambda: store.cursor(relay.url) == 3)
    first.close()
    second = Appview(store, plc_url=network.url)
    second.follow(relays=[relay.url])
    wait_until(lambda: len(relay.cursors) == 2)
    second.close()
    assert relay.cursors == [None, "3"] and store.count("records") == 3
