"""Hostile DID documents and hostile HTTP clients against a running ``atdata appview serve``.

Handles are stored only after the two-way check; every answer passes its output lexicon (no 500s,
whatever authors' DID documents say); malformed parameters answer 400; every error on ``/xrpc/`` and
at unknown paths is a JSON XRPC error; oversize request lines and heads answer 414/431; idle and
half-sent connections are closed.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator

import appview_examples as examples
import httpx
import pytest
from appview_hosts import FakeHost, held, path, wait_until
from appview_network import LoopbackNetwork
from support.appview_process import AppviewProcess, start

from atdata.lexicon import nsid as N
from atdata.lexicon.nsid import SCHEMA
from atdata_appview.ingest.firehose import source_key
from atdata_appview.store import Store, open_store
from atdata_appview.xrpc.transport import HEAD_TIMEOUT, MAX_HEAD, MAX_REQUEST_LINE


class Indexed:
    def __init__(self, process: AppviewProcess, store: Store, dids: dict[str, str]) -> None:
        self.process, self.store, self.dids = process, store, dids

    def get(self, nsid: str, **params: object) -> httpx.Response:
        return httpx.get(f"{self.process.url}/xrpc/{nsid}", params=params, timeout=10)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def indexed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    """Three authors of a schema ``Frame``: alice (a handle that checks out), an impostor whose DID
    document claims alice's handle, and one whose document claims a handle that is not a handle.
    One appview process per backend for the whole module: the attacks below change nothing."""
    tmp_path = tmp_path_factory.mktemp("hostile-http")
    if request.param == "sqlite":
        db_url = f"sqlite:///{tmp_path / 'appview.db'}"
    else:
        import psycopg

        admin = request.getfixturevalue("postgres_server")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE hostile_http")
        db_url = admin.rsplit("/", 1)[0] + "/hostile_http"
    network = LoopbackNetwork()
    host = FakeHost(network)
    alice = host.account("alice.test")
    impostor = host.account()
    network.docs[impostor.did]["alsoKnownAs"] = ["at://alice.test"]
    weird = host.account()
    network.docs[weird.did]["alsoKnownAs"] = ["at://not a handle!", "at://ALICE.test"]
    for writer in (alice, impostor, weird):
        host.commit(writer, [("create", path("Frame"), examples.schema("Frame"))])
    process = start(
        db_url, log_file=tmp_path / "serve.log", pds=[host.url], plc=network.url, handle_resolver=network.url
    )
    store = open_store(db_url, migrate=False)
    try:
        wait_until(
            "the three authors",
            lambda: (
                store.cursor(source_key(host.url)) == host.seq
                and not store.queued_resyncs()
                and all(len(held(store, w)) == 1 for w in (alice, impostor, weird))
                and all(r.signing_key for r in store.repos())
                and process.answers()
            ),
            log=process.log,
        )
        # The handle checks run after the first commit; wait for alice's to land.
        wait_until("alice's handle", lambda: (store.repo(alice.did) or object()).handle == "alice.test")  # type: ignore[attr-defined]
        yield Indexed(process, store, {"alice": alice.did, "impostor": impostor.did, "weird": weird.did})
    finally:
        store.close()
        process.stop()
        host.close()
        network.close()


def test_a_handle_is_stored_only_when_it_resolves_back_to_the_did(indexed: Indexed) -> None:
    handles = {name: (indexed.store.repo(did) or object()).handle for name, did in indexed.dids.items()}  # type: ignore[attr-defined]
    assert handles == {"alice": "alice.test", "impostor": None, "weird": None}
    body = indexed.get(N.RESOLVE_SCHEMA, name="alice.test/Frame").json()
    assert body["schema"]["author"] == indexed.dids["alice"] and "candidates" not in body


def test_hostile_did_documents_cause_no_server_errors(indexed: Indexed) -> None:
    answers = [
        indexed.get(N.SEARCH_SCHEMAS, q="Frame"),
        indexed.get(N.RESOLVE_SCHEMA, name="Frame", trusted=indexed.dids["weird"]),
        indexed.get(N.LIST_DATASETS),
        indexed.get(N.LIST_LENSES),
        indexed.get(N.DESCRIBE_SERVICE),
    ]
    for did in indexed.dids.values():
        uri = f"at://{did}/{SCHEMA}/Frame:1.0.0"
        answers += [indexed.get(N.GET_SCHEMA, uri=uri), indexed.get(N.RESOLVE_SCHEMA, name=f"{did}/Frame")]
    assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers]
    assert len(answers[0].json()["schemas"]) == 3


@pytest.mark.parametrize("cursor", ["²", "9223372036854775808", "1" * 400, "-1", "1e3", " 1", "abc"])
@pytest.mark.parametrize("nsid", [N.SEARCH_SCHEMAS, N.LIST_LENSES, N.LIST_DATASETS])
def test_malformed_cursors_answer_400(indexed: Indexed, nsid: str, cursor: str) -> None:
    resp = indexed.get(nsid, cursor=cursor, **({"q": "Frame"} if nsid == N.SEARCH_SCHEMAS else {}))
    assert resp.status_code == 400 and resp.json()["error"] == "InvalidRequest", resp.text


@pytest.mark.parametrize("params", [{"limit": "abc"}, {"limit": "100000"}, {"limit": "²"}, {"nope": "1"}])
def test_malformed_parameters_answer_400(indexed: Indexed, params: dict[str, str]) -> None:
    resp = indexed.get(N.LIST_DATASETS, **params)
    assert resp.status_code == 400 and resp.json()["error"] == "InvalidRequest", resp.text


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("where", [f"/xrpc/{N.SEARCH_SCHEMAS}", "/", "/schema"])
def test_other_methods_answer_a_json_405(indexed: Indexed, method: str, where: str) -> None:
    resp = httpx.request(method, indexed.process.url + where, timeout=10)
    assert resp.status_code == 405 and resp.json()["error"] == "MethodNotAllowed"


@pytest.mark.parametrize("where", ["/nope", "/xrpc", "/xrpc/", "/.env", "/xrpc/a/b"])
def test_unknown_paths_answer_a_json_404(indexed: Indexed, where: str) -> None:
    resp = httpx.get(indexed.process.url + where, timeout=10)
    assert resp.status_code == 404 and resp.json()["error"] == "NotFound"


def _raw(url: str, data: bytes, *, timeout: float = 30.0) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        with contextlib.suppress(OSError):  # the server may answer before reading everything
            s.sendall(data)
        out = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                out += chunk
        return out


def test_an_oversize_request_line_answers_414(indexed: Indexed) -> None:
    answer = _raw(indexed.process.url, b"GET /xrpc/x?q=" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414 ")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "UriTooLong"
    assert MAX_REQUEST_LINE < 1_000_000


def test_an_oversize_request_head_answers_431(indexed: Indexed) -> None:
    answer = _raw(indexed.process.url, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 200_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert MAX_HEAD < 200_000


def test_idle_and_half_sent_connections_are_closed(indexed: Indexed) -> None:
    answers: dict[str, bytes] = {}

    def client(name: str, data: bytes) -> None:
        answers[name] = _raw(indexed.process.url, data, timeout=HEAD_TIMEOUT + 20)

    threads = [
        threading.Thread(target=client, args=("idle", b"")),
        threading.Thread(target=client, args=("half-sent", b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Both were closed by the server (recv returned), each with a JSON 408.
    assert answers["half-sent"].startswith(b"HTTP/1.1 408 ")
    assert answers["idle"].startswith(b"HTTP/1.1 408 ")
    # And the server still answers others.
    assert indexed.get(N.DESCRIBE_SERVICE).status_code == 200
