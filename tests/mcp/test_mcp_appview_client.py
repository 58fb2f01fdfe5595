"""The typed appview client: parameters checked before sending, answers checked on receipt, errors named.

A small loopback HTTP server plays an appview that answers with fixed bodies, so the client's
handling of error bodies and of bodies outside the lexicon is seen over real HTTP.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest

from atdata.config import configure, reset_configuration
from atdata.errors import AmbiguousNameError, AppviewError, AtdataError, NetworkError, RecordValidationError
from atdata.lexicon import nsid as N
from atdata.network.appview_client import AppviewClient

ANSWERS: dict[str, tuple[int, object]] = {
    N.RESOLVE_SCHEMA: (400, {"error": "Ambiguous", "message": "2 authors publish 'Frame'"}),
    N.SEARCH_SCHEMAS: (200, {"schemas": "not a list"}),
    N.DESCRIBE_SERVICE: (200, {"version": "0.1.0", "lexicons": [N.SCHEMA], "counts": {"schemas": 3}}),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        nsid = urlparse(self.path).path.removeprefix("/xrpc/")
        status, body = ANSWERS.get(nsid, (501, {"error": "MethodNotImplemented"}))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fixed_appview() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ATDATA_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("ATDATA_APPVIEW", raising=False)
    reset_configuration()
    yield tmp_path
    reset_configuration()


def test_parameters_outside_the_lexicon_fail_before_anything_is_sent() -> None:
    # Nothing listens on port 9: a NetworkError would mean the request went out.
    with AppviewClient("http://127.0.0.1:9") as client, pytest.raises(RecordValidationError) as info:
        client.list_datasets(schema="not-an-at-uri", limit=500)
    text = str(info.value)
    assert "dev.atdata.listDatasets" in text and "$.schema" in text and "$.limit" in text


def test_an_unreachable_appview_raises_a_network_error_naming_the_endpoint() -> None:
    with AppviewClient("http://127.0.0.1:9") as client, pytest.raises(NetworkError) as info:
        client.describe_service()
    assert "http://127.0.0.1:9/xrpc/dev.atdata.describeService" in str(info.value)


def test_a_declared_xrpc_error_becomes_its_own_error_class(fixed_appview: str) -> None:
    with AppviewClient(fixed_appview) as client, pytest.raises(AmbiguousNameError) as info:
        client.resolve_schema("Frame")
    assert info.value.endpoint == f"{fixed_appview}/xrpc/{N.RESOLVE_SCHEMA}"
    assert "2 authors publish 'Frame'" in str(info.value)


def test_an_answer_outside_the_lexicon_is_refused_naming_the_problem(fixed_appview: str) -> None:
    with AppviewClient(fixed_appview) as client, pytest.raises(AppviewError) as info:
        client.search_schemas("frame")
    assert "dev.atdata.searchSchemas" in str(info.value) and "$.schemas" in str(info.value)


def test_an_answer_in_the_lexicon_comes_back_typed(fixed_appview: str) -> None:
    with AppviewClient(fixed_appview) as client:
        service = client.describe_service()
    assert (service.version, service.lexicons, service.counts) == ("0.1.0", (N.SCHEMA,), {"schemas": 3})


def test_the_configured_appview_is_the_default(settings_dir: Path) -> None:
    configure(appview="http://127.0.0.1:8080/")
    with AppviewClient() as client:
        assert client.base_url == "http://127.0.0.1:8080"


def test_no_configured_appview_is_an_error_saying_how_to_set_one(settings_dir: Path) -> None:
    with pytest.raises(AtdataError, match="ATDATA_APPVIEW"):
        AppviewClient()
