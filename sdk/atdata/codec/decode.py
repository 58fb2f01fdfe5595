"""Bytes to typed samples: a decoder compiled once per sample type from its TypeSpec.

Every field is checked (presence, scalar type, Literal value, array dtype and shape, JSON-likeness,
nested types) by converters chosen once per field when the decoder is built, and the instance is then
made with ``construct_unchecked``: running pydantic per sample would cost more than reading the shard.
Errors name the field path (``inners[1].name``) and become :class:`ShardError` with shard and key.
"""

from __future__ import annotations

import copy
import datetime as _dt
from collections.abc import Callable
from typing import Any, TypeVar

import msgpack
import numpy as np

from atdata.codec.arrays import ArrayFormatError, decode_array, header_end, is_npy, parse_header, view
from atdata.errors import AtdataError, SampleValidationError, ShardError
from atdata.types.fields import (
    MISSING,
    ArrayType,
    FieldType,
    JsonType,
    ListType,
    LiteralType,
    OptionalType,
    RefType,
    Scalar,
)
from atdata.types.packable import check_json, check_shared_axes, construct_unchecked, shared_axes, spec_of

T = TypeVar("T")
Convert = Callable[[Any], Any]

_ABSENT = object()
_EXACT: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "bytes": bytes}


class _Bad(AtdataError):
    """A field value does not fit; ``path`` grows as the error travels out of nested values."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


def _kind(value: Any) -> str:
    if isinstance(value, bytes):
        return f"bytes of length {len(value)}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _datetime(v: Any) -> Any:
    if type(v) is not str:
        raise _Bad(f"expected a datetime (ISO 8601 text), got {_kind(v)}")
    try:
        return _dt.datetime.fromisoformat(v)
    except ValueError:
        raise _Bad(f"expected a datetime (ISO 8601 text), got {_kind(v)}") from None


def _scalar(kind: str) -> Convert:
    if kind == "datetime":
        return _datetime
    exact = _EXACT.get(kind)
    if exact is None:
        raise AssertionError(kind)

    def convert(v: Any) -> Any:
        if type(v) is exact:
            return v
        # msgpack keeps 1.0 and 1 apart, but writers (and JSON-minded users) often store whole
        # floats as ints; widening is lossless for the values a float field can hold.
        if exact is float and type(v) is int:
            return float(v)
        raise _Bad(f"expected {kind}, got {_kind(v)}")

    return convert


def _literal(ft: LiteralType) -> Convert:
    allowed = {(type(v), v) for v in ft.values}

    def convert(v: Any) -> Any:
        try:
            if (type(v), v) in allowed:
                return v
        except TypeError:  # unhashable
            pass
        raise _Bad(f"expected one of {list(ft.values)!r}, got {_kind(v)}")

    return convert


def _array(ft: ArrayType) -> Convert:
    want = np.dtype(ft.dtype) if ft.dtype is not None else None
    shape = ft.shape
    # Headers seen before (with dtype and shape already checked against the field) -> parsed header.
    seen: dict[bytes, tuple[np.dtype, tuple[int, ...], int]] = {}

    def check(a_dtype: np.dtype, a_shape: tuple[int, ...]) -> None:
        if want is not None and a_dtype != want and a_dtype.name != ft.dtype:
            raise _Bad(f"expected dtype {ft.dtype}, got {a_dtype}")
        if shape is not None and (
            len(a_shape) != len(shape) or any(w is not None and w != g for w, g in zip(shape, a_shape))
        ):
            want_s = "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
            raise _Bad(f"expected shape {want_s}, got {a_shape}")

    # The last header parsed, with the total length it implies: (length, header, shape, dtype, end).
    # One tuple, swapped whole, so a decoder shared by threads never mixes two headers.
    last: tuple[int, bytes, tuple[int, ...], Any, int] = (-1, b"", (), None, 0)

    def slow(v: Any) -> Any:
        nonlocal last
        try:
            if is_npy(v):
                a = decode_array(v)
                check(a.dtype, a.shape)
                return a
            end = header_end(v)
            head = v[:end]
            parsed = seen.get(head)
            if parsed is None:
                parsed = parse_header(head)
                check(parsed[0], parsed[1])
                if len(seen) >= 64:
                    seen.clear()
                seen[head] = parsed
            a = view(v, end, *parsed)
            if parsed[2]:
                last = (end + parsed[2], head, parsed[1], parsed[0], end)
            return a
        except ArrayFormatError as e:
            raise _Bad(str(e)) from None

    ndarray = np.ndarray

    def convert(v: Any) -> Any:
        # Fast path: the same header as the last array (so its dtype and shape were checked) and
        # the length that header needs. A header is self-delimiting: equal prefix, equal header.
        length, head, a_shape, a_dtype, end = last
        if type(v) is bytes and len(v) == length and v.startswith(head):
            return ndarray(a_shape, a_dtype, v, end)
        if type(v) is not bytes:
            raise _Bad(f"expected an array (msgpack bin), got {_kind(v)}")
        return slow(v)

    return convert


def _optional(inner: Convert) -> Convert:
    def convert(v: Any) -> Any:
        return None if v is None else inner(v)

    return convert


def _list(inner: Convert) -> Convert:
    def convert(v: Any) -> Any:
        if type(v) is not list:
            raise _Bad(f"expected a list, got {_kind(v)}")
        out = []
        for i, x in enumerate(v):
            try:
                out.append(inner(x))
            except _Bad as e:
                e.path.insert(0, f"[{i}]")
                raise
        return out

    return convert


_JSON_LEAVES = frozenset((str, int, float, bool, type(None)))
_CONTAINERS = frozenset((dict, list))
_STR = frozenset((str,))


def _json_ok(v: Any) -> bool:
    # Keys by a type set built in C; values by a plain loop, which measured twice as fast as sets
    # of their types for the small dicts samples carry, and faster for large ones too.
    t = type(v)
    if t is dict:
        if not _STR.issuperset(map(type, v)):
            return False
        values: Any = v.values()
    elif t is list:
        values = v
    else:
        return t in _JSON_LEAVES
    for x in values:
        tx = type(x)
        if tx in _JSON_LEAVES:
            continue
        if tx not in _CONTAINERS or not _json_ok(x):
            return False
    return True


def _json(v: Any) -> Any:
    # _json_ok's dict branch, inlined: this runs once per sample for every dict field.
    if type(v) is dict and _STR.issuperset(map(type, v)):
        for x in v.values():
            tx = type(x)
            if tx in _JSON_LEAVES:
                continue
            if tx not in _CONTAINERS or not _json_ok(x):
                break
        else:
            return v
    if type(v) is not dict:
        raise _Bad(f"expected a dict with str keys, got {_kind(v)}")
    try:
        check_json(v)
    except ValueError as e:
        raise _Bad(str(e)) from None
    raise _Bad("not JSON-like")


def _converter(ft: FieldType) -> Convert:
    if isinstance(ft, Scalar):
        return _scalar(ft.kind)
    if isinstance(ft, ArrayType):
        return _array(ft)
    if isinstance(ft, LiteralType):
        return _literal(ft)
    if isinstance(ft, OptionalType):
        return _optional(_converter(ft.inner))
    if isinstance(ft, ListType):
        return _list(_converter(ft.inner))
    if isinstance(ft, JsonType):
        return _json
    if isinstance(ft, RefType):
        return _from_map(ft.cls)
    raise AssertionError(ft)


def _fast_type(ft: FieldType) -> type | None:
    """The exact Python type that needs no further checking for this field, if there is one."""
    if isinstance(ft, OptionalType):
        ft = ft.inner
    if isinstance(ft, Scalar):
        return _EXACT.get(ft.kind)
    return None


_map_cache: dict[type, Convert] = {}


class _Never:
    """A type no decoded value has: fields without a fast path always go through their converter."""


def _from_map(cls: type) -> Convert:
    """The checked conversion from a decoded msgpack map to an instance of ``cls``.

    The function is generated as source so the per-sample work is straight-line code with no loop
    over fields; field names enter the source only as ``repr`` string literals.
    """
    cached = _map_cache.get(cls)
    if cached is not None:
        return cached
    spec = spec_of(cls)
    ns: dict[str, Any] = {
        "_ABSENT": _ABSENT,
        "_Bad": _Bad,
        "_construct": construct_unchecked,
        "_cls": cls,
    }

    def not_a_map(d: Any) -> Any:
        raise _Bad(f"expected a {spec.name} (msgpack map), got {_kind(d)}")

    def missing(name: str) -> Any:
        bad = _Bad(f"missing required field of {spec.name}")
        bad.path.append(name)
        raise bad

    ns.update(_not_a_map=not_a_map, _missing=missing, _NAMES=tuple(f.name for f in spec.fields))
    # ``fast`` is the body for a map holding exactly the fields in declaration order (what
    # ShardWriter writes, so nearly every sample): each value checked in place, the map kept as the
    # instance's __dict__. ``general`` takes any other map (fields missing, reordered or unknown).
    fast = [
        "if type(d) is not dict or tuple(d) != _NAMES:",
        "    return general(d)",
    ]
    general = [
        "def general(d):",
        "    if type(d) is not dict:",
        "        _not_a_map(d)",
        "    get = d.get",
    ]
    for i, f in enumerate(spec.fields):
        name = repr(f.name)
        ns[f"_fast{i}"] = _fast_type(f.type) or _Never
        ns[f"_conv{i}"] = _converter(f.type)
        if f.default is MISSING:
            absent = [f"        _missing({name})"]
        elif isinstance(f.default, (list, dict)):
            ns[f"_default{i}"] = f.default
            absent = [f"        v{i} = _deepcopy(_default{i})"]
            ns["_deepcopy"] = copy.deepcopy
        else:
            ns[f"_default{i}"] = f.default
            absent = [f"        v{i} = _default{i}"]
        none_ok = f"v{i} is not None and " if isinstance(f.type, OptionalType) else ""
        if _fast_type(f.type) is None:  # nothing to test first: the converter checks every value
            fast += [
                "try:",
                f"    d[{name}] = _conv{i}(d[{name}])",
                "except _Bad as e:",
                f"    e.path.insert(0, {name})",
                "    raise",
            ]
        else:
            fast += [
                f"v{i} = d[{name}]",
                f"if {none_ok}type(v{i}) is not _fast{i}:",
                "    try:",
                f"        d[{name}] = _conv{i}(v{i})",
                "    except _Bad as e:",
                f"        e.path.insert(0, {name})",
                "        raise",
            ]
        general += [
            f"    v{i} = get({name}, _ABSENT)",
            f"    if v{i} is _ABSENT:",
            *absent,
            f"    elif {none_ok}type(v{i}) is not _fast{i}:",
            "        try:",
            f"            v{i} = _conv{i}(v{i})",
            "        except _Bad as e:",
            f"            e.path.insert(0, {name})",
            "            raise",
        ]
    fast.append("return _construct(_cls, d)")
    # Fields this reader does not know are ignored, as schema compatibility assumes (a reader whose
    # schema dropped a field still reads data written before the drop).
    general += [
        "    return _construct(_cls, {"
        + ", ".join(f"{f.name!r}: v{i}" for i, f in enumerate(spec.fields))
        + "})",
    ]
    # ``convert`` takes a decoded map (a nested field's); ``decode`` unpacks bytes into one and
    # converts it in the same frame, since a call per sample showed in the read profile.
    ns.update(_unpackb=msgpack.unpackb, _UNPACK_ERRORS=_UNPACK_ERRORS, _corrupt=_corrupt, _bad=_bad)
    lines = [
        *general,
        "def convert(d):",
        *("    " + line for line in fast),
        "def decode(data, url=None, key=None):",
        "    try:",
        "        d = _unpackb(data)",
        "    except _UNPACK_ERRORS as e:",
        "        _corrupt(e, url, key)",
        "    try:",
        *("        " + line for line in fast),
        "    except _Bad as e:",
        "        _bad(e, url, key)",
    ]
    exec(compile("\n".join(lines), f"<atdata decoder for {spec.name}>", "exec"), ns)
    convert: Convert = ns["convert"]
    _map_cache[cls] = convert
    _decode_cache[cls] = ns["decode"]
    return convert


_UNPACK_ERRORS = (ValueError, msgpack.UnpackException, TypeError)
_decode_cache: dict[type, Callable[..., Any]] = {}


def _corrupt(e: Exception, url: str | None, key: str | None) -> None:
    raise ShardError(f"corrupt msgpack member: {e}", url=url, key=key) from None


def _bad(e: _Bad, url: str | None, key: str | None) -> None:
    raise ShardError(e.message, url=url, key=key, field=_field_path(e.path)) from None


def _field_path(parts: list[str]) -> str | None:
    out = ""
    for p in parts:
        out += p if p.startswith("[") or not out else "." + p
    return out or None


def decoder_for(cls: type[T]) -> Callable[..., T]:
    """A function ``decode(data, url=None, key=None) -> cls`` for msgpack sample bytes.

    ``url`` and ``key`` only name the sample in a :class:`~atdata.errors.ShardError` when the
    bytes are not a valid ``cls``.
    """
    _from_map(cls)
    plain: Callable[..., T] = _decode_cache[cls]
    axes = shared_axes(cls)
    if not axes:
        return plain

    def decode(data: Any, url: str | None = None, key: str | None = None) -> T:
        sample = plain(data, url, key)
        try:
            check_shared_axes(sample, axes)
        except SampleValidationError as e:
            field, message, _ = e.problems[0]
            raise ShardError(message, url=url, key=key, field=field) from None
        return sample

    return decode


def decode(cls: type[T], data: Any) -> T:
    """Decode one sample's msgpack bytes into ``cls`` (see :func:`decoder_for`)."""
    return decoder_for(cls)(data)
