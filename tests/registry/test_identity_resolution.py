"""Identity: handle -> DID -> DID document -> PDS and signing key, against the real local PDS and PLC."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from atproto_crypto.consts import SECP256K1_JWT_ALG
from atproto_crypto.did import format_multikey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from support.loopback_http import serving

from atdata.cli.main import main
from atdata.errors import IdentityError, LocationRefusedError, NetworkError
from atdata.network.guard import Guard, guarding
from atdata.network.identity import (
    DEFAULT_PLC_URL,
    MAX_DOCUMENT_BYTES,
    Identity,
    IdentityResolver,
    did_web_url,
    normalize_handle,
)
from atdata.network.keepalive import KeepAlive
from atdata.network.tls import ssl_context

# --- pure parts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["", "alice", "alice..test", "-alice.test", "alice.123", "al ice.test", "a_b.test"]
)
def test_malformed_handle_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(IdentityError, match="not a valid handle"):
        normalize_handle(bad)


def test_handle_is_lowercased_and_loses_its_at_sign() -> None:
    assert normalize_handle("@Alice.Bsky.Social") == "alice.bsky.social"


def test_did_web_is_fetched_over_https_from_a_public_host() -> None:
    assert did_web_url("did:web:example.com") == "https://example.com/.well-known/did.json"


def test_did_web_on_loopback_is_fetched_over_http_with_its_port() -> None:
    assert did_web_url("did:web:localhost%3A8080") == "http://localhost:8080/.well-known/did.json"


def test_defaults_are_the_public_network() -> None:
    resolver = IdentityResolver()
    assert resolver.plc_url == DEFAULT_PLC_URL == "https://plc.directory"
    assert resolver.pds_url is None


def test_malformed_did_is_refused_before_any_request() -> None:
    with pytest.raises(IdentityError, match="not a valid DID"):
        IdentityResolver(plc_url="http://127.0.0.1:9").resolve_did("did:plc:")


def test_unsupported_did_method_is_refused() -> None:
    with pytest.raises(IdentityError, match="unsupported DID method 'key'"):
        IdentityResolver().resolve_did("did:key:zQ3shPCbSYkcB7xVundmi7hwPgNQuzbjz9SFsnC7bYuqpTvg8")


# --- against the local network ----------------------------------------------------------------


@pytest.mark.integration
def test_test_handle_resolves_through_the_local_pds_and_plc(account: Any) -> None:
    who = IdentityResolver(plc_url=account.plc, pds_url=account.pds, use_dns=False).resolve(account.handle)
    assert who.did == account.did
    assert who.handle == account.handle
    assert who.pds == account.pds
    assert who.signing_key.startswith("did:key:z")
    assert who.document["id"] == account.did


@pytest.mark.integration
def test_handle_unknown_to_the_pds_is_an_identity_error(dev_stack: Any) -> None:
    resolver = IdentityResolver(plc_url=dev_stack.plc, pds_url=dev_stack.pds, use_dns=False)
    with pytest.raises(IdentityError, match=r"nobody-here\.test"):
        resolver.resolve_handle("nobody-here.test")


@pytest.mark.integration
def test_unknown_did_is_an_identity_error(dev_stack: Any) -> None:
    with pytest.raises(IdentityError, match="unknown DID did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"):
        IdentityResolver(plc_url=dev_stack.plc).resolve_did("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")


@pytest.mark.integration
def test_cli_exits_non_zero_on_an_unknown_did(dev_stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["identity", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "--plc", dev_stack.plc]) == 1
    assert "unknown DID" in capsys.readouterr().err


def test_cli_exits_non_zero_on_an_invalid_handle(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["identity", "not a handle"]) == 1
    assert "not a valid handle" in capsys.readouterr().err


@pytest.mark.integration
def test_cli_prints_the_resolved_identity_as_json(account: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["identity", account.handle, "--pds", account.pds, "--plc", account.plc, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["did"], out["handle"], out["pds"]) == (account.did, account.handle, account.pds)


# --- did:web against a loopback http server ------------------------------------------------
# Each runs twice: fetched in this process, and in the child process an appview's ingest uses.


@pytest.fixture(params=["this process", "child process"])
def resolver(request: pytest.FixtureRequest) -> Iterator[IdentityResolver]:
    r = IdentityResolver(separate_process=request.param == "child process", timeout=2.0)
    yield r
    r.close()


def _multikey() -> str:
    public = ec.generate_private_key(ec.SECP256K1()).public_key()
    raw = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return format_multikey(SECP256K1_JWT_ALG, raw)


class _Host:
    """What a did:web host serves: the document's current key (no document if None), how many
    requests it answered, and a gate that holds answers back to make races happen every time."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.requests = 0
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = threading.Event()


