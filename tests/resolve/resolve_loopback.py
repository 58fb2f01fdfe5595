"""A loopback account host for tests without the dev stack: one did:web document and a PDS's getRecord.

The DID document names the same server as the account's PDS, so identity resolution and record
fetching go over real HTTP. ``records`` maps ``collection/rkey`` to ``(cid the PDS claims, value)``,
which tests may set to anything, including lies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from atproto_crypto.consts import SECP256K1_JWT_ALG
from atproto_crypto.did import format_multikey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from support.loopback_http import serving


def multikey() -> str:
    public = ec.generate_private_key(ec.SECP256K1()).public_key()
    raw = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return format_multikey(SECP256K1_JWT_ALG, raw)


@dataclass
class LoopbackAccount:
    did: str
    url: str
    handle: str
    records: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


@contextmanager
def loopback_account(handle: str = "carol.example.com") -> Iterator[LoopbackAccount]:
    key = multikey()
    holder: list[LoopbackAccount] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            account = holder[0]
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/did.json":
                self._json(200, _document(account, key))
                return
            if parts.path == "/xrpc/com.atproto.repo.getRecord":
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                found = account.records.get(f"{q.get('collection')}/{q.get('rkey')}")
                if found is None or ("cid" in q and q["cid"] != found[0]):
                    self._json(400, {"error": "RecordNotFound", "message": "Could not locate record"})
                    return
                uri = f"at://{account.did}/{q['collection']}/{q['rkey']}"
                self._json(200, {"uri": uri, "cid": found[0], "value": found[1]})
                return
            self._json(404, {"error": "NotFound"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    holder.append(LoopbackAccount(f"did:web:localhost%3A{port}", f"http://localhost:{port}", handle))
    with serving(server):
        yield holder[0]


def _document(account: LoopbackAccount, key: str) -> dict[str, Any]:
    did = account.did
    return {
        "id": did,
        "alsoKnownAs": [f"at://{account.handle}"],
        "verificationMethod": [
            {"id": f"{did}#atproto", "type": "Multikey", "controller": did, "publicKeyMultibase": key}
        ],
        "service": [
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": account.url}
        ],
    }


@contextmanager
def loopback_appview(answers: dict[str, Any]) -> Iterator[str]:
    """An appview that answers each query NSID with ``answers[nsid]`` (a body, or an XRPC error name
    as ``("error", name)``), whatever the parameters: a peer whose word is not to be taken."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            nsid = urlsplit(self.path).path.removeprefix("/xrpc/")
            answer = answers.get(nsid, ("error", "NotFound"))
            status, body = (400, {"error": answer[1]}) if isinstance(answer, tuple) else (200, answer)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with serving(server) as port:
        yield f"http://127.0.0.1:{port}"
