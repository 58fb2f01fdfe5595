"""Local copies of remote shards, so that the second epoch over an http or object-store dataset reads
from disk instead of the network.

A shard is cached only when it has a sidecar, and under the sidecar's sha-256
(``<root>/<sha256>.tar``): the copy is written while the shard streams, and kept only once the bytes
that arrived hash to the sidecar's digest and count. A copy is hashed again the first time a process
uses it (then remembered by file identity, like any local shard), so a copy damaged on disk is
dropped and the shard fetched again. The cache holds at most ``max_bytes``; the least recently used
copies are removed first. The root is ``cache_dir=`` of :class:`atdata.Dataset`, else
``$ATDATA_CACHE_DIR/shards`` (the user cache dir by default); the bound is ``ATDATA_SHARD_CACHE_BYTES``
(default 20 GiB; 0 turns the cache off).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mmap
import os
import tempfile
import threading
from pathlib import Path
from typing import IO

from atdata.config import cache_dir
from atdata.errors import DatasetError
from atdata.shards.sidecar import Sidecar

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 << 30
_HASH_CHUNK = 64 << 20
# Copies hashed and found intact in this process, by file identity.
_checked: dict[tuple[int, ...], str] = {}
_lock = threading.Lock()


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class ShardCache:
    """Remote shards kept on disk by the sha-256 of their sidecars (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise DatasetError(f"the shard cache size must be >= 0 bytes, not {max_bytes}")
        self.root = Path(root)
        self.max_bytes = max_bytes

    @classmethod
    def default(cls) -> ShardCache | None:
        """The cache under ``$ATDATA_CACHE_DIR/shards``, or None when ``ATDATA_SHARD_CACHE_BYTES=0``."""
        raw = os.environ.get("ATDATA_SHARD_CACHE_BYTES", "")
        try:
            limit = int(raw) if raw else DEFAULT_MAX_BYTES
        except ValueError:
            raise DatasetError(f"ATDATA_SHARD_CACHE_BYTES must be a number of bytes, not {raw!r}") from None
        return cls(cache_dir() / "shards", limit) if limit > 0 else None

    def _path(self, sidecar: Sidecar) -> Path:
        return self.root / f"{sidecar.sha256}.tar"

    def lookup(self, sidecar: Sidecar) -> Path | None:
        """The intact local copy of the shard this sidecar describes, or None."""
        path = self._path(sidecar)
        try:
            st = path.stat()
        except OSError:
            return None
        if st.st_size != sidecar.size or not self._intact(path, st, sidecar.sha256):
            log.warning("cached shard %s does not match its sidecar; dropping it", path)
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return path

    def _intact(self, path: Path, st: os.stat_result, sha256: str) -> bool:
        key = _identity(st)
        with _lock:
            if _checked.get(key) == sha256:
                return True
        h = hashlib.sha256()
        with open(path, "rb") as f:
            if st.st_size:
                with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                    view = memoryview(m)
                    for start in range(0, len(view), _HASH_CHUNK):
                        h.update(view[start : start + _HASH_CHUNK])
                    view.release()
        if h.hexdigest() != sha256:
            return False
        with _lock:
            _checked[key] = sha256
        return True

    def pending(self, sidecar: Sidecar) -> PendingShard | None:
        """A copy to fill while the shard streams, or None when it would not fit the cache."""
        if sidecar.size > self.max_bytes:
            return None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-", suffix=".tar")
        except OSError as e:
            log.warning("cannot write to the shard cache %s: %s", self.root, e)
            return None
        return PendingShard(self, sidecar, Path(tmp), os.fdopen(fd, "wb"))

    def evict(self, keep: Path | None = None) -> None:
        """Remove the least recently used copies until the cache holds at most ``max_bytes``."""
        entries = []
        for p in self.root.glob("*.tar"):
            with contextlib.suppress(OSError):
                st = p.stat()
                entries.append((st.st_mtime_ns, st.st_size, p))
        total = sum(size for _, size, _ in entries)
        for _, size, p in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            if p == keep:
                continue
            p.unlink(missing_ok=True)
            total -= size


class PendingShard:
    """The copy of one shard being written; :meth:`commit` once its bytes were verified."""

    def __init__(self, cache: ShardCache, sidecar: Sidecar, tmp: Path, file: IO[bytes]) -> None:
        self.cache, self.sidecar, self.tmp, self._file = cache, sidecar, tmp, file
        self._failed = False

    def write(self, chunk: bytes) -> None:
        if self._failed:
            return
        try:
            self._file.write(chunk)
        except OSError as e:  # a full disk costs the copy, never the read
            log.warning("cannot write to the shard cache: %s", e)
            self._failed = True

    def commit(self, sha256: str) -> None:
        """Keep the copy if the stream hashed to the sidecar's digest (the reader checked it)."""
        try:
            self._file.close()
            if self._failed or sha256 != self.sidecar.sha256 or self.tmp.stat().st_size != self.sidecar.size:
                return
            final = self.cache._path(self.sidecar)
            os.replace(self.tmp, final)
            with _lock:
                _checked[_identity(final.stat())] = sha256
            self.cache.evict(keep=final)
        except OSError as e:
            log.warning("cannot keep the shard in the cache: %s", e)
        finally:
            self.tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        self.tmp.unlink(missing_ok=True)