@contextmanager
def _did_web_host(host: _Host) -> Iterator[str]:
    """A loopback http server holding one did:web document; yields the DID."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            did = f"did:web:localhost%3A{self.server.server_address[1]}"
            key = host.key  # the document as it is when the request arrives
            host.requests += 1
            host.arrived.set()
            host.gate.wait(10)
            found = key is not None and self.path == "/.well-known/did.json"
            body = json.dumps(_web_document(did, key)).encode() if key is not None and found else b""
            self.send_response(200 if found else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with serving(server) as port:
        yield f"did:web:localhost%3A{port}"


def _web_document(did: str, key: str) -> dict[str, Any]:
    return {
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


@pytest.mark.integration
def test_did_web_document_gives_the_pds_and_signing_key(resolver: IdentityResolver) -> None:
    key = _multikey()
    with _did_web_host(_Host(key)) as did:
        who = resolver.resolve_did(did)
    assert who.pds == "https://pds.example.com"
    assert who.signing_key == f"did:key:{key}"
    assert who.handle == "carol.example.com"


@pytest.mark.integration
def test_did_web_host_without_a_document_means_an_unknown_did(resolver: IdentityResolver) -> None:
    with _did_web_host(_Host(None)) as did, pytest.raises(IdentityError, match="unknown DID"):
        resolver.resolve_did(did)


@pytest.mark.integration
def test_a_document_fetched_before_forget_is_never_trusted_after_it(resolver: IdentityResolver) -> None:
    """``forget`` (an #identity event): a document whose fetch began before it is returned to its
    caller but never cached, so nothing fetched before an #identity is trusted after it."""
    old, new = _multikey(), _multikey()
    host = _Host(old)
    with _did_web_host(host) as did:
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
    assert early == [f"did:key:{old}"]
    assert later.signing_key == f"did:key:{new}"
    assert host.requests == 2


@pytest.mark.integration
def test_prefetch_returns_at_once_and_a_resolve_meanwhile_waits_for_its_fetch(
    resolver: IdentityResolver,
) -> None:
    """The ingest prefetches the documents of a batch and verifies meanwhile: ``prefetch`` does not
    wait for the answers, and a ``resolve`` of a DID being fetched takes that answer (one request)."""
    host = _Host(_multikey())
    with _did_web_host(host) as did:
        host.gate.clear()
        resolver.prefetch([did])  # returns while the host holds its answer back
        assert host.arrived.wait(10)
        got: list[str] = []
        waiting = threading.Thread(target=lambda: got.append(resolver.resolve_did(did).signing_key))
        waiting.start()
        host.gate.set()
        waiting.join(10)
    assert got == [f"did:key:{host.key}"]
    assert host.requests == 1


@pytest.mark.integration
def test_a_prefetch_begun_before_forget_is_not_waited_for_after_it(resolver: IdentityResolver) -> None:
    """An #identity arriving while a prefetch is under way: the next resolve fetches again and gets
    the new key; the old answer is neither cached nor handed to it."""
    old, new = _multikey(), _multikey()
    host = _Host(old)
    with _did_web_host(host) as did:
        host.gate.clear()
        resolver.prefetch([did])
        assert host.arrived.wait(10)  # the prefetch has the old document in hand
        resolver.forget(did)
        host.key = new
        host.gate.set()
        later = resolver.resolve_did(did)
        again = resolver.resolve_did(did)
    assert later.signing_key == again.signing_key == f"did:key:{new}"
    assert host.requests == 2


def test_did_web_cannot_smuggle_a_path_into_the_url() -> None:
    with pytest.raises(IdentityError, match="not a host name"):
        did_web_url("did:web:example.com%2Fevil")


# --- hostile hosts: huge, slow, wrong ---------------------------------------------------------


@contextmanager
def _raw_host(answer: Any) -> Iterator[str]:
    """A loopback host whose every GET is answered by ``answer(handler, did)``; yields its did:web."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            answer(self, f"did:web:localhost%3A{self.server.server_address[1]}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with serving(server) as port:
        yield f"did:web:localhost%3A{port}"


def _handle_resolver(host: str, separate_process: bool) -> IdentityResolver:
    """A resolver asking the :func:`_raw_host` of did:web ``host`` as its PDS (resolveHandle)."""
    url = did_web_url(host).removesuffix("/.well-known/did.json")
    return IdentityResolver(pds_url=url, use_dns=False, separate_process=separate_process)


def _json(
    handler: BaseHTTPRequestHandler,
    body: bytes,
    *,
    length: int | None = None,
    status: int = 200,
    encoding: str | None = None,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    if encoding is not None:
        handler.send_header("Content-Encoding", encoding)
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.mark.integration
def test_a_document_declared_larger_than_the_limit_is_refused_naming_its_host(
    resolver: IdentityResolver,
) -> None:
    def huge(h: BaseHTTPRequestHandler, did: str) -> None:
        _json(h, b"{", length=MAX_DOCUMENT_BYTES + 1)  # never sends the rest: the header suffices

    with _raw_host(huge) as did, pytest.raises(IdentityError, match=r"localhost:\d+.*more than the limit"):
        resolver.resolve_did(did)


def _endless_json(h: BaseHTTPRequestHandler, did: str) -> None:
    """A host answering 200 with a chunked body that never stops short of 4 MiB."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    chunk = b" " * 65536
    try:
        for _ in range(64):  # 4 MiB, far past the limit
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:
        pass  # the resolver hung up, as it should


@pytest.mark.integration
def test_a_document_streamed_past_the_limit_without_a_length_is_refused(resolver: IdentityResolver) -> None:
    with _raw_host(_endless_json) as did, pytest.raises(IdentityError, match="more than the limit"):
        resolver.resolve_did(did)


@pytest.mark.integration
def test_a_host_trickling_its_document_is_cut_off_as_too_slow(resolver: IdentityResolver) -> None:
    """Each byte comes well within the read timeout, so only a deadline on the whole answer stops it."""

    def trickle(h: BaseHTTPRequestHandler, did: str) -> None:
        body = json.dumps(_web_document(did, _multikey())).encode()
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        try:
            for i in range(len(body)):
                h.wfile.write(body[i : i + 1])
                h.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    with _raw_host(trickle) as did, pytest.raises(NetworkError, match=r"localhost:\d+.*too slow"):
        resolver.resolve_did(did)


@pytest.mark.integration
def test_a_compressed_document_is_refused_naming_its_host(resolver: IdentityResolver) -> None:
    """Asked for ``Accept-Encoding: identity``, a host answering gzip anyway is refused before its
    body is read: a compressed body would escape the size cap until decompressed."""

    def gzipped(h: BaseHTTPRequestHandler, did: str) -> None:
        _json(h, gzip.compress(json.dumps(_web_document(did, _multikey())).encode()), encoding="gzip")

    with _raw_host(gzipped) as did, pytest.raises(IdentityError, match=r"localhost:\d+.*compressed \(gzip\)"):
        resolver.resolve_did(did)


@pytest.mark.integration
@pytest.mark.parametrize("separate_process", [False, True])
def test_a_handle_answered_compressed_resolves_as_uncompressed(separate_process: bool) -> None:
    """The child's direct path leaves a compressed resolveHandle answer to the XRPC client, which
    reads it as this process does."""

    def pds(h: BaseHTTPRequestHandler, did: str) -> None:
        _json(
            h,
            gzip.compress(json.dumps({"did": "did:plc:abcdefghijklmnopqrstuvwx"}).encode()),
            encoding="gzip",
        )

    with _raw_host(pds) as did:
        resolver = _handle_resolver(did, separate_process)
        assert resolver.resolve_handle("alice.test") == "did:plc:abcdefghijklmnopqrstuvwx"
        resolver.close()


class _KeepAliveHost:
    """What an HTTP/1.1 did:web host saw: requests per connection, and the connections whose
    client hung up."""

    def __init__(self, did: str) -> None:
        self.did = did
        self.connections: list[int] = []
        self.hung_up: list[int] = []
        self.hang_up = threading.Event()


@contextmanager
def _keep_alive_host(*, closes_after_each: bool = False) -> Iterator[_KeepAliveHost]:
    """An HTTP/1.1 did:web host. ``closes_after_each``: it hangs up after every answer without
    saying so (as a host whose idle timeout has passed does)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.index = len(host.connections)
            host.connections.append(0)

        def do_GET(self) -> None:
            host.connections[self.index] += 1
            _json(self, json.dumps(_web_document(host.did, key)).encode())
            self.close_connection = closes_after_each

        def finish(self) -> None:
            super().finish()
            if not closes_after_each:
                host.hung_up.append(self.index)
                host.hang_up.set()

        def log_message(self, *args: Any) -> None:
            pass

    key = _multikey()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with serving(server) as port:
        host = _KeepAliveHost(f"did:web:localhost%3A{port}")
        yield host


@pytest.mark.integration
def test_documents_asked_one_after_another_share_one_kept_alive_connection() -> None:
    resolver = IdentityResolver(direct_http=True)
    with _keep_alive_host() as host:
        for _ in range(3):
            resolver.fetch_document(host.did)
    resolver.close()
    assert host.connections == [3]


@pytest.mark.integration
def test_a_kept_alive_connection_the_host_closed_meanwhile_is_replaced_by_a_new_one() -> None:
    resolver = IdentityResolver(direct_http=True)
    with _keep_alive_host(closes_after_each=True) as host:
        keys = {resolver.fetch_document(host.did).signing_key for _ in range(3)}
    resolver.close()
    assert len(keys) == 1
    assert host.connections == [1, 1, 1]


@pytest.mark.integration
def test_idle_connections_are_capped_in_all_the_longest_idle_closed_first() -> None:
    """did:web hosts are anyone's: many of them must not hold as many sockets open."""
    pool = KeepAlive(2.0, ssl_context(), max_idle=2)
    with contextlib.ExitStack() as stack:
        hosts = [stack.enter_context(_keep_alive_host()) for _ in range(3)]
        for host in hosts:
            with pool.get(did_web_url(host.did), {}) as answer:
                answer.read()
        assert hosts[0].hang_up.wait(10)  # the third one idle made the first one go
        still_open = [list(host.hung_up) for host in hosts[1:]]
        pool.close()
        assert all(host.hang_up.wait(10) for host in hosts[1:])
    assert still_open == [[], []]


@pytest.mark.integration
def test_a_document_of_another_did_is_refused(resolver: IdentityResolver) -> None:
    def other(h: BaseHTTPRequestHandler, did: str) -> None:
        _json(h, json.dumps(_web_document("did:web:example.com", _multikey())).encode())

    with _raw_host(other) as did, pytest.raises(IdentityError, match=r"is for 'did:web:example\.com'"):
        resolver.resolve_did(did)


@pytest.mark.integration
def test_a_redirected_document_is_followed_and_checked(resolver: IdentityResolver) -> None:
    """The child's direct path (http.client) leaves redirects to httpx, whose policy follows them."""

    def moved(h: BaseHTTPRequestHandler, did: str) -> None:
        if h.path == "/.well-known/did.json":
            h.send_response(302)
            h.send_header("Location", "/moved/did.json")
            h.send_header("Content-Length", "0")
            h.end_headers()
        else:
            _json(h, json.dumps(_web_document(did, _multikey())).encode())

    with _raw_host(moved) as did:
        assert resolver.resolve_did(did).pds == "https://pds.example.com"


@pytest.mark.integration
@pytest.mark.parametrize("separate_process", [False, True])
def test_a_handle_the_pds_answers_with_an_xrpc_error_does_not_resolve(separate_process: bool) -> None:
    def pds(h: BaseHTTPRequestHandler, did: str) -> None:
        _json(
            h,
            json.dumps({"error": "InvalidRequest", "message": "Unable to resolve handle"}).encode(),
            status=400,
        )

    with _raw_host(pds) as did:
        resolver = _handle_resolver(did, separate_process)
        with pytest.raises(IdentityError, match=r"did not resolve to a DID \(tried http://localhost:\d+"):
            resolver.resolve_handle("alice.test")
        resolver.close()


@pytest.mark.integration
def test_a_resolve_handle_answer_streamed_past_the_limit_is_refused_by_the_child() -> None:
    with _raw_host(_endless_json) as did:
        resolver = _handle_resolver(did, True)
        with pytest.raises(IdentityError, match=r"resolveHandle answer of http://localhost:\d+.*more than"):
            resolver.resolve_handle("alice.test")
        resolver.close()


@pytest.mark.integration
@pytest.mark.parametrize("separate_process", [False, True])
def test_a_handle_answered_with_something_not_a_did_is_unverified(separate_process: bool) -> None:
    def pds(h: BaseHTTPRequestHandler, did: str) -> None:
        _json(h, json.dumps({"did": "javascript:alert(1)"}).encode())

    with _raw_host(pds) as did:
        resolver = _handle_resolver(did, separate_process)
        with pytest.raises(IdentityError, match="which is not a DID"):
            resolver.resolve_handle("alice.test")
        resolver.close()


@pytest.mark.integration
@pytest.mark.parametrize("separate_process", [False, True])
def test_verified_handles_keeps_each_handle_that_resolves_back_to_its_own_did(separate_process: bool) -> None:
    """The refresher checks a batch's handles together: alice's resolves back to her DID; bob's to
    someone else's; carol's PDS answers an XRPC error; dave claims none."""
    alice, bob, carol, dave = (f"did:plc:{name:a<24}" for name in ("alice", "bob", "carol", "dave"))

    def pds(h: BaseHTTPRequestHandler, did: str) -> None:
        handle = h.path.partition("handle=")[2]
        if handle == "carol.test":
            _json(h, b"{}", status=400)
        else:
            _json(h, json.dumps({"did": alice if handle == "alice.test" else carol}).encode())

    def ident(did: str, handle: str | None) -> Identity:
        return Identity(did, handle, "https://pds.example.com", "did:key:z", {})

    with _raw_host(pds) as host:
        resolver = _handle_resolver(host, separate_process)
        got = resolver.verified_handles(
            [
                ident(alice, "alice.test"),
                ident(bob, "bob.test"),
                ident(carol, "carol.test"),
                ident(dave, None),
            ]
        )
        resolver.close()
    assert got == ["alice.test", None, None, None]


@pytest.mark.integration
def test_under_a_location_guard_the_child_process_is_not_used_and_loopback_is_refused() -> None:
    """The child would not obey the guard of this context: under one, fetches stay here."""
    with _did_web_host(_Host(_multikey())) as did, guarding(Guard.of()):
        resolver = IdentityResolver(separate_process=True)
        with pytest.raises(LocationRefusedError, match="loopback"):
            resolver.resolve_did(did)


@pytest.mark.integration
def test_a_fetch_held_by_an_identity_process_that_dies_fails_and_the_next_one_starts_a_new_process() -> None:
    host = _Host(_multikey())
    resolver = IdentityResolver(separate_process=True)
    assert resolver._child is not None
    with _did_web_host(host) as did:
        host.gate.clear()
        failed: list[BaseException] = []

        def fetch() -> None:
            try:
                resolver.resolve_did(did)
            except NetworkError as e:
                failed.append(e)

        fetching = threading.Thread(target=fetch)
        fetching.start()
        assert host.arrived.wait(10)
        first = resolver._child.pid()
        os.kill(first, signal.SIGKILL)
        fetching.join(10)
        host.gate.set()
        again = resolver.resolve_did(did)
    resolver.close()
    assert len(failed) == 1 and "identity process ended" in str(failed[0])
    assert again.signing_key == f"did:key:{host.key}"
    assert resolver._child.pid() != first


@pytest.mark.integration
def test_fetching_tells_whether_a_prefetch_is_still_under_way(resolver: IdentityResolver) -> None:
    """The ingest verifies the commits whose documents are still on their way last."""
    host = _Host(_multikey())
    with _did_web_host(host) as did:
        host.gate.clear()
        resolver.prefetch([did])
        assert host.arrived.wait(10)
        during = resolver.fetching(did)
        host.gate.set()
        resolver.resolve_did(did)
        after = resolver.fetching(did)
    assert (during, after) == (True, False)


@pytest.mark.integration
def test_when_the_identity_process_cannot_start_documents_are_fetched_in_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from atdata.network import identity_process

    monkeypatch.setattr(identity_process, "_shared", None)
    monkeypatch.setattr(sys, "executable", "/bin/false")  # exits at once, never ready
    resolver = IdentityResolver(separate_process=True)
    monkeypatch.undo()
    host = _Host(_multikey())
    with _did_web_host(host) as did:
        who = resolver.resolve_did(did)
    resolver.close()
    assert resolver._child is None
    assert who.signing_key == f"did:key:{host.key}"


@pytest.mark.integration
def test_a_prefetch_stuck_past_its_deadline_fails_the_resolve_without_asking_again() -> None:
    """The identity process frozen (or a host holding every byte): the verification waits one deadline
    (two timeouts and a second), then gives up rather than send the same request again."""
    resolver = IdentityResolver(separate_process=True, timeout=0.5)
    assert resolver._child is not None
    host = _Host(_multikey())
    with _did_web_host(host) as did:
        child = resolver._child.pid()
        os.kill(child, signal.SIGSTOP)
        try:
            resolver.prefetch([did])
            with pytest.raises(NetworkError, match=r"localhost:\d+.*no answer within 2s$"):
                resolver.resolve_did(did)
        finally:
            os.kill(child, signal.SIGCONT)
    resolver.close()
    assert host.requests <= 1


@pytest.mark.integration
def test_in_the_child_hosts_holding_their_answers_do_not_hold_up_another_host() -> None:
    """The child serves a quick network from one thread, and starts more only when a request waits
    behind busy ones: three did:web hosts holding their answers back, then a fourth that answers
    at once, which is resolved while the three still hold theirs."""
    resolver = IdentityResolver(separate_process=True, timeout=2.0)
    slow_hosts = [_Host(_multikey()) for _ in range(3)]
    quick = _Host(_multikey())
    with contextlib.ExitStack() as stack:
        slow = [stack.enter_context(_did_web_host(host)) for host in slow_hosts]
        for host in slow_hosts:
            host.gate.clear()
        try:
            resolver.prefetch(slow)
            for host in slow_hosts:
                assert host.arrived.wait(10)  # each held by a worker of its own
            with _did_web_host(quick) as did:
                who = resolver.resolve_did(did)  # within its deadline (5s), before the others' 10s
        finally:
            for host in slow_hosts:
                host.gate.set()
        answers = [resolver.resolve_did(did).signing_key for did in slow]
    resolver.close()
    assert who.signing_key == f"did:key:{quick.key}"
    assert answers == [f"did:key:{host.key}" for host in slow_hosts]
    assert [host.requests for host in slow_hosts] == [1, 1, 1]
