"""Classes built from schema records pickle by reference, so DataLoader workers can use them.

A class that :func:`~atdata.schema.from_schema` builds exists in no module, so pickle cannot name
it, and a torch ``DataLoader`` worker (spawn: the dataset goes to the worker; fork: the samples come
back) would fail on it. Each such class carries how to rebuild it (``__atdata_reduce__``, which
:mod:`atdata.types.packable` hands to pickle):

- built from a record read from the network (it has a strong ref): by reference, the record's uri
  and CID and the cache folder holding it. The receiving process rebuilds it from its local record
  cache (:mod:`atdata.record_cache`, CID-checked there), never from the network;
- built from a record in hand (no ref): by value, the record itself (a few kB).

A process that already holds the class gets that very class back (one class per record and type
name per process), so ``isinstance`` and ``type(sample) is cls`` hold across the round trip.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from atdata.errors import AtdataError

REDUCE_ATTR = "__atdata_reduce__"

_built: weakref.WeakValueDictionary[str, type] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def _key(record: Mapping[str, Any], ref: Mapping[str, str] | None, local_name: str | None) -> str:
    plain_ref = {"uri": str(ref["uri"]), "cid": str(ref["cid"])} if ref is not None else None
    text = json.dumps([record, plain_ref, local_name], sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def remember(
    cls: type, record: Mapping[str, Any], ref: Mapping[str, str] | None, local_name: str | None
) -> type:
    """Record how to rebuild ``cls`` (the record's main type, or its local type ``local_name``) and
    return the class this process already holds for it, if any."""
    key = _key(record, ref, local_name)
    with _lock:
        known = _built.get(key)
        if known is not None:
            return known
        _built[key] = cls
    plain_ref = {"uri": str(ref["uri"]), "cid": str(ref["cid"])} if ref is not None else None
    by_value: tuple[Callable[..., type], tuple[Any, ...]] = (
        rebuild_from_record,
        (dict(record), plain_ref, local_name),
    )
    type.__setattr__(cls, REDUCE_ATTR, by_value)
    return cls


def refer_to_cache(cls: type, uri: str, cid: str, cache_root: Path) -> None:
    """Pickle ``cls`` (built from the record ``uri``/``cid``) by reference to the cache at
    ``cache_root``, rather than by value."""
    type.__setattr__(cls, REDUCE_ATTR, (rebuild_from_cache, (uri, cid, str(cache_root))))


def rebuild_from_record(record: dict[str, Any], ref: dict[str, str] | None, local_name: str | None) -> type:
    """The class of ``record`` (or of its local type ``local_name``) in this process."""
    from atdata.schema.record import from_schema

    key = _key(record, ref, local_name)
    with _lock:
        known = _built.get(key)
    if known is None:
        from_schema(record, resolve=_from_default_cache, ref=ref)  # remembers the record's classes
        with _lock:
            known = _built.get(key)
    if known is None:
        raise AtdataError(
            f"cannot rebuild the type {local_name or record.get('name')!r} from its schema record: "
            "the record does not define it"
        )
    return known


def rebuild_from_cache(uri: str, cid: str, cache_root: str) -> type:
    """The class of the record ``uri``/``cid``, built from the record cache at ``cache_root``."""
    from atdata.record_cache import RecordCache
    from atdata.resolve import class_from_cache, known_class

    known = known_class(cid)
    if known is not None:
        return known
    cache = RecordCache(Path(cache_root))
    if cache.get(cid, uri) is None:
        raise AtdataError(
            f"cannot rebuild the sample type of {uri} (cid {cid}) in this process: the record is not "
            f"in the local record cache {cache_root}; resolve it once in this process (atdata.resolve) "
            "or point ATDATA_CACHE_DIR at the cache the parent process used"
        )
    return class_from_cache(uri, cid, cache)


def _from_default_cache(ref: Mapping[str, str]) -> dict[str, Any]:
    from atdata.record_cache import RecordCache

    cached = RecordCache().get(str(ref["cid"]), str(ref["uri"]))
    if cached is None:
        raise AtdataError(
            f"cannot rebuild a type that refers to {ref['uri']} (cid {ref['cid']}): that record is not "
            "in the local record cache; resolve it once in this process (atdata.resolve)"
        )
    return cached.value
