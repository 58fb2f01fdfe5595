"""Opening a shard's bytes: local files are memory-mapped, http(s) and object stores are streamed.

Object stores (``s3://``, ``gs://``, ...) go through ``fsspec`` and its drivers (``s3fs``, ...),
which find endpoints and credentials the standard way for each store (for S3: ``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, instance roles).

A local shard's mapping is kept (up to ``MAX_MAPPED`` bytes, least recently used dropped first) and
reused while the file is unchanged: mapping a file again costs a page fault per 4 KiB touched, which
measured at a quarter of the CPU time of a later epoch. The pages are the page cache's, shared, and the
kernel may still reclaim them; a changed file (size, mtime, ctime) is mapped afresh.

Both readers offer ``read(n)`` returning exactly ``n`` bytes (fewer only at the end); a mapped file
also offers its whole ``buffer``, which the tar walker reads by offsets. A reader can also produce
the sha-256 of everything it holds, which for local files runs on the shared digest threads
(:mod:`atdata.shards.digests`; hashlib releases the GIL) while samples are being decoded.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from atdata.errors import ShardError
from atdata.shards import digests
from atdata.shards.urls import display, driver_hint, local_path, scheme

if TYPE_CHECKING:
    import httpx  # imported where used, so that reading local shards never pays for it

CHUNK = 1 << 20
DEFAULT_TIMEOUT = 60.0
MAX_MAPPED = 2 << 30
"""Bytes of local shards kept mapped between reads, at most."""

# file identity -> its mapping, least recently used first
_mapped: OrderedDict[tuple[int, ...], mmap.mmap] = OrderedDict()
_mapped_bytes = 0
_mapped_lock = threading.Lock()


def _map(fileno: int, identity: tuple[int, ...], size: int) -> tuple[mmap.mmap, bool]:
    """The mapping of an open file and whether it is kept (kept ones are never closed by readers)."""
    global _mapped_bytes
    with _mapped_lock:
        kept = _mapped.get(identity)
        if kept is not None:
            _mapped.move_to_end(identity)
            return kept, True
    mapped = mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)
    if size > MAX_MAPPED // 4:
        return mapped, False
    with _mapped_lock:
        if identity in _mapped:  # another thread mapped it meanwhile: this one stays private
            return mapped, False
        _mapped[identity] = mapped
        _mapped_bytes += size
        while _mapped_bytes > MAX_MAPPED:
            # Dropped, not closed: a reader still using it keeps it alive until it is done.
            old, _ = _mapped.popitem(last=False)
            _mapped_bytes -= old[2]
    return mapped, True


def forget_mappings() -> None:
    """Map every local shard afresh on its next read, as a new process does."""
    global _mapped_bytes
    with _mapped_lock:
        _mapped.clear()
        _mapped_bytes = 0


class ShardReader(Protocol):
    url: str
    size: int | None
    """The shard's length in bytes, when known before reading it."""
    identity: tuple[int, ...] | None
    """For local files: changes whenever the bytes may have changed."""
    buffer: memoryview | None
    """The whole shard in memory (a mapped file), or None for a stream read with ``read``."""

    def read(self, n: int) -> Any: ...

    def start_digest(self) -> Callable[[], str]: ...

    def digest_done(self) -> bool:
        """Whether the digest is known without reading further (it may then be checked early)."""
        ...

    def close(self) -> None: ...


class MappedFile:
    """A local shard, mapped into memory; ``read`` returns zero-copy memoryview slices."""

    def __init__(self, url: str) -> None:
        self.url = url
        path = local_path(url)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                size = st.st_size
                # ctime cannot be set back by users, so an unchanged tuple means unchanged bytes
                identity = (st.st_dev, st.st_ino, size, st.st_mtime_ns, st.st_ctime_ns)
                kept: tuple[mmap.mmap | None, bool] = (
                    _map(f.fileno(), identity, size) if size else (None, False)
                )
                self._map, self._kept = kept
        except FileNotFoundError:
            raise ShardError("shard file not found", url=url) from None
        except (OSError, ValueError) as e:
            raise ShardError(f"cannot open shard: {e}", url=url) from None
        self._view = memoryview(self._map) if self._map is not None else memoryview(b"")
        self.buffer: memoryview | None = self._view
        self.size: int | None = size
        self.identity: tuple[int, ...] | None = identity
        self._pos = 0
        self._digest: digests.Digest | None = None

    def read(self, n: int) -> memoryview:
        pos = self._pos
        self._pos = pos + n
        return self._view[pos : pos + n]

    def start_digest(self) -> Callable[[], str]:
        if self._digest is None:
            self._digest = digests.start(self._view)
        return self._digest.result

    def digest_done(self) -> bool:
        """Whether the digest started by :meth:`start_digest` has finished."""
        return self._digest is not None and self._digest.done()

    def close(self) -> None:
        if self._digest is not None:
            self._digest.stop()
        # A caller may still hold a buffer over a member; the map then closes when that is collected.
        with contextlib.suppress(BufferError):
            self._view.release()
            if self._map is not None and not self._kept:
                self._map.close()


