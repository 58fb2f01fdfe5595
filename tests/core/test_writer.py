"""ShardWriter: numbered shards, their sidecars, and what it refuses to write."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import msgpack
import pytest
import webdataset as wds
from core_types import Frame, LabelOnly, frame

import atdata
from atdata.errors import DatasetError, SampleTypeError


def _names(shard: str) -> list[str]:
    with tarfile.open(shard) as tar:
        return tar.getnames()


def _write(tmp_path: Path, n: int, **options: int) -> list[str]:
    with atdata.ShardWriter(str(tmp_path / "s-%03d.tar"), **options) as sink:
        for i in range(n):
            sink.write(frame(i))
    return sink.shards


def test_maxcount_starts_a_new_shard_after_that_many_samples(tmp_path: Path) -> None:
    shards = _write(tmp_path, 7, maxcount=3)
    assert [Path(s).name for s in shards] == ["s-000.tar", "s-001.tar", "s-002.tar"]
    assert [len(_names(s)) for s in shards] == [3, 3, 1]


def test_maxsize_keeps_each_shard_under_that_many_bytes(tmp_path: Path) -> None:
    shards = _write(tmp_path, 20, maxsize=4096)
    assert len(shards) > 1
    assert all(Path(s).stat().st_size <= 4096 for s in shards)
    assert sum(len(_names(s)) for s in shards) == 20


def test_each_shard_has_a_sidecar_with_its_count_and_sha256(tmp_path: Path) -> None:
    shards = _write(tmp_path, 4, maxcount=3)
    for shard, count in zip(shards, [3, 1]):
        sidecar = json.loads(Path(shard + ".json").read_text())
        data = Path(shard).read_bytes()
        assert sidecar["samples"] == count
        assert sidecar["sha256"] == hashlib.sha256(data).hexdigest()
        assert sidecar["bytes"] == len(data)


def test_samples_are_msgpack_members_named_by_key(tmp_path: Path) -> None:
    (shard,) = _write(tmp_path, 2)
    with tarfile.open(shard) as tar:
        assert tar.getnames() == ["000000000.msgpack", "000000001.msgpack"]
        body = tar.extractfile("000000001.msgpack").read()  # type: ignore[union-attr]
    assert msgpack.unpackb(body)["label"] == "frame-1"


def test_webdataset_reads_the_shards(tmp_path: Path) -> None:
    shards = _write(tmp_path, 5, maxcount=2)
    keys = [s["__key__"] for s in wds.WebDataset(shards, shardshuffle=False, empty_check=False)]
    assert keys == [f"{i:09d}" for i in range(5)]


def test_chosen_keys_are_used_and_returned(tmp_path: Path) -> None:
    with atdata.ShardWriter(str(tmp_path / "s-%03d.tar")) as sink:
        assert sink.write(frame(0), key="movie-7_t0003") == "movie-7_t0003"
    assert _names(sink.shards[0]) == ["movie-7_t0003.msgpack"]


@pytest.mark.parametrize("key", ["a.b", "a/b", "__meta__", "", "k" * 100])
def test_keys_webdataset_would_misread_are_refused(tmp_path: Path, key: str) -> None:
    with atdata.ShardWriter(str(tmp_path / "s-%03d.tar")) as sink, pytest.raises(DatasetError, match="key"):
        sink.write(frame(0), key=key)


def test_one_writer_takes_one_sample_type(tmp_path: Path) -> None:
    with atdata.ShardWriter(str(tmp_path / "s-%03d.tar")) as sink:
        sink.write(frame(0))
        with pytest.raises(DatasetError, match="got a LabelOnly after 1 samples of Frame"):
            sink.write(LabelOnly(index=1, label="x"))


def test_only_packable_samples_are_written(tmp_path: Path) -> None:
    with atdata.ShardWriter(str(tmp_path / "s-%03d.tar")) as sink, pytest.raises(SampleTypeError):
        sink.write({"index": 1})


def test_a_pattern_without_a_number_field_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="%06d"):
        atdata.ShardWriter(str(tmp_path / "frames.tar"))


def test_no_partial_files_are_left_behind(tmp_path: Path) -> None:
    _write(tmp_path, 5, maxcount=2)
    assert not list(tmp_path.glob("*.partial"))


def test_a_sample_larger_than_maxsize_gets_a_shard_of_its_own(tmp_path: Path) -> None:
    shards = _write(tmp_path, 3, maxsize=600)
    assert [len(_names(s)) for s in shards] == [1, 1, 1]


def test_shards_written_before_an_exception_are_finished(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atdata.ShardWriter(str(tmp_path / "s-%03d.tar")) as sink:
        sink.write(frame(0))
        raise RuntimeError("the producer failed")
    assert len(atdata.Dataset[Frame](sink.shards)) == 1
