"""The on-disk cache of records, addressed by CID, and of the names last resolved to them.

``<cache_dir>/records/<cid>.json`` holds one record with the uri and author it was read from. A
record's CID is its content's hash, so an entry is checked on every read by recomputing it: an
entry edited on disk (or half-written) is dropped and reads as a miss, and the caller fetches the
record again from its author's PDS. ``<cache_dir>/names/<sha256 of the name>.json`` remembers which
record a name resolved to last, so that schema classes resolve offline after first use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atdata.config import cache_dir
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


class RecordCache:
    """Records by CID under ``root`` (default: ``<cache_dir>/records`` and ``<cache_dir>/names``)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else cache_dir()

    def _record_path(self, cid: str) -> Path | None:
        return self.root / "records" / f"{cid}.json" if _CID_RE.match(cid) else None

    def _name_path(self, name: str) -> Path:
        return self.root / "names" / f"{hashlib.sha256(name.encode()).hexdigest()}.json"

    # --- records ---------------------------------------------------------------------------

    def get(self, cid: str) -> CachedRecord | None:
        """The record with this CID, or None when absent or when the entry fails its CID check."""
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
            {"name": name, "uri": record.uri, "cid": record.cid, "author": record.author},
        )

    def name(self, name: str) -> NameEntry | None:
        try:
            data = json.loads(self._name_path(name).read_text(encoding="utf-8"))
            if data["name"] != name:
                return None  # a hash collision is not this name
            return NameEntry(name, str(data["uri"]), str(data["cid"]), str(data["author"]))
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
