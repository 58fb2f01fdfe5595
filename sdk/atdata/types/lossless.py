"""Lossless conversion of the values numpy and pandas produce into a field's Python type.

Sample types are strict (``"3"`` is never an ``int``), but a scientist's values arrive as numpy
scalars (``np.int64(3)``, ``np.bool_(True)``), 0-d arrays, pandas ``Timestamp``s and NaN/``pd.NA``
for "missing". Each converter here runs before pydantic's strict check of one field and turns such a
value into the plain Python value it stands for *only when nothing is lost*: ``np.float64(1.5)``
for an ``int`` field, an integer outside the signed 64-bit range that msgpack and records carry, or
a ``Timestamp`` with nanoseconds are left as they are (or refused here), so the strict check names
the field. Strings are never parsed into numbers or times. pandas is never imported: its values are
recognised by duck typing, so it stays an optional dependency.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from typing import Any

import numpy as np

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
"""``int`` fields hold signed 64-bit integers: what msgpack, 0.7 readers and ATProto records carry."""

_FLOAT_EXACT_INT = 2**53


def _unwrap(v: Any) -> Any:
    """A 0-d numeric/bool/str array as its numpy scalar; anything else unchanged."""
    if isinstance(v, np.ndarray) and v.ndim == 0 and not v.dtype.hasobject:
        return v[()]
    return v


def to_int(v: Any) -> Any:
    v = _unwrap(v)
    if isinstance(v, (bool, np.bool_)):
        return v  # the strict check refuses it: True is not an int here
    if isinstance(v, np.integer):
        v = int(v)
    elif isinstance(v, (float, np.floating)) and math.isfinite(v) and float(v).is_integer():
        # pandas stores an int column holding NaN as float64: a whole float is lossless below 2**53.
        if abs(float(v)) > _FLOAT_EXACT_INT:
            raise ValueError(f"{v!r} is a float too large to be an exact integer")
        v = int(v)
    if type(v) is int and not INT_MIN <= v <= INT_MAX:
        raise ValueError(f"{v} is outside the signed 64-bit range of an int field")
    return v


def to_float(v: Any) -> Any:
    v = _unwrap(v)
    if isinstance(v, np.floating):
        f = float(v)
        if not (f == v or (math.isnan(f) and np.isnan(v))):
            raise ValueError(f"{v!r} ({v.dtype}) does not fit a 64-bit float without loss")
        return f
    if isinstance(v, np.integer) and not isinstance(v, np.bool_):
        i = int(v)
        if abs(i) > _FLOAT_EXACT_INT and float(i) != i:
            raise ValueError(f"{i} ({v.dtype}) is not exactly representable as a float")
        return float(i)
    if type(v) is int and abs(v) > _FLOAT_EXACT_INT and float(v) != v:
        raise ValueError(f"{v} is not exactly representable as a float")
    return v


def to_bool(v: Any) -> Any:
    v = _unwrap(v)
    return bool(v) if isinstance(v, np.bool_) else v


def to_str(v: Any) -> Any:
    v = _unwrap(v)
    return str(v) if isinstance(v, np.str_) else v


def to_bytes(v: Any) -> Any:
    v = _unwrap(v)
    return bytes(v) if isinstance(v, np.bytes_) else v


def to_datetime(v: Any) -> Any:
    """Python, numpy and pandas datetimes as a ``datetime.datetime`` (microsecond resolution)."""
    v = _unwrap(v)
    if isinstance(v, np.datetime64):
        if np.isnat(v):
            raise ValueError("NaT is not a datetime (make the field optional for missing times)")
        us = v.astype("datetime64[us]")
        if us.astype(v.dtype) != v:
            raise ValueError(f"{v!r} has precision finer than a microsecond")
        out = us.item()
        if not isinstance(out, _dt.datetime):
            raise ValueError(f"{v!r} is outside the range of a datetime")
        return out
    if isinstance(v, _dt.datetime) and type(v) is not _dt.datetime:
        # pandas.Timestamp (a datetime subclass) carries nanoseconds a datetime cannot hold.
        if getattr(v, "nanosecond", 0):
            raise ValueError(f"{v!r} has precision finer than a microsecond")
        to_py = getattr(v, "to_pydatetime", None)
        if callable(to_py):
            if _is_nat(v):
                raise ValueError("NaT is not a datetime (make the field optional for missing times)")
            return to_py()
        return _dt.datetime(
            v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.tzinfo, fold=v.fold
        )
    return v


def _is_nat(v: Any) -> bool:
    return type(v).__name__ == "NaTType" or (isinstance(v, np.datetime64) and bool(np.isnat(v)))


def is_missing(v: Any, *, nan: bool) -> bool:
    """True for the "no value" markers numpy and pandas use: None, ``pd.NA``, NaT and (if ``nan``) NaN.

    ``nan`` is False for ``float | None`` fields, where NaN is a value of its own and is kept.
    """
    if v is None or _is_nat(v) or type(v).__name__ == "NAType":
        return True
    v = _unwrap(v)
    if _is_nat(v):
        return True
    return nan and isinstance(v, (float, np.floating)) and math.isnan(v)


SCALAR_COERCERS: dict[str, Callable[[Any], Any]] = {
    "int": to_int,
    "float": to_float,
    "bool": to_bool,
    "str": to_str,
    "bytes": to_bytes,
    "datetime": to_datetime,
}


def array_as_list(v: Any) -> Any:
    """A 1-d numeric/bool/str array given for a ``list[...]`` field, as a list of its items."""
    if isinstance(v, np.ndarray) and v.ndim == 1 and not v.dtype.hasobject:
        return list(v)
    return v


def array_from_sequence(v: list[Any] | tuple[Any, ...], dtype: str | None) -> Any:
    """A list of numbers given for an array field (CAVE's position columns), as an array.

    Only plain numeric/bool data converts, and to the field's dtype only by a safe cast.
    """
    try:
        a = np.asarray(v)
    except ValueError:
        return v  # ragged: the array check refuses the list
    if a.dtype.hasobject or a.dtype.kind not in "biuf":
        return v
    if dtype is not None and a.dtype != np.dtype(dtype):
        if not np.can_cast(a.dtype, np.dtype(dtype), casting="safe"):
            raise ValueError(f"a list of {a.dtype} values does not fit dtype {dtype} without loss")
        a = a.astype(dtype)
    return a
