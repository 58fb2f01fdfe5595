"""Shard digests on the shared threads, and local shards opened and hashed ahead of their turn."""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

import pytest
from core_types import Frame, WriteShards, frame

import atdata
from atdata.errors import ShardIntegrityError
from atdata.shards import digests, expand, reader
from atdata.shards.reader import ReadAhead, samples
from atdata.shards.sidecar import read_sidecar


def _corrupt(shard: Path) -> None:
    data = bytearray(shard.read_bytes())
    data[data.index(b"frame-")] = ord("F")  # same size, other bytes
    shard.write_bytes(bytes(data))


def test_a_digest_covers_every_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digests, "CHUNK", 1000)
    data = bytes(range(256)) * 40
    assert digests.start(memoryview(data)).result() == hashlib.sha256(data).hexdigest()


def test_a_digest_stopped_before_it_ran_has_no_result() -> None:
    digest = digests.Digest(memoryview(b"abc"))  # never queued: stopping must not wait for a worker
    digest.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        digest.result()


def _hash_in_child(out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(digests.start(memoryview(b"child")).result())


def test_a_forked_child_hashes_on_threads_of_its_own() -> None:
    # A DataLoader worker is forked from a process whose digest threads do not exist in it.
    for _ in range(digests.THREADS):  # every worker thread started here
        assert digests.start(memoryview(b"parent")).result() == hashlib.sha256(b"parent").hexdigest()
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_hash_in_child, args=(out,))
    child.start()
    child.join(timeout=10)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child never finished its digest")
    assert out.get(timeout=5) == hashlib.sha256(b"child").hexdigest()


def test_a_shard_whose_digest_finished_ahead_and_differs_gives_no_sample(frames: str) -> None:
    url = expand(frames)[1]
    _corrupt(Path(url))
    sidecar = read_sidecar(url)
    ahead = ReadAhead()
    ahead.prepare([(url, sidecar, None)])
    ahead.wait()
    with pytest.raises(ShardIntegrityError, match=r"sha-256 is \w+, its sidecar says") as err:
        next(samples(url, sidecar, ahead=ahead))
    assert err.value.url == url


def test_a_dataset_stops_at_a_changed_shard_after_the_samples_before_it(frames: str) -> None:
    urls = expand(frames)
    _corrupt(Path(urls[2]))
    read: list[int] = []
    with pytest.raises(ShardIntegrityError) as err:
        for sample in atdata.Dataset[Frame](frames):
            read.append(sample.index)
    assert err.value.url == urls[2]
    assert read[:6] == [0, 1, 2, 3, 4, 5] and all(i < 9 for i in read)


def test_opening_a_datasets_first_shard_queues_the_digests_of_the_shards_after_it(
    write_shards: WriteShards, monkeypatch: pytest.MonkeyPatch
) -> None:
    pattern = write_shards([frame(i) for i in range(ReadAhead.AHEAD_SHARDS + 4)], maxcount=1, name="one-each")
    queued: list[int] = []
    start = digests.start

    def counted(data: memoryview) -> digests.Digest:
        queued.append(len(data))
        return start(data)

    monkeypatch.setattr(digests, "start", counted)
    reading = iter(atdata.Dataset[Frame](pattern))
    next(reading)
    assert len(queued) == 1 + ReadAhead.AHEAD_SHARDS  # the first shard and as many after it
    assert [s.index for s in reading] == list(range(1, ReadAhead.AHEAD_SHARDS + 4))
    assert len(queued) == ReadAhead.AHEAD_SHARDS + 4  # every shard hashed once


def test_a_later_read_opens_each_verified_shard_ahead_once_not_at_every_shard_before_it(
    write_shards: WriteShards, monkeypatch: pytest.MonkeyPatch
) -> None:
    pattern = write_shards([frame(i) for i in range(8)], maxcount=1, name="verified")
    dataset = atdata.Dataset[Frame](pattern)
    assert [s.index for s in dataset] == list(range(8))  # every shard verified in this process
    opened: list[str] = []

    class Counted(reader.MappedFile):
        def __init__(self, url: str) -> None:
            opened.append(url)
            super().__init__(url)

    monkeypatch.setattr(reader, "MappedFile", Counted)
    assert [s.index for s in dataset] == list(range(8))
    assert max(opened.count(url) for url in expand(pattern)) <= 2  # ahead once, then at its turn


def test_shards_are_not_opened_ahead_beyond_local_files(frames: str) -> None:
    assert not ReadAhead.local("https://example.org/a.tar")
    assert not ReadAhead.local("s3://bucket/a.tar")
    assert ReadAhead.local(expand(frames)[0])


def test_a_shard_verified_before_is_not_hashed_ahead_for_an_upper_case_record_digest(frames: str) -> None:
    url = expand(frames)[0]
    sidecar = read_sidecar(url)
    assert sidecar is not None
    list(samples(url, sidecar))  # verified against its sidecar in this process
    ahead = ReadAhead()
    ahead.prepare([(url, None, sidecar.sha256.upper())])  # a record's digest, as some tools print it
    assert ahead.take(url) is None
