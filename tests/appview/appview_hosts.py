"""A repo host on loopback as an appview meets one: ``subscribeRepos`` and ``getRepo`` on one port.

Each :class:`FakeHost` is what a PDS looks like from outside (its accounts' DID documents, served by a
:class:`~appview_network.LoopbackNetwork`, name it as their PDS), and it can misbehave on request:
send any frame (forged, oversize, about other hosts' accounts), serve a poison or slow ``getRepo``.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import libipld
from appview_network import LoopbackNetwork
from support.repo_writer import (
    RepoWriter,
    SigningKey,
    commit_frame,
    did_document,
    next_tid,
)
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from atdata.lexicon.nsid import SCHEMA
from atdata_appview.ingest.car import cid_of, cid_str, read_car, write_car
from atdata_appview.store import Store


class FakeHost:
    def __init__(self, network: LoopbackNetwork) -> None:
        self.network = network
        self.frames: list[tuple[int, bytes]] = []
        self.seq = 0
        self.connections = 0
        self.exports: dict[str, bytes] = {}  # did -> what getRepo answers instead of the real export
        self.slow: dict[str, float] = {}  # did -> seconds getRepo waits before answering
        self.get_repos: list[str] = []
        self.close_at_once = False  # accept each connection, then drop it (a host that fails)
        self._lock = threading.Lock()
        self._server: Server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._http,
            open_timeout=None,
            compression=None,
            max_size=None,
        )
        port = self._server.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    # --- accounts and frames ---------------------------------------------------------------
    def account(self, handle: str | None = None) -> RepoWriter:
        """An account whose DID document names this host as its PDS (and, if given, claims ``handle``,
        which resolves back to it)."""
        did = "did:plc:" + uuid.uuid4().hex[:24]
        writer = RepoWriter(did, SigningKey())
        self.network.repos[did] = writer
        self.network.docs[did] = did_document(did, writer.key, handle, self.url)
        if handle:
            self.network.handles[handle] = did
        return writer

    def send(self, frame: bytes) -> int:
        """Queue a raw frame under the next seq (which the caller must have put in it)."""
        with self._lock:
            self.frames.append((self.seq, frame))
        return self.seq

    def next_seq(self) -> int:
        with self._lock:
            self.seq += 1
            return self.seq

    def commit(self, writer: RepoWriter, writes: list[tuple[str, str, Any]], **kw: Any) -> int:
        """A genuine commit of ``writer`` on this host's firehose; returns its seq."""
        seq = self.next_seq()
        return self.send(commit_frame(seq, writer.did, writer.commit(writes, **kw)))

    def tampered(
        self,
        writer: RepoWriter,
        writes: list[tuple[str, str, Any]],
        *,
        extra_ops: list[dict[str, Any]] = (),
        strip_tree: bool = False,
    ) -> int:  # type: ignore[assignment]
        """A commit genuinely signed by ``writer`` with ``extra_ops`` appended to its op list (the
        signature covers the tree, not the list) and, with ``strip_tree``, its MST nodes left out."""
        c = writer.commit(writes)
        if strip_tree:
            car = read_car(c.car)
            records = {cid for cid, _ in writer.records.values()}
            c = replace(
                c, car=write_car(c.cid, {k: v for k, v in car.blocks.items() if k == c.cid or k in records})
            )
        c = replace(c, ops=[*c.ops, *extra_ops])
        seq = self.next_seq()
        return self.send(commit_frame(seq, writer.did, c))

    # --- the server ------------------------------------------------------------------------
    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        if not request.path.startswith("/xrpc/com.atproto.sync.getRepo"):
            return None  # the websocket handshake goes on
        did = request.path.partition("did=")[2].partition("&")[0].replace("%3A", ":")
        self.get_repos.append(did)
        time.sleep(self.slow.get(did, 0.0))
        body = self.exports.get(did)
        if body is None:
            writer = self.network.repos.get(did)
            if writer is None or writer.head is None:
                return _response(400, b'{"error":"RepoNotFound"}', "application/json")
            body = writer.export()
        return _response(200, body, "application/vnd.ipld.car")

    def _handle(self, ws: ServerConnection) -> None:
        with self._lock:
            self.connections += 1
        if self.close_at_once:
            return
        query = ws.request.path.partition("?")[2] if ws.request else ""
        cursor = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("cursor")
        sent = int(cursor) if cursor and cursor.isdigit() else 0
        with contextlib.suppress(Exception):
            while True:
                with self._lock:
                    todo = [(s, f) for s, f in self.frames if s > sent]
                for s, frame in todo:
                    ws.send(frame)
                    sent = s
                with contextlib.suppress(TimeoutError):
                    ws.recv(timeout=0.05)  # raises once the client is gone

    def close(self) -> None:
        self._server.shutdown()


def _response(status: int, body: bytes, ctype: str) -> Response:
    headers = Headers({"Content-Type": ctype, "Content-Length": str(len(body))})
    return Response(status, "OK" if status == 200 else "Bad Request", headers, body)


def signed_export(writer: RepoWriter, root: bytes, blocks: dict[bytes, bytes]) -> bytes:
    """A repo export whose commit, genuinely signed by ``writer``, points at any tree ``root``."""
    unsigned = {"did": writer.did, "version": 3, "data": root, "rev": next_tid(), "prev": None}
    block = libipld.encode_dag_cbor({**unsigned, "sig": writer.key.sign(libipld.encode_dag_cbor(unsigned))})
    head = cid_of(block)
    return write_car(head, {head: block, **blocks})


def node(entries: list[dict[str, Any]], left: bytes | None, blocks: dict[bytes, bytes]) -> bytes:
    block = libipld.encode_dag_cbor({"e": entries, "l": left})
    cid = cid_of(block)
    blocks[cid] = block
    return cid


def wait_until(
    what: str, check: Callable[[], bool], timeout: float = 60.0, log: Callable[[], str] | None = None
) -> float:
    start_ = time.monotonic()
    while not check():
        if time.monotonic() - start_ > timeout:
            raise AssertionError(f"timed out waiting for {what}\n{log() if log else ''}")
        time.sleep(0.05)
    return time.monotonic() - start_


def path(name: str) -> str:
    return f"{SCHEMA}/{name}:1.0.0"


def held(store: Store, writer: RepoWriter) -> dict[str, str]:
    """uri -> cid of what the index holds of ``writer``'s repo."""
    return {r.uri: r.cid for r in store.records(did=writer.did, include_unserved=True)}


def repo_state(writer: RepoWriter) -> dict[str, str]:
    """uri -> cid of what ``writer``'s repo really holds in our collections."""
    return {
        f"at://{writer.did}/{p}": cid_str(cid)
        for p, (cid, _) in writer.records.items()
        if p.startswith("dev.atdata.")
    }
