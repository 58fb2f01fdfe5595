"""`atdata publish dataset --blobs` against the official PDS: shards uploaded as blobs, recorded as blob
references in the dataset record, and read back by CID from ``com.atproto.sync.getBlob`` on the
author's PDS (found from the DID document), checked, and kept in the shard cache."""

from __future__ import annotations

import os
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import atdata
from atdata.cli.main import main
from atdata.config import reset_configuration
from atdata.network.xrpc import XrpcClient
from atdata.shards.blobs import blob_cid, cid_of_url
from atdata_registry.devstack import DevStack

pytestmark = pytest.mark.integration

TYPES = """
import atdata

@atdata.packable
class Reading:
    \"\"\"One sensor reading.\"\"\"
    sensor: str
    value: int
    raw: bytes
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An importable user module with the sample type; the module."""
    name = f"blob_types_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(TYPES))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    return importlib.import_module(name)


@pytest.fixture
def logged_in(
    account: Any, dev_stack: DevStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Any]:
    monkeypatch.setenv("ATDATA_APP_PASSWORD", account.password)
    for var, value in (("ATDATA_PLC", dev_stack.plc), ("ATDATA_PDS", dev_stack.pds)):
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("ATDATA_CACHE_DIR", str(tmp_path / "cache"))
    try:
        assert main(["login", account.handle]) == 0
        yield account
    finally:
        reset_configuration()  # what main() configured for this process is this test's only


def write(module: Any, root: Path, count: int, per_shard: int, raw: int = 16) -> str:
    """Shards of ``count`` readings; the brace pattern naming them."""
    with atdata.ShardWriter(str(root / "readings-%04d.tar"), maxcount=per_shard) as sink:
        for i in range(count):
            sink.write(module.Reading(sensor=f"s{i}", value=i, raw=os.urandom(raw)))
    return str(root / f"readings-{{0000..{len(sink.shards) - 1:04d}}}.tar")


def blobs_of(account: Any) -> list[str]:
    with XrpcClient(account.pds) as xrpc:
        return list(xrpc.query("com.atproto.sync.listBlobs", {"did": account.did})["cids"])


def published_uri(out: str) -> str:
    return next(w for w in out.split() if w.startswith("at://") and "/dev.atdata.dataset/" in w)


def test_shards_published_as_blobs_read_back_by_cid_and_cached(
    logged_in: Any, module: Any, tmp_path: Path, dev_stack: DevStack, capsys: pytest.CaptureFixture[str]
) -> None:
    pattern = write(module, tmp_path, count=7, per_shard=3)
    args = ["publish", "dataset", pattern, "--schema", f"{module.__name__}:Reading", "--name", "readings"]
    assert main([*args, "--blobs", "--no-progress"]) == 0
    uri = published_uri(capsys.readouterr().out)
    shards = sorted(tmp_path.glob("readings-*.tar"))
    import hashlib

    cids = [blob_cid(hashlib.sha256(p.read_bytes()).hexdigest()) for p in shards]
    assert sorted(blobs_of(logged_in)) == sorted(cids)

    cache = tmp_path / "shard-cache"
    ds = atdata.Dataset(uri, cache_dir=cache)
    assert [cid_of_url(u) for u in ds.shards] == cids
    assert all(u.startswith(dev_stack.pds) for u in ds.shards)
    assert len(ds) == 7  # counts from the record: a blob has no sidecar beside it
    assert [s.value for s in ds.ordered()] == list(range(7))
    assert len(list(cache.glob("*.tar"))) == 3
    dev_stack.pause_pds()  # a later epoch reads the verified copies, not the network
    try:
        assert [s.sensor for s in ds.ordered()] == [f"s{i}" for i in range(7)]
    finally:
        dev_stack.resume_pds()


def test_a_shard_over_the_blob_limit_is_refused_naming_it_before_anything_is_uploaded(
    logged_in: Any, module: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pattern = write(module, tmp_path, count=4, per_shard=2, raw=4000)
    args = ["publish", "dataset", pattern, "--schema", f"{module.__name__}:Reading", "--name", "big"]
    assert main([*args, "--blobs", "--blob-limit", "4096", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "readings-0000.tar" in err and "more than the blob size limit of 4096 bytes" in err
    assert blobs_of(logged_in) == []


def test_a_shard_the_pds_refuses_as_too_large_is_named(
    logged_in: Any, module: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pattern = write(module, tmp_path, count=2, per_shard=2, raw=3 << 20)  # one 6 MiB shard
    args = ["publish", "dataset", pattern, "--schema", f"{module.__name__}:Reading", "--name", "huge"]
    assert main([*args, "--blobs", "--blob-limit", str(64 << 20), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "readings-0000.tar" in err and "too large for a blob" in err


def test_dry_run_prints_the_blob_references_and_uploads_nothing(
    logged_in: Any, module: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pattern = write(module, tmp_path, count=2, per_shard=2)
    args = ["publish", "dataset", pattern, "--schema", f"{module.__name__}:Reading", "--name", "dry"]
    assert main([*args, "--blobs", "--dry-run", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert '"$type": "blob"' in out and "com.atproto.sync.getBlob" in out
    assert blobs_of(logged_in) == []
