"""``IdentityResolver.forget`` (an ``#identity`` event): a DID document whose fetch began before it is
never cached, so nothing fetched before an ``#identity`` is trusted after it (a loopback did:web
host serves the documents, and holds answers back to make the race happen every time)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from atproto_crypto.consts import SECP256K1_JWT_ALG
from atproto_crypto.did import format_multikey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from atdata.network.identity import IdentityResolver


def multikey() -> str:
    public = ec.generate_private_key(ec.SECP256K1()).public_key()
    raw = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return format_multikey(SECP256K1_JWT_ALG, raw)


class Host:
    """The document's current key, the requests served, and a gate that holds answers back."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.requests = 0
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = threading.Event()


@contextmanager
def did_web_host(host: Host) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            did = f"did:web:localhost%3A{self.server.server_address[1]}"
            key = host.key  # the document as it is when the request arrives
            host.requests += 1
            host.arrived.set()
            host.gate.wait(10)
            doc = {
                "id": did,
                "alsoKnownAs": ["at://carol.example.com"],
                "verificationMethod": [
                    {"id": f"{did}#atproto", "type": "Multikey", "controller": did, "publicKeyMultibase": key}
                ],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": "https://pds.example.com",
                    }
                ],
            }
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"did:web:localhost%3A{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_document_fetched_before_forget_is_never_trusted_after_it() -> None:
    old, new = multikey(), multikey()
    host = Host(old)
    resolver = IdentityResolver()
    with did_web_host(host) as did:
        host.gate.clear()
        early: list[str] = []
        fetching = threading.Thread(target=lambda: early.append(resolver.resolve_did(did).signing_key))
        fetching.start()
        assert host.arrived.wait(10)  # that fetch has the old document in hand
        resolver.forget(did)  # an #identity: the key changed
        host.key = new
        host.gate.set()
        fetching.join(10)
        later = resolver.resolve_did(did)
    resolver.close()
    assert early == [f"did:key:{old}"]  # returned to the caller who asked before the #identity
    assert later.signing_key == f"did:key:{new}"
    assert host.requests == 2