class ChunkStream:
    """A shard arriving as an iterator of byte chunks (http), buffered for exact-size reads."""

    def __init__(
        self,
        url: str,
        chunks: Iterator[bytes],
        on_close: Callable[[], None],
        errors: type[Exception] | tuple[type[Exception], ...] = (),
    ) -> None:
        self.url = url
        self._errors = errors
        self.buffer: memoryview | None = None
        self.size: int | None = None
        self.identity: tuple[int, ...] | None = None
        self._chunks = chunks
        self._on_close = on_close
        self._buf = b""
        self._pos = 0
        self._hash: Any = None
        self._copy: Callable[[bytes], None] | None = None

    def copy_to(self, write: Callable[[bytes], None]) -> None:
        """Hand every chunk to ``write`` as well, as it arrives (the shard cache keeps a copy)."""
        if self._buf:
            raise AssertionError("copy_to after reading")
        self._copy = write

    def _next_chunk(self) -> bytes | None:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            return None
        except self._errors as e:
            raise ShardError(
                f"connection failed while streaming: {type(e).__name__}: {e}", url=self.url
            ) from None
        if self._hash is not None:
            self._hash.update(chunk)
        if self._copy is not None:
            self._copy(chunk)
        return chunk

    def read(self, n: int) -> bytes | memoryview:
        pos, buf = self._pos, self._buf
        if len(buf) - pos >= n:
            self._pos = pos + n
            return memoryview(buf)[pos : pos + n]
        parts = [buf[pos:]]
        have = len(parts[0])
        while have < n:
            chunk = self._next_chunk()
            if chunk is None:
                break
            parts.append(chunk)
            have += len(chunk)
        joined = b"".join(parts)
        self._buf, self._pos = joined, min(n, len(joined))
        return memoryview(joined)[:n]

    def start_digest(self) -> Callable[[], str]:
        # The hash must cover every byte, so it starts before the first read and sees each chunk.
        if self._buf:
            raise AssertionError("start_digest after reading")
        self._hash = hashlib.sha256()

        def result() -> str:
            while self._next_chunk() is not None:
                pass
            return str(self._hash.hexdigest())

        return result

    def digest_done(self) -> bool:
        return False  # the digest covers the whole stream, known only once it has been read

    def close(self) -> None:
        self._on_close()


def _client(timeout: float) -> httpx.Client:
    import httpx

    from atdata.network.tls import ssl_context

    return httpx.Client(timeout=timeout, follow_redirects=True, verify=ssl_context())


def open_http(url: str, timeout: float = DEFAULT_TIMEOUT) -> ChunkStream:
    import httpx

    client = _client(timeout)
    try:
        response = client.send(client.build_request("GET", url), stream=True)
    except httpx.HTTPError as e:
        client.close()
        raise ShardError(f"cannot connect: {type(e).__name__}: {e}", url=display(url)) from None
    if response.status_code != 200:
        response.close()
        client.close()
        raise ShardError(f"HTTP status {response.status_code}", url=display(url))

    def close() -> None:
        response.close()
        client.close()

    # iter_bytes() without a size hands over data as it arrives (a size would wait to fill it)
    return ChunkStream(display(url), response.iter_bytes(), close, httpx.HTTPError)


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of an object-store URL and the path within it."""
    try:
        from fsspec.core import url_to_fs

        fs, path = url_to_fs(url)
    except ImportError as e:
        raise ShardError(f"no driver for this storage ({e}): {driver_hint(url)}", url=display(url)) from None
    except ValueError as e:
        raise ShardError(f"cannot open: {e}", url=display(url)) from None
    return fs, path


def _chunks(f: Any) -> Generator[bytes, None, None]:
    try:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return
            yield chunk
    finally:
        f.close()


def open_fsspec(url: str) -> ChunkStream:
    """Stream an object-store shard through fsspec, block by block."""
    fs, path = filesystem(url)
    try:
        f = fs.open(path, "rb", block_size=CHUNK)
    except FileNotFoundError:
        raise ShardError("shard not found", url=display(url)) from None
    except Exception as e:  # each fsspec driver raises its own types (botocore's are not OSErrors)
        raise ShardError(f"cannot open: {type(e).__name__}: {e}", url=display(url)) from None
    chunks = _chunks(f)
    return ChunkStream(display(url), chunks, chunks.close, Exception)


def open_shard(url: str, timeout: float = DEFAULT_TIMEOUT) -> ShardReader:
    """Open a shard for sequential reading (local path, file://, http(s):// or an object store)."""
    kind = scheme(url)
    if kind == "http":
        return open_http(url, timeout)
    if kind == "fsspec":
        return open_fsspec(url)
    return MappedFile(url)


def fetch_small(url: str, timeout: float = DEFAULT_TIMEOUT, limit: int = 1 << 20) -> bytes | None:
    """The whole body of a small file (a sidecar), or None when it does not exist."""
    kind = scheme(url)
    if kind == "fsspec":
        fs, path = filesystem(url)
        try:
            with fs.open(path, "rb") as f:
                data: bytes = f.read(limit + 1)[:limit]
                return data
        except FileNotFoundError:
            return None
        except Exception as e:  # each fsspec driver raises its own types
            raise ShardError(f"cannot read: {type(e).__name__}: {e}", url=display(url)) from None
    if kind == "file":
        try:
            with open(local_path(url), "rb") as f:
                return f.read(limit + 1)[:limit]
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ShardError(f"cannot read: {e}", url=url) from None
    import httpx

    try:
        with _client(timeout) as client:
            response = client.get(url)
    except httpx.HTTPError as e:
        raise ShardError(f"cannot connect: {type(e).__name__}: {e}", url=display(url)) from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise ShardError(f"HTTP status {response.status_code}", url=display(url))
    return response.content[:limit]
