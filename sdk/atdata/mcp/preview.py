"""The first samples of a dataset for an agent to look at, read within fixed bounds and past the guard.

Shard locations come from the agent or from a dataset record a stranger wrote, so each one passes
the location guard (:mod:`atdata.network.guard`) before a byte is read. At most :data:`MAX_BYTES`
are read in all (from at most :data:`MAX_SHARDS` shards, within :data:`MAX_SECONDS`), and only the
samples complete within them are decoded: the prefix is cut after the last whole sample and read
by :class:`~atdata.Dataset` from a private temporary directory, so decoding and lens coercion are
the SDK's own. Sidecar checksums cover whole shards, so a prefix is read unverified.

Errors never quote the data: a shard that cannot be read says where and what kind of failure, not
the bytes (a tar header, a msgpack value or a file's contents could be a secret).
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from atdata.dataset import Dataset
from atdata.errors import AtdataError, LocationRefusedError, ShardError
from atdata.network.guard import Guard
from atdata.shards.tar import BLOCK, end_of_archive, members
from atdata.shards.urls import display, expand, scheme

MAX_BYTES = 16 << 20
MAX_SECONDS = 30.0
MAX_SHARDS = 8
MAX_SAMPLES = 50
_IPV6_URL = re.compile(r"[a-z][a-z0-9+.-]*://\[", re.IGNORECASE)


class PreviewError(AtdataError):
    """A preview could not be read; the message names the shard and the kind of failure only."""


@dataclass(frozen=True)
class Prefix:
    """The whole samples at the start of one shard: tar bytes (ended properly) and their count."""

    url: str
    data: bytes
    samples: int
    truncated: bool


def read_samples(
    guard: Guard,
    locations: str | list[str],
    sample_type: type,
    *,
    n: int,
    as_type: type | None = None,
    published: Any = None,
) -> tuple[list[Any], type, bool]:
    """Up to ``n`` samples (read as ``as_type`` when given), the type they were read as, and whether
    the byte or time bound cut the reading short."""
    n = max(1, min(n, MAX_SAMPLES))
    deadline = time.monotonic() + MAX_SECONDS
    urls = _expanded(locations)[:MAX_SHARDS]
    prefixes: list[Prefix] = []
    budget = MAX_BYTES
    have = 0
    for url in urls:
        if have >= n or budget <= 0 or time.monotonic() >= deadline:
            break
        raw = _read_prefix(guard, url, budget, deadline)
        budget -= len(raw)
        prefix = whole_samples(url, raw, n - have)
        prefixes.append(prefix)
        have += prefix.samples
    cut_short = any(p.truncated for p in prefixes) or (
        have < n and (budget <= 0 or time.monotonic() >= deadline)
    )
    if have == 0:
        return [], as_type or sample_type, cut_short
    with tempfile.TemporaryDirectory(prefix="atdata-preview-") as tmp:
        paths = []
        for i, p in enumerate(prefixes):
            if p.samples:
                path = os.path.join(tmp, f"shard-{i:04d}.tar")
                with open(path, "wb") as f:
                    f.write(p.data)
                paths.append(path)
        data: Dataset[Any] = Dataset(paths, sample_type=sample_type, verify=False)
        data.published = published  # tells remote coercion which schema record the samples hold
        if as_type is not None and as_type is not sample_type:
            data = data.as_type(as_type, chunk=n)
        out = _decoded(data, n, deadline, urls)
        return out, data.sample_type, cut_short


def _expanded(locations: str | list[str]) -> list[str]:
    # An IPv6 literal ([::1]) would be split at its '::' (the joiner of shard patterns): keep it whole,
    # so that the guard judges the address it names.
    out: list[str] = []
    for loc in [locations] if isinstance(locations, str) else locations:
        out.extend([loc] if _IPV6_URL.match(loc) else expand(loc))
    return out


def _decoded(data: Dataset[Any], n: int, deadline: float, urls: list[str]) -> list[Any]:
    out: list[Any] = []
    it: Iterator[Any] = iter(data.ordered())
    try:
        for sample in itertools.islice(it, n):
            out.append(sample)
            if time.monotonic() >= deadline:
                break
    except AtdataError as e:
        where = display(urls[0]) if len(urls) == 1 else f"{display(urls[0])} and later shards"
        raise PreviewError(
            f"sample {len(out)} of {where} could not be read as {data.sample_type.__name__} "
            f"({type(e).__name__}; details withheld, since they could quote the data)"
        ) from None
    return out


def _read_prefix(guard: Guard, url: str, budget: int, deadline: float) -> bytes:
    """At most ``budget`` bytes from the start of the shard at ``url``, the guard permitting."""
    try:
        kind = scheme(url)
    except AtdataError:
        kind = "other"
    if kind == "file":
        path = guard.local_path(url)
        try:
            with open(path, "rb") as f:
                return f.read(budget)
        except OSError as e:
            raise PreviewError(
                f"cannot read the shard {url!r}: {type(e).__name__} ({e.strerror or 'failed'})"
            ) from None
    guard.check_scheme(url)
    shown = display(url)
    chunks: list[bytes] = []
    size = 0
    try:
        timeout = httpx.Timeout(min(10.0, max(0.5, deadline - time.monotonic())))
        with (
            httpx.Client(
                transport=guard.transport(), timeout=timeout, follow_redirects=True, max_redirects=5
            ) as client,
            # identity: the bound is on bytes as sent, and a compressed body would not be a tar
            client.stream("GET", url, headers={"accept-encoding": "identity"}) as response,
        ):
            if response.status_code != 200:
                raise PreviewError(f"cannot read the shard {shown}: HTTP status {response.status_code}")
            for chunk in response.iter_raw():  # as it arrives: a drip must not wait for a full chunk
                chunks.append(chunk[: budget - size])
                size += len(chunks[-1])
                if size >= budget or time.monotonic() >= deadline:
                    break
    except LocationRefusedError:
        raise
    except httpx.HTTPError as e:
        if not chunks:
            raise PreviewError(f"cannot read the shard {shown}: {type(e).__name__}") from None
    return b"".join(chunks)


def whole_samples(url: str, raw: bytes, limit: int) -> Prefix:
    """The first whole samples (at most ``limit``) of a shard's first bytes, as a proper tar."""
    pos = 0

    def read(k: int) -> memoryview:
        nonlocal pos
        start, pos = pos, min(pos + k, len(raw))
        return memoryview(raw)[start:pos]

    view = memoryview(raw)
    ends: list[int] = []  # where each complete sample's last member ends
    key: str | None = None
    truncated = False
    try:
        for name, _ in members(read, display(url)):
            slash = name.rfind("/")
            dot = name.find(".", slash + 1)
            k = name if dot < 0 else name[:dot]
            if k != key:
                if len(ends) == limit:
                    break
                ends.append(pos)
                key = k
            else:
                ends[-1] = pos
    except ShardError:
        truncated = True  # the bytes ended (or went bad) inside a member: keep what came before
    if not ends:
        if truncated:
            raise PreviewError(
                f"the shard {display(url)} holds no readable sample in its first {len(raw)} bytes "
                "(not a tar of atdata samples, or a first sample larger than the preview reads)"
            )
        return Prefix(url, b"", 0, False)
    end = ends[-1]
    end += -end % BLOCK
    return Prefix(url, bytes(view[:end]) + end_of_archive(), len(ends), truncated)
