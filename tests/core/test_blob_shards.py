"""Shards read by CID from ``com.atproto.sync.getBlob``: the bytes must hash to the CID before any
sample is yielded, whatever the server sends.

The server here is a loopback HTTP server answering getBlob from a folder of blobs named by CID: it
plays a PDS that lies (other bytes, more bytes) as well as an honest one. The honest path against
the official PDS is tested end to end in tests/registry/test_publish_blobs.py.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from core_types import Frame, WriteShards, frame

import atdata
from atdata.errors import ShardIntegrityError
from atdata.network.predecessor import ALT_ENTRY, convert_entry
from atdata.shards.blobs import blob_cid, blob_url, cid_of_url, sha256_of_cid
from atdata.shards.shard_cache import ShardCache
from atdata.shards.sidecar import Sidecar


class BlobServer:
    """``GET /xrpc/com.atproto.sync.getBlob?did=&cid=`` -> ``blobs[cid]``; counts requests per CID."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.requests: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                cid = parse_qs(parts.query).get("cid", [""])[0]
                server.requests[cid] = server.requests.get(cid, 0) + 1
                data = server.blobs.get(cid)
                if parts.path != "/xrpc/com.atproto.sync.getBlob" or data is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def put(self, data: bytes, as_cid: str | None = None) -> str:
        """Serve ``data`` under its own CID (or, lying, under ``as_cid``); the getBlob URL."""
        cid = as_cid or blob_cid(hashlib.sha256(data).hexdigest())
        self.blobs[cid] = data
        return blob_url(self.url, "did:plc:author", cid)


@pytest.fixture
def pds() -> Iterator[BlobServer]:
    server = BlobServer()
    thread = threading.Thread(target=server.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join()


@pytest.fixture
def shard(write_shards: WriteShards) -> bytes:
    pattern = write_shards([frame(i) for i in range(3)], maxcount=10)
    return Path(pattern.replace("{0000..0000}", "0000")).read_bytes()


def test_a_blob_cid_names_the_sha256_of_the_bytes() -> None:
    empty = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # the empty blob, as PDSes name it
    assert blob_cid(hashlib.sha256(b"").hexdigest()) == empty
    assert sha256_of_cid(empty) == hashlib.sha256(b"").hexdigest()
    assert sha256_of_cid("bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku") is None  # dag-cbor


def test_an_honest_blob_reads_like_any_shard(pds: BlobServer, shard: bytes) -> None:
    url = pds.put(shard)
    assert [s.index for s in atdata.Dataset[Frame](url).ordered()] == [0, 1, 2]


def test_other_bytes_than_the_cid_names_are_refused_before_any_sample(pds: BlobServer, shard: bytes) -> None:
    honest = blob_cid(hashlib.sha256(shard).hexdigest())
    tampered = shard.replace(b"frame-0", b"FRAME-0")
    url = pds.put(tampered, as_cid=honest)
    samples = atdata.Dataset[Frame](url).ordered()
    with pytest.raises(ShardIntegrityError, match=f"blob {honest}.*refused before any sample"):
        next(iter(samples))


def test_a_blob_longer_than_its_record_says_is_cut_off(pds: BlobServer, shard: bytes, tmp_path: Path) -> None:
    from atdata.shards.reader import samples

    url = pds.put(shard)
    sha = sha256_of_cid(str(cid_of_url(url)))
    assert sha is not None
    short = Sidecar(3, sha, len(shard) - 512)
    with pytest.raises(ShardIntegrityError, match="larger than the"):
        next(samples(url, short))


def test_a_verified_blob_is_read_from_the_shard_cache_the_next_time(
    pds: BlobServer, shard: bytes, tmp_path: Path
) -> None:
    from atdata.shards.reader import samples

    url = pds.put(shard)
    sha = sha256_of_cid(str(cid_of_url(url)))
    assert sha is not None
    sidecar = Sidecar(3, sha, len(shard))
    cache = ShardCache(tmp_path / "blobs")
    for _ in range(3):
        assert len(list(samples(url, sidecar, cache=cache))) == 3
    assert pds.requests[str(cid_of_url(url))] == 1
    assert (tmp_path / "blobs" / f"{sha}.tar").read_bytes() == shard


def test_a_tampered_blob_never_reaches_the_shard_cache(pds: BlobServer, shard: bytes, tmp_path: Path) -> None:
    from atdata.shards.reader import samples

    honest = blob_cid(hashlib.sha256(shard).hexdigest())
    url = pds.put(shard.replace(b"frame-1", b"FRAME-1"), as_cid=honest)
    sidecar = Sidecar(3, str(sha256_of_cid(honest)), len(shard))
    with pytest.raises(ShardIntegrityError):
        next(samples(url, sidecar, cache=ShardCache(tmp_path / "blobs")))
    assert not list((tmp_path / "blobs").glob("*"))


def test_a_0_7_blob_entry_is_checked_against_its_cid_too(pds: BlobServer, shard: bytes) -> None:
    honest = blob_cid(hashlib.sha256(shard).hexdigest())
    pds.put(shard.replace(b"frame-2", b"FRAME-2"), as_cid=honest)
    entry = {
        "$type": ALT_ENTRY,
        "name": "blobs",
        "schemaRef": "at://did:plc:author/science.alt.dataset.schema/r",
        "storage": {
            "$type": "science.alt.dataset.storageBlobs",
            "blobs": [{"blob": {"$type": "blob", "ref": {"$link": honest}, "mimeType": "x", "size": 1}}],
        },
    }
    urls = convert_entry(entry, "at://e", author_pds=pds.url, author="did:plc:author").urls
    with pytest.raises(ShardIntegrityError, match="refused before any sample"):
        next(iter(atdata.Dataset[Frame](urls).ordered()))
