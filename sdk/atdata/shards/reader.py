"""One shard's samples as ``(key, msgpack bytes)`` pairs, checked against its sidecar."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from atdata.errors import ShardIntegrityError
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
from atdata.shards.tar import members
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
) -> Iterator[tuple[str, Any]]:
    """Yield ``(key, body)`` per sample of the shard at ``url``.

    A sample is the tar members sharing a key (the name up to the first dot of its last path
    part); ``body`` is its ``.msgpack`` member, or None when it has none. With a sidecar and
    ``verify``, the sample count and sha-256 are checked once the shard has been read through,
    raising :class:`ShardIntegrityError` on a mismatch. With a ``cache``, a remote shard with a
    sidecar is read from its verified local copy when there is one, else copied there as it streams
    (:mod:`atdata.shards.shard_cache`). A shard without a sidecar is checked against ``sha256`` when
    given (the checksum a dataset record names for it).
    """
    reader, pending = _open(url, sidecar if verify else None, timeout, cache)
    try:
        shown = reader.url
        expected = sidecar if verify else None
        digest = _start_check(reader, expected)
        if expected is None and sha256 is not None and verify:
            digest = reader.start_digest()
        count = 0
        key: str | None = None
        body: Any = None
        for name, data in members(reader.read, shown):
            slash = name.rfind("/")
            dot = name.find(".", slash + 1)
            k, ext = (name, "") if dot < 0 else (name[:dot], name[dot + 1 :])
            if k != key:
                if key is not None:
                    count += 1
                    yield key, body
                key, body = k, None
            if ext == EXTENSION:
                if body is not None:  # two bodies under one key: keep both samples
                    count += 1
                    yield key, body
                body = data
        if key is not None:
            count += 1
            yield key, body
        if expected is None and sha256 is not None and digest is not None:
            got = digest()
            if got != sha256.lower():
                raise ShardIntegrityError(
                    f"shard sha-256 is {got}, its dataset record says {sha256}", url=reader.url
                )
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
    url: str, sidecar: Sidecar | None, timeout: float, cache: ShardCache | None
) -> tuple[ShardReader, PendingShard | None]:
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
    if actual != expected.sha256:
        raise ShardIntegrityError(
            f"shard sha-256 is {actual}, its sidecar says {expected.sha256}", url=reader.url
        )
    if reader.identity is not None:
        if len(_verified) >= _MAX_VERIFIED:
            _verified.clear()
        _verified[reader.identity] = actual
    return actual
