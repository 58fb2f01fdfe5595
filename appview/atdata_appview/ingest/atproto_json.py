"""DAG-CBOR values as decoded by libipld -> the ATProto JSON form (``$bytes``, ``$link``)."""

from __future__ import annotations

import base64
from typing import Any

import libipld


def _as_link(b: bytes) -> str | None:
    # libipld decodes links to their binary CID and re-encodes any bytes that parse as a CID as a
    # link, so "parses as a CIDv1" is the rule that round-trips.
    if len(b) < 36 or b[0] != 1:
        return None
    try:
        return str(libipld.encode_cid(b))
    except ValueError:
        return None


def to_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, bytes):
        link = _as_link(value)
        if link is not None:
            return {"$link": link}
        return {"$bytes": base64.b64encode(value).decode().rstrip("=")}
    return value
