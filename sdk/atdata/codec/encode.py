"""Typed samples to bytes: one msgpack map per sample, field name to value.

Arrays become ``bin`` values in the layout of :mod:`atdata.codec.arrays`, datetimes ISO 8601 text,
nested samples become maps, so that atdata 0.7 readers and plain ``msgpack`` users can read what we write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np

from atdata.codec.arrays import ArrayFormatError, encode_array
from atdata.errors import SampleValidationError
from atdata.types.fields import ArrayType, FieldType, ListType, OptionalType, RefType, Scalar
from atdata.types.packable import spec_of

Convert = Callable[[Any], Any]


def _identity(v: Any) -> Any:
    return v


def _array(v: Any) -> Any:
    if not isinstance(v, np.ndarray):
        raise ArrayFormatError(f"expected a numpy ndarray, got {type(v).__name__}")
    return encode_array(v)


def _datetime(v: Any) -> str:
    # ISO 8601 text: readable by any msgpack user and by atdata 0.7 as a str.
    return v.isoformat()  # type: ignore[no-any-return]


def _converter(ft: FieldType) -> Convert:
    if isinstance(ft, ArrayType):
        return _array
    if isinstance(ft, Scalar) and ft.kind == "datetime":
        return _datetime
    if isinstance(ft, OptionalType):
        inner = _converter(ft.inner)
        if inner is _identity:
            return _identity
        return lambda v: None if v is None else inner(v)
    if isinstance(ft, ListType):
        inner = _converter(ft.inner)
        if inner is _identity:
            return _identity
        return lambda v: [inner(x) for x in v]
    if isinstance(ft, RefType):
        return _to_map(ft.cls)
    return _identity


_cache: dict[type, Convert] = {}


def _to_map(cls: type) -> Convert:
    cached = _cache.get(cls)
    if cached is not None:
        return cached
    steps = [(f.name, _converter(f.type)) for f in spec_of(cls).fields]

    def convert(sample: Any) -> dict[str, Any]:
        values = sample.__dict__
        out: dict[str, Any] = {}
        for name, conv in steps:
            try:
                out[name] = conv(values[name])
            except ArrayFormatError as e:
                raise SampleValidationError(type(sample).__name__, [(name, str(e), "")]) from None
        return out

    _cache[cls] = convert
    return convert


def encode(sample: Any) -> bytes:
    """The msgpack bytes of one sample (a ``@packable`` instance)."""
    d = _to_map(type(sample))(sample)
    try:
        return msgpack.packb(d, use_bin_type=True)  # type: ignore[no-any-return]
    except (TypeError, ValueError, OverflowError) as e:
        raise SampleValidationError(
            type(sample).__name__, [("<sample>", f"cannot encode: {e}", "")]
        ) from None
