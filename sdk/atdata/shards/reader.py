"""One shard's samples as ``(key, msgpack bytes)`` pairs, checked against its sidecar."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from atdata.errors import AtdataError, ShardError, ShardIntegrityError
from atdata.shards.blobs import cid_of_url, open_blob
from atdata.shards.shard_cache import PendingShard, ShardCache
from atdata.shards.sidecar import Sidecar
from atdata.shards.streams import (
    DEFAULT_TIMEOUT,
    ChunkStream,
    MappedFile,
    ShardReader,
    forget_mappings,
    open_shard,
)
from atdata.shards.tar import samples as tar_samples
from atdata.shards.urls import display, scheme

EXTENSION = "msgpack"

# Local shards whose bytes matched their sidecar, by file identity: later passes over an unchanged
# file (every epoch of training) skip re-hashing it, which costs more CPU than decoding it.
_verified: dict[tuple[int, ...], str] = {}
_MAX_VERIFIED = 100_000


def samples(
    url: str,
    sidecar: Sidecar | None = None,
    *,
    verify: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    cache: ShardCache | None = None,
    sha256: str | None = None,
    ahead: ReadAhead | None = None,
) -> Iterator[tuple[str, Any]]:
    """Yield ``(key, body)`` per sample of the shard at ``url``.

    A sample is the tar members sharing a key (the name up to the first dot of its last path
    part); ``body`` is its ``.msgpack`` member, or None when it has none. With a sidecar and
    ``verify``, the sample count and sha-256 are checked once the shard has been read through,
    raising :class:`ShardIntegrityError` on a mismatch. With a ``cache``, a remote shard with a
    sidecar is read from its verified local copy when there is one, else copied there as it streams
    (:mod:`atdata.shards.shard_cache`). A shard without a sidecar is checked against ``sha256`` when
    given (the checksum a dataset record names for it). A local shard ``ahead`` has opened (its
    digest already under way) is taken from there; when its digest has already finished and does
    not match, the error comes before any sample.
    """
    reader, pending = _open(url, sidecar if verify else None, timeout, cache, ahead)
    try:
        shown = reader.url
        expected = sidecar if verify else None
        digest = _start_check(reader, expected)
        want = wanted_digest(expected, sha256) if verify else None
        if expected is None and want is not None:
            digest = reader.start_digest()
        if want is not None and digest is not None and reader.digest_done():
            _check_digest(reader, expected, want, digest())
        source = reader.read if reader.buffer is None else reader.buffer
        count = yield from tar_samples(source, shown, EXTENSION)
        if expected is None and want is not None and digest is not None:
            _check_digest(reader, None, want, digest())
        if expected is not None:
            actual = _finish_check(reader, expected, count, digest)
            if pending is not None and actual is not None:
                pending.commit(actual)
                pending = None
    finally:
        if pending is not None:
            pending.discard()
        reader.close()


def _open(
    url: str, sidecar: Sidecar | None, timeout: float, cache: ShardCache | None, ahead: ReadAhead | None
) -> tuple[ShardReader, PendingShard | None]:
    opened = ahead.take(url) if ahead is not None else None
    if opened is not None:
        return opened, None
    cid = cid_of_url(url)
    if cid is not None:  # a blob: downloaded and checked against its CID before any sample is read
        return open_blob(url, cid, sidecar, cache, timeout), None
    if cache is None or sidecar is None or scheme(url) == "file":
        return open_shard(url, timeout), None
    local = cache.lookup(sidecar)
    if local is not None:
        mapped = MappedFile(str(local))
        mapped.url = display(url)  # errors name the shard, not the copy
        if mapped.identity is not None:
            _verified[mapped.identity] = sidecar.sha256  # lookup has just hashed it
        return mapped, None
    reader = open_shard(url, timeout)
    pending = cache.pending(sidecar)
    if pending is not None and isinstance(reader, ChunkStream):
        reader.copy_to(pending.write)
    return reader, pending


def forget_verified() -> None:
    """Read every shard as a new process would: hashed again, mapped afresh (benchmarks measure
    first reads with it)."""
    _verified.clear()
    forget_mappings()


def wanted_digest(sidecar: Sidecar | None, sha256: str | None) -> str | None:
    """The sha-256 a shard must hash to: its sidecar's, else the record's (lower-cased, as hashlib
    prints digests), else None."""
    if sidecar is not None:
        return sidecar.sha256
    return sha256.lower() if sha256 else None


def _start_check(reader: ShardReader, expected: Sidecar | None) -> Callable[[], str] | None:
    if expected is None:
        return None
    if reader.size is not None and reader.size != expected.size:
        raise ShardIntegrityError(
            f"shard is {reader.size} bytes, its sidecar says {expected.size}", url=reader.url
        )
    if reader.identity is not None and _verified.get(reader.identity) == expected.sha256:
        return None
    return reader.start_digest()


def _finish_check(
    reader: ShardReader, expected: Sidecar, count: int, digest: Callable[[], str] | None
) -> str | None:
    """The verified sha-256 (None when the file was verified before and not hashed again)."""
    if count != expected.samples:
        raise ShardIntegrityError(
            f"shard holds {count} samples, its sidecar says {expected.samples}", url=reader.url
        )
    if digest is None:
        return None
    actual = digest()
    _check_digest(reader, expected, expected.sha256, actual)
    if reader.identity is not None:
        if len(_verified) >= _MAX_VERIFIED:
            _verified.clear()
        _verified[reader.identity] = actual
    return actual


def _check_digest(reader: ShardReader, sidecar: Sidecar | None, want: str, actual: str) -> None:
    if actual != want:
        source = "its sidecar" if sidecar is not None else "its dataset record"
        raise ShardIntegrityError(f"shard sha-256 is {actual}, {source} says {want}", url=reader.url)


class ReadAhead:
    """Local shards opened, their digests queued, before their turn to be read comes.

    A :class:`~atdata.Dataset` names the shards it reads next (:meth:`prepare`, the current one
    first) and :func:`samples` takes each from here when its turn comes. Hashing the next shards
    while this one is decoded keeps the digest threads (:mod:`atdata.shards.digests`) busy instead
    of making the decoder wait for one digest at every shard's end. Only local files are opened
    ahead (nothing is fetched early), at most ``AHEAD_SHARDS`` shards and ``AHEAD_BYTES`` beyond the
    shard being read, and none whose size already disagrees with its sidecar or that was verified
    unchanged before; any failure to open one is left for its turn, which reports it in order.
    Digests still queued when the reader stops early are never run.
    """

    AHEAD_SHARDS = 16
    """Shards opened and queued beyond the one being read. A dataset of up to this many more is all
    queued when its first shard opens, so the digest threads hash without pause while the first
    shards are decoded and the decoder has the cores to itself afterwards: beside a busy process,
    the first read of 10 shards measured 6-9% faster than with the queue kept at one shard per
    digest thread. A longer read settles where the decoder sets the pace, the same either way."""

    AHEAD_BYTES = 1 << 30

    def __init__(self) -> None:
        self._opened: dict[str, MappedFile] = {}
        # Shards looked at and left to their turn (verified before, of the wrong size, unreadable,
        # nothing to hash): each stays in the window for many shards and is not opened again.
        self._passed: set[str] = set()

    @staticmethod
    def local(url: str) -> bool:
        """Whether ``url`` is a shard this would open ahead (a local file)."""
        try:
            return scheme(url) == "file"
        except AtdataError:
            return False

    def prepare(self, urls: list[tuple[str, Sidecar | None, str | None]]) -> None:
        """Open and start hashing these shards (``(url, sidecar, record sha-256)``, in reading order)."""
        budget = self.AHEAD_BYTES
        for i, (url, sidecar, sha256) in enumerate(urls):
            if url in self._passed:
                continue
            opened = self._opened.get(url)
            if opened is None:
                want = wanted_digest(sidecar, sha256)
                if want is None or not self.local(url):
                    self._passed.add(url)
                    continue
                if i and sidecar is not None and sidecar.size > budget:
                    return
                try:
                    opened = MappedFile(url)
                except ShardError:
                    self._passed.add(url)
                    continue
                if (sidecar is not None and opened.size != sidecar.size) or (
                    opened.identity is not None and _verified.get(opened.identity) == want
                ):
                    opened.close()
                    self._passed.add(url)
                    continue
                opened.start_digest()
                self._opened[url] = opened
            if i:
                budget -= opened.size or 0
                if budget <= 0:
                    return

    def take(self, url: str) -> MappedFile | None:
        return self._opened.pop(url, None)

    def wait(self) -> None:
        """Wait until every digest started here has finished: each shard is then checked before
        its first sample is read."""
        for opened in self._opened.values():
            opened.start_digest()()

    def close(self) -> None:
        """Stop the digests of shards not read after all (the reader stopped early)."""
        while self._opened:
            self._opened.popitem()[1].close()
