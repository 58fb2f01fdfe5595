"""Checksums, sizes and sample counts of a dataset's shards, computed from the shards' own bytes.

Local shards are read in place; remote (http/https) shards are streamed once into a temporary file
that is hashed as it arrives, then counted and deleted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import httpx
from tqdm import tqdm

from atdata.errors import ShardError
from atdata.shards import expand, samples
from atdata.shards.urls import display, local_path, scheme
from atdata_registry.record_builders import ShardInfo

_CHUNK = 1 << 20


def _sha256_of_file(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


@contextmanager
def _downloaded(url: str, timeout: float) -> Iterator[tuple[str, str, int]]:
    """Stream a remote shard to a temp file; yields (path, sha256, size)."""
    h = hashlib.sha256()
    size = 0
    fd, path = tempfile.mkstemp(prefix="atdata-shard-", suffix=".tar")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
                    if response.status_code != 200:
                        raise ShardError(f"HTTP status {response.status_code}", url=display(url))
                    for chunk in response.iter_bytes(_CHUNK):
                        h.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
            except httpx.HTTPError as e:
                raise ShardError(f"cannot download: {type(e).__name__}: {e}", url=display(url)) from None
        yield path, h.hexdigest(), size
    finally:
        os.unlink(path)


def shard_info(url: str, *, timeout: float = 60.0) -> ShardInfo:
    """The sha-256, byte size and number of samples of one shard (local path, file:// or http(s))."""
    if scheme(url) == "http":
        with _downloaded(url, timeout) as (path, sha, size):
            count = sum(1 for _ in samples(path, verify=False))
        return ShardInfo(url=url, sha256=sha, samples=count, size=size)
    path = local_path(url)
    if not os.path.isfile(path):
        raise ShardError("shard file not found", url=url)
    sha, size = _sha256_of_file(path)
    count = sum(1 for _ in samples(path, verify=False))
    return ShardInfo(url=url, sha256=sha, samples=count, size=size)


def dataset_shards(
    urls: Sequence[str] | str, *, progress: bool = True, timeout: float = 60.0
) -> list[ShardInfo]:
    """:func:`shard_info` of every shard the (brace-pattern) URLs name, in order, with a progress bar."""
    expanded = expand(urls if isinstance(urls, str) else list(urls))
    bar: Iterable[str] = tqdm(expanded, desc="shards", unit="shard", disable=None if progress else True)
    return [shard_info(u, timeout=timeout) for u in bar]
