"""A loopback stand-in for the network around an appview: PLC directory and repo host over real HTTP."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from support.repo_writer import RepoWriter, SigningKey, did_document


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # concurrent DID fetches must not overflow the listen backlog
    daemon_threads = True


class LoopbackNetwork:
    """DID documents (as a PLC directory serves them), repo exports (as a PDS's getRepo does) and
    handles (as a PDS's resolveHandle does), over real HTTP on loopback, for repositories the tests
    write with :class:`RepoWriter`."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, object]] = {}
        self.handles: dict[str, str] = {}  # handle -> DID, what resolveHandle answers
        self.repos: dict[str, RepoWriter] = {}
        self.doc_fetches = 0
        self.plc_down = False  # answer every DID document request 503, as a PLC in an outage
        handler = self._handler()
        self._server = _Server(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def account(self, handle: str = "alice.test", curve: str = "k256") -> RepoWriter:
        did = "did:plc:" + uuid.uuid4().hex[:24]
        writer = RepoWriter(did, SigningKey(curve))
        self.repos[did] = writer
        self.docs[did] = did_document(did, writer.key, handle, self.url)
        self.handles[handle] = did
        return writer

    def rotate_key(self, writer: RepoWriter, handle: str = "alice.test") -> None:
        writer.key = SigningKey()
        self.docs[writer.did] = did_document(writer.did, writer.key, handle, self.url)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        net = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/xrpc/com.atproto.sync.getRepo":
                    did = parse_qs(parts.query).get("did", [""])[0]
                    writer = net.repos.get(did)
                    if writer is None or writer.head is None:
                        self._send(400, b'{"error":"RepoNotFound"}', "application/json")
                    else:
                        self._send(200, writer.export(), "application/vnd.ipld.car")
                    return
                if parts.path == "/xrpc/com.atproto.identity.resolveHandle":
                    did = net.handles.get(parse_qs(parts.query).get("handle", [""])[0])
                    if did is None:
                        self._send(
                            400,
                            b'{"error":"InvalidRequest","message":"Unable to resolve handle"}',
                            "application/json",
                        )
                    else:
                        self._send(200, json.dumps({"did": did}).encode(), "application/json")
                    return
                if net.plc_down:
                    self._send(503, b'{"message":"down for maintenance"}', "application/json")
                    return
                doc = net.docs.get(parts.path.lstrip("/"))
                net.doc_fetches += 1
                if doc is None:
                    self._send(404, b'{"message":"DID not registered"}', "application/json")
                else:
                    self._send(200, json.dumps(doc).encode(), "application/json")

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def settle(appview: object, timeout: float = 30.0) -> None:
    """Wait until ``appview`` (an :class:`~atdata_appview.service.Appview`) has no resync or handle
    check pending: background work done, the index as the events so far make it."""
    import time

    deadline = time.monotonic() + timeout
    while not appview.idle():  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise AssertionError(f"the appview did not settle within {timeout} s")
        time.sleep(0.02)
