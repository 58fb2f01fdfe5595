"""Shards stored as blobs in their author's repository, read by CID and checked before use.

``atdata publish dataset --blobs`` uploads each shard with ``com.atproto.repo.uploadBlob`` and puts
its blob reference in the dataset record (``shards[i].blob``), so the data lives on the same network
as its schema. A reader finds the author's PDS from the DID document (never from the record) and
fetches each shard with ``com.atproto.sync.getBlob?did=...&cid=...``.

A blob's CID is the sha-256 of its bytes (CIDv1, raw codec, sha2-256 multihash), so a getBlob URL
carries its own check: :func:`open_blob` downloads the whole shard to disk (into the shard cache
when there is one, else a temporary file), bounded by the size the record gives, hashes it, and
hands over the bytes only once they match the CID. No sample of an unchecked blob is ever yielded,
and later epochs read the verified copy. The same holds for atdata 0.7's ``storageBlobs`` entries.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from atdata.errors import ShardIntegrityError

if TYPE_CHECKING:
    from atdata.shards.shard_cache import ShardCache
    from atdata.shards.sidecar import Sidecar
    from atdata.shards.streams import MappedFile

GET_BLOB = "com.atproto.sync.getBlob"
MIME_TYPE = "application/x-tar"
MAX_UNSIZED_BYTES = 1 << 32
"""Most bytes read for a blob whose size nobody stated (a PDS's own limit is far lower)."""

_RAW_SHA256 = b"\x01\x55\x12\x20"  # CIDv1, raw codec, sha2-256, 32-byte digest
_B32 = re.compile(r"b[a-z2-7]{58}")


def blob_cid(sha256: str) -> str:
    """The CID a PDS gives a blob whose bytes have this sha-256 (hex)."""
    digest = bytes.fromhex(sha256)
    return "b" + base64.b32encode(_RAW_SHA256 + digest).decode("ascii").lower().rstrip("=")


def sha256_of_cid(cid: str) -> str | None:
    """The hex sha-256 a blob CID names, or None when it is not a CIDv1 raw sha-256 CID."""
    if not isinstance(cid, str) or not _B32.fullmatch(cid):
        return None
    raw = base64.b32decode(cid[1:].upper() + "=" * (-len(cid[1:]) % 8))
    if not raw.startswith(_RAW_SHA256) or len(raw) != 36:
        return None
    return raw[4:].hex()


def blob_url(pds: str, did: str, cid: str) -> str:
    return f"{pds.rstrip('/')}/xrpc/{GET_BLOB}?did={quote(did, safe='')}&cid={cid}"


def cid_of_url(url: str) -> str | None:
    """The CID a getBlob URL names (None for any other URL)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.path.endswith("/xrpc/" + GET_BLOB):
        return None
    cids = parse_qs(parts.query).get("cid", [])
    return cids[0] if len(cids) == 1 else None


def blob_ref(value: Any) -> tuple[str, int | None] | None:
    """``(cid, size)`` of a blob reference in its JSON form, or None when ``value`` is not one."""
    if not isinstance(value, Mapping) or value.get("$type") != "blob":
        return None
    ref = value.get("ref")
    link = ref.get("$link") if isinstance(ref, Mapping) else None
    if not isinstance(link, str):
        return None
    size = value.get("size")
    return link, size if type(size) is int and size >= 0 else None


def record_blob_urls(record: Mapping[str, Any], author: str, pds: str, where: str) -> list[str] | None:
    """The getBlob URLs of a ``dev.atdata.dataset`` record whose shards are blobs, on the author's
    PDS (from the DID document); None when the record keeps its shards elsewhere."""
    shards = record.get("shards")
    if not isinstance(shards, list) or not any(isinstance(s, Mapping) and "blob" in s for s in shards):
        return None
    urls = []
    for i, shard in enumerate(shards):
        found = blob_ref(shard.get("blob")) if isinstance(shard, Mapping) else None
        if found is None or sha256_of_cid(found[0]) is None:
            raise ShardIntegrityError(
                f"dataset record {where}: shards[{i}].blob is not a blob reference to a sha-256 CID "
                "(every shard of a blob dataset must be one)"
            )
        urls.append(blob_url(pds, author, found[0]))
    return urls


def record_sidecars(record: Mapping[str, Any], urls: Sequence[str]) -> dict[str, Sidecar]:
    """Sidecars of a blob dataset's shards, from its record (a blob has no file beside it)."""
    from atdata.shards.sidecar import Sidecar

    shards = record.get("shards")
    out: dict[str, Sidecar] = {}
    if not isinstance(shards, list) or len(shards) != len(urls):
        return out
    for url, shard in zip(urls, shards):
        cid = cid_of_url(url)
        sha = sha256_of_cid(cid) if cid else None
        if sha is None or not isinstance(shard, Mapping):
            continue
        found = blob_ref(shard.get("blob"))
        samples, size = shard.get("samples"), shard.get("size")
        size = size if type(size) is int else found[1] if found else None
        if type(samples) is int and samples >= 0 and type(size) is int and size >= 0:
            out[url] = Sidecar(samples, sha, size)
    return out


def open_blob(
    url: str, cid: str, sidecar: Sidecar | None, cache: ShardCache | None, timeout: float
) -> MappedFile:
    """The blob at ``url`` as a local, memory-mapped file whose bytes hash to ``cid``.

    Downloaded whole first (into the shard cache when there is one and the sidecar gives the size,
    else a temporary file removed once mapped), never more than the sidecar's size; raises
    :class:`~atdata.errors.ShardIntegrityError` naming the shard and both digests when the bytes are
    not the ones the CID names.
    """
    from atdata.shards.streams import MappedFile, open_http
    from atdata.shards.urls import display

    shown = display(url) + f" (blob {cid})"
    sha = sha256_of_cid(cid)
    if sha is None:
        raise ShardIntegrityError(f"blob CID {cid!r} does not name a sha-256 of the bytes", url=display(url))
    if sidecar is not None and sidecar.sha256 != sha:
        raise ShardIntegrityError(
            f"the dataset record gives sha-256 {sidecar.sha256} for blob {cid}, which names {sha}",
            url=display(url),
        )
    limit = sidecar.size if sidecar is not None else MAX_UNSIZED_BYTES
    if cache is not None and sidecar is not None:
        local = cache.lookup(sidecar)
        if local is not None:
            return _mapped(str(local), shown, MappedFile)
    pending = cache.pending(sidecar) if cache is not None and sidecar is not None else None
    write: Callable[[bytes], object]
    if pending is not None:
        write, target = pending.write, pending.tmp
    else:
        fd, name = tempfile.mkstemp(prefix="atdata-blob-", suffix=".tar")
        handle = os.fdopen(fd, "wb")
        write, target = handle.write, Path(name)
    h = hashlib.sha256()
    size = 0
    stream = open_http(url, timeout)
    try:
        while True:
            chunk = stream.read(1 << 20)
            if not len(chunk):
                break
            size += len(chunk)
            if size > limit:
                raise ShardIntegrityError(
                    f"blob is larger than the {limit} bytes its record gives", url=shown
                )
            data = bytes(chunk)
            h.update(data)
            write(data)
        got = h.hexdigest()
        if got != sha:
            raise ShardIntegrityError(
                f"blob bytes hash to sha-256 {got}, but its CID names {sha}: not the shard the record "
                "names, refused before any sample was read",
                url=shown,
            )
        if sidecar is not None and size != sidecar.size:
            raise ShardIntegrityError(f"blob is {size} bytes, its record says {sidecar.size}", url=shown)
    except BaseException:
        if pending is not None:
            pending.discard()
        else:
            handle.close()
            target.unlink(missing_ok=True)
        raise
    finally:
        stream.close()
    if pending is not None and cache is not None and sidecar is not None:
        pending.commit(got)
        local = cache.lookup(sidecar)
        if local is not None:
            return _mapped(str(local), shown, MappedFile)
        return open_blob(url, cid, sidecar, None, timeout)  # the cache could not keep it (disk full)
    handle.close()
    try:
        return _mapped(str(target), shown, MappedFile)
    finally:
        target.unlink(missing_ok=True)  # the map keeps the bytes until it is closed


def _mapped(path: str, shown: str, kind: type[MappedFile]) -> MappedFile:
    mapped = kind(path)
    mapped.url = shown  # errors name the shard, not the local copy
    return mapped
