"""Reading shards over http from a loopback server: streamed, with sidecars, and failures named."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from core_types import Frame, WriteShards, frame

import atdata
from atdata.errors import ShardError, ShardIntegrityError

FIRST_PART = 8192


class _Handler(SimpleHTTPRequestHandler):
    """Serves a folder; ``slow.tar`` is sent in two parts, the second only once ``release`` is set."""

    state: dict[str, Any]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/slow.tar":
            super().do_GET()
            return
        data = (Path(self.directory) / "slow.tar").read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:FIRST_PART])
        self.wfile.flush()
        self.state["release"].wait(timeout=10)
        self.state["rest_sent"] = True
        self.wfile.write(data[FIRST_PART:])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {"release": threading.Event(), "rest_sent": False}
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(tmp_path)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        state["release"].set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_http_shards_read_like_local_ones(server: tuple[str, dict[str, Any]], frames: str) -> None:
    base, _ = server
    ds = atdata.Dataset[Frame](base + "/data-{0000..0003}.tar")
    assert list(ds.ordered()) == [frame(i) for i in range(10)]


def test_len_of_an_http_dataset_comes_from_its_sidecars(
    server: tuple[str, dict[str, Any]], frames: str
) -> None:
    base, _ = server
    assert len(atdata.Dataset[Frame](base + "/data-{0000..0003}.tar")) == 10


def test_samples_arrive_before_the_shard_has_been_sent_whole(
    server: tuple[str, dict[str, Any]], write_shards: WriteShards, tmp_path: Path
) -> None:
    base, state = server
    write_shards([frame(i) for i in range(100)])
    (tmp_path / "data-0000.tar").rename(tmp_path / "slow.tar")
    (tmp_path / "data-0000.tar.json").rename(tmp_path / "slow.tar.json")
    samples = atdata.Dataset[Frame](base + "/slow.tar").ordered()
    first = next(samples)
    rest_sent_before_first_sample = state["rest_sent"]
    state["release"].set()
    assert first == frame(0)
    assert not rest_sent_before_first_sample
    assert len(list(samples)) == 99


def test_an_http_error_status_names_the_shard(server: tuple[str, dict[str, Any]]) -> None:
    base, _ = server
    with pytest.raises(ShardError, match="HTTP status 404") as err:
        list(atdata.Dataset[Frame](base + "/missing.tar"))
    assert err.value.url == base + "/missing.tar"


def test_changed_bytes_over_http_fail_the_sidecar_check(
    server: tuple[str, dict[str, Any]], frames: str, tmp_path: Path
) -> None:
    base, _ = server
    shard = tmp_path / "data-0001.tar"
    data = bytearray(shard.read_bytes())
    data[data.index(b"frame-")] = ord("F")
    shard.write_bytes(bytes(data))
    with pytest.raises(ShardIntegrityError, match="sha-256"):
        list(atdata.Dataset[Frame](base + "/data-{0000..0003}.tar"))


def test_an_unreachable_server_is_a_shard_error() -> None:
    with pytest.raises(ShardError, match="cannot connect"):
        list(atdata.Dataset[Frame]("http://127.0.0.1:9/none.tar", timeout=2))
