"""Shards in an object store (S3, through fsspec) against a real S3-compatible server on loopback,
and the local shard cache that makes later epochs read from disk."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import s3fs
from core_types import Frame, frame

import atdata
from atdata.errors import ShardError

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket(s3_env: str) -> str:
    name = f"shards-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem().mkdir(name)
    return name


def write(bucket: str, count: int = 10, maxcount: int = 3) -> str:
    with atdata.ShardWriter(f"s3://{bucket}/frames-%04d.tar", maxcount=maxcount) as sink:
        for i in range(count):
            sink.write(frame(i))
    return f"s3://{bucket}/frames-{{0000..{len(sink.shards) - 1:04d}}}.tar"


def test_shards_written_to_s3_read_back_the_same(bucket: str) -> None:
    pattern = write(bucket)
    assert list(atdata.Dataset[Frame](pattern).ordered()) == [frame(i) for i in range(10)]


def test_s3_shards_have_sidecars_that_give_the_length(bucket: str) -> None:
    assert len(atdata.Dataset[Frame](write(bucket))) == 10


def test_the_endpoint_comes_from_aws_endpoint_url(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pattern = write(bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(ShardError, match=f"s3://{bucket}/frames-0000.tar"):
        list(atdata.Dataset[Frame](pattern, cache_dir=False, timeout=2).ordered())


def test_a_missing_object_is_a_shard_error_naming_it(bucket: str) -> None:
    with pytest.raises(ShardError, match=f"s3://{bucket}/none.tar"):
        list(atdata.Dataset[Frame](f"s3://{bucket}/none.tar").ordered())


def test_later_epochs_read_from_the_local_cache(bucket: str, tmp_path: Path) -> None:
    pattern = write(bucket)
    ds = atdata.Dataset[Frame](pattern, cache_dir=tmp_path / "shards")
    assert len(list(ds.ordered())) == 10
    s3fs.S3FileSystem().rm(f"{bucket}/frames-0000.tar")  # only the copy can serve it now
    assert list(ds.ordered()) == [frame(i) for i in range(10)]
    assert len(list((tmp_path / "shards").glob("*.tar"))) == 4


def test_a_damaged_cached_copy_is_dropped_and_fetched_again(bucket: str, tmp_path: Path) -> None:
    pattern = write(bucket)
    ds = atdata.Dataset[Frame](pattern, cache_dir=tmp_path / "shards")
    list(ds.ordered())
    copy = next((tmp_path / "shards").glob("*.tar"))
    data = bytearray(copy.read_bytes())
    data[data.index(b"frame-")] = ord("F")
    copy.write_bytes(bytes(data))
    assert list(ds.ordered()) == [frame(i) for i in range(10)]
    assert copy.read_bytes() != bytes(data)


def test_the_cache_stays_within_its_size_bound(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pattern = write(bucket, count=9, maxcount=3)
    one = s3fs.S3FileSystem().size(f"{bucket}/frames-0000.tar")
    monkeypatch.setenv("ATDATA_SHARD_CACHE_BYTES", str(one * 2))
    list(atdata.Dataset[Frame](pattern, cache_dir=tmp_path / "shards").ordered())
    sizes = [p.stat().st_size for p in (tmp_path / "shards").glob("*.tar")]
    assert 0 < sum(sizes) <= one * 2


def test_shards_with_a_wrong_digest_are_not_cached(bucket: str, tmp_path: Path) -> None:
    pattern = write(bucket, count=3)
    fs = s3fs.S3FileSystem()
    data = bytearray(fs.cat_file(f"{bucket}/frames-0000.tar"))
    data[data.index(b"frame-")] = ord("F")
    fs.pipe_file(f"{bucket}/frames-0000.tar", bytes(data))
    with pytest.raises(ShardError, match="sha-256"):
        list(atdata.Dataset[Frame](pattern, cache_dir=tmp_path / "shards").ordered())
    assert not list((tmp_path / "shards").glob("*"))


def test_a_store_whose_driver_is_missing_names_the_extra_to_install() -> None:
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("gcsfs is installed here")
    with pytest.raises(ShardError, match=r"pip install 'atdata\[gcs\]'"):
        list(atdata.Dataset[Frame]("gs://bucket/x.tar").ordered())
