"""The on-disk cache of records, addressed by CID, and of the names last resolved to them.

Each network (named by its PLC directory's URL, which is where its DIDs live) has its own folder,
``<cache_dir>/networks/<host>-<hash of the PLC URL>/``, so a name or a record never crosses from one
network to another: a local network started afresh, or the public one, never sees the other's.

``records/<cid>.json`` holds one record with the uri and author it was read from. A record's CID is
its content's hash, so an entry is checked on every read by recomputing it: an entry edited on disk
(or half-written) is dropped and reads as a miss, and the caller fetches the record again from its
author's PDS. The same content published at another uri has the same CID, so a read asks for the uri
too. ``names/<sha256 of the name>.json`` remembers which record a name resolved to last, and when, so
that schema classes resolve offline after first use, with a warning naming the record and its age.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from atdata.config import cache_dir, settings
from atdata.errors import SchemaError
from atdata.schema import record_cid

log = logging.getLogger(__name__)

# CIDv1 base32 as ATProto writes them: a safe file name, and nothing else is.
_CID_RE = re.compile(r"^b[a-z2-7]{20,120}$")


@dataclass(frozen=True)
class CachedRecord:
    uri: str
    cid: str
    author: str
    value: dict[str, Any]

    @property
    def ref(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


@dataclass(frozen=True)
class NameEntry:
    """What a name resolved to last: the record's strong ref and author."""

    name: str
    uri: str
    cid: str
    author: str
    saved_at: float | None = None
    """When the name was last resolved to this record (seconds since the epoch), if known."""

    def age(self, now: float | None = None) -> str:
        """How long ago the name was resolved, for people (``"3 min 12 s"``), or ``"unknown"``."""
        if self.saved_at is None:
            return "an unknown time"
        return describe_age((now if now is not None else time.time()) - self.saved_at)


def describe_age(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days {s % 86400 // 3600} h"


def network_dir(plc: str, base: Path | None = None) -> Path:
    """The cache folder of the network whose PLC directory is at ``plc``."""
    url = plc.rstrip("/")
    host = re.sub(r"[^A-Za-z0-9.-]+", "-", urlsplit(url).netloc or "unknown").strip("-.") or "unknown"
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return (base if base is not None else cache_dir()) / "networks" / f"{host}-{digest}"


class RecordCache:
    """Records by CID under ``root`` (default: the folder of the configured network's PLC directory,
    see :func:`network_dir`)."""

    def __init__(self, root: Path | None = None, *, plc: str | None = None) -> None:
        self.root = root if root is not None else network_dir(plc or settings().plc)

    def _record_path(self, cid: str) -> Path | None:
        return self.root / "records" / f"{cid}.json" if _CID_RE.match(cid) else None

    def _name_path(self, name: str) -> Path:
        return self.root / "names" / f"{hashlib.sha256(name.encode()).hexdigest()}.json"

    # --- records ---------------------------------------------------------------------------

    def get(self, cid: str, uri: str | None = None) -> CachedRecord | None:
        """The record with this CID (read from ``uri``, when given), or None when absent, read from
        another uri, or when the entry fails its CID check."""
        path = self._record_path(cid)
        if path is None:
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            value = entry["value"]
            ok = isinstance(value, dict) and record_cid(value) == cid
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, SchemaError):
            ok = False
        if not ok:
            log.warning("cached record %s does not match its CID; dropping it and fetching it again", path)
            path.unlink(missing_ok=True)
            return None
        if uri is not None and entry["uri"] != uri:
            return None  # the same content at another uri: another author's (or repo's) record
        return CachedRecord(str(entry["uri"]), cid, str(entry["author"]), value)

    def put(self, uri: str, author: str, value: dict[str, Any]) -> CachedRecord:
        """Store a record under the CID computed from it (callers have checked it is the one expected)."""
        cid = record_cid(value)
        path = self._record_path(cid)
        assert path is not None, f"record_cid gave an unexpected CID form: {cid}"
        _write(path, {"uri": uri, "cid": cid, "author": author, "value": value})
        return CachedRecord(uri, cid, author, value)

    # --- names -----------------------------------------------------------------------------

    def remember_name(self, name: str, record: CachedRecord) -> None:
        _write(
            self._name_path(name),
            {
                "name": name,
                "uri": record.uri,
                "cid": record.cid,
                "author": record.author,
                "saved_at": time.time(),
            },
        )

    def name(self, name: str) -> NameEntry | None:
        try:
            data = json.loads(self._name_path(name).read_text(encoding="utf-8"))
            if data["name"] != name:
                return None  # a hash collision is not this name
            saved = data.get("saved_at")
            return NameEntry(
                name,
                str(data["uri"]),
                str(data["cid"]),
                str(data["author"]),
                float(saved) if isinstance(saved, (int, float)) else None,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write atomically, so a reader never sees half an entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
