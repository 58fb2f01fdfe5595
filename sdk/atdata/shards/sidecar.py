"""The sidecar next to each shard (``<shard>.json``): its sample count, the sha-256 of its bytes and
the name of the sample type stored in it (``type``; absent in sidecars written before it was recorded).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from atdata.errors import ShardIntegrityError
from atdata.shards.blobs import cid_of_url
from atdata.shards.streams import DEFAULT_TIMEOUT, fetch_small
from atdata.shards.urls import display, sidecar_url

FORMAT = "atdata.shard/1"


@dataclass(frozen=True)
class Sidecar:
    samples: int
    sha256: str
    size: int
    sample_type: str | None = None
    """Name of the sample type the shard's samples were written as, when the writer recorded it."""

    def to_json(self) -> str:
        d: dict[str, object] = {
            "format": FORMAT,
            "samples": self.samples,
            "sha256": self.sha256,
            "bytes": self.size,
        }
        if self.sample_type is not None:
            d["type"] = self.sample_type
        return json.dumps(d, indent=2)

    @classmethod
    def parse(cls, text: bytes, where: str) -> Sidecar:
        try:
            d = json.loads(text)
            if d.get("format") != FORMAT:
                raise ValueError(f"format is {d.get('format')!r}, expected {FORMAT!r}")
            samples, sha, size = d["samples"], d["sha256"], d["bytes"]
            if type(samples) is not int or type(size) is not int or samples < 0 or size < 0:
                raise ValueError("samples and bytes must be non-negative integers")
            if not isinstance(sha, str) or len(sha) != 64:
                raise ValueError("sha256 must be 64 hex digits")
            int(sha, 16)
            stored = d.get("type")
            if stored is not None and (not isinstance(stored, str) or not 0 < len(stored) <= 256):
                raise ValueError("type must be a sample type name")
        except (ValueError, KeyError, AttributeError, TypeError) as e:
            raise ShardIntegrityError(f"unreadable sidecar {display(where)}: {e}", url=where) from None
        return cls(samples, sha.lower(), size, stored)


def read_sidecar(shard_url: str, timeout: float = DEFAULT_TIMEOUT) -> Sidecar | None:
    """The sidecar of a shard, or None when the shard has none."""
    if cid_of_url(shard_url) is not None:
        return None  # a blob has no file beside it: its dataset record gives count and size
    where = sidecar_url(shard_url)
    text = fetch_small(where, timeout)
    return None if text is None else Sidecar.parse(text, where)


def write_sidecar(shard_path: str, sidecar: Sidecar) -> None:
    path = shard_path + ".json"
    tmp = path + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(sidecar.to_json() + "\n")
    os.replace(tmp, path)
