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


def _bytes_json(b: bytes) -> dict[str, str]:
    link = _as_link(b)
    if link is not None:
        return {"$link": link}
    return {"$bytes": base64.b64encode(b).decode().rstrip("=")}


def to_json(value: Any) -> Any:
    """``value`` in the JSON form, converted in place: only byte strings are replaced, and the maps
    and lists that hold them are the ones libipld just decoded (rebuilding every container cost the
    ingest more than decoding the block did)."""
    t = type(value)
    if t is dict:
        for k, v in value.items():
            t = type(v)
            if t is dict or t is list:
                to_json(v)
            elif t is bytes:
                value[k] = _bytes_json(v)  # replacing a value leaves the dict's keys as they are
        return value
    if t is list:
        for i, v in enumerate(value):
            t = type(v)
            if t is dict or t is list:
                to_json(v)
            elif t is bytes:
                value[i] = _bytes_json(v)
        return value
    if t is bytes:
        return _bytes_json(value)
    return value
