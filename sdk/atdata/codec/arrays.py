"""The array layout inside a msgpack ``bin``, shared with atdata 0.7.

Layout: 1 byte n, n bytes of the numpy dtype string (``<f4``), 1 byte ndim, ndim little-endian
64-bit dimensions, then the raw C-order buffer. Decoding returns a read-only view over the input
(no copy). Older 0.7 shards may instead hold ``.npy`` files, which are read through numpy.
"""

from __future__ import annotations

import io
import struct

import numpy as np

from atdata.errors import AtdataError

_NPY_MAGIC = b"\x93NUMPY"
# Object and structured dtypes could smuggle pickles or unbounded parsing; samples never need them.
_ALLOWED_KINDS = frozenset("biufcmMSU")
_DIM_FORMATS = [struct.Struct(f"<{n}Q") for n in range(33)]
_dtype_cache: dict[bytes, np.dtype] = {}


class ArrayFormatError(AtdataError, ValueError):
    """The bytes of an array field are not in the array layout (the message says why)."""


def encode_array(array: np.ndarray) -> bytes:
    dt = array.dtype
    if dt.kind not in _ALLOWED_KINDS or dt.fields is not None:
        raise ArrayFormatError(f"arrays of dtype {dt} cannot be stored in a sample")
    if array.ndim >= len(_DIM_FORMATS):
        raise ArrayFormatError(f"arrays of {array.ndim} dimensions cannot be stored (at most 32)")
    name = dt.str.encode("ascii")
    header = bytes((len(name),)) + name + bytes((array.ndim,)) + _DIM_FORMATS[array.ndim].pack(*array.shape)
    return header + array.tobytes(order="C")


def _dtype(name: bytes) -> np.dtype:
    dt = _dtype_cache.get(name)
    if dt is not None:
        return dt
    try:
        dt = np.dtype(name.decode("ascii"))
    except (TypeError, ValueError, UnicodeDecodeError):
        raise ArrayFormatError(f"unknown dtype {name!r}") from None
    if dt.kind not in _ALLOWED_KINDS or dt.fields is not None:
        raise ArrayFormatError(f"dtype {dt} is not allowed in samples")
    if len(_dtype_cache) < 256:
        _dtype_cache[name] = dt
    return dt


def header_end(data: bytes) -> int:
    """Where the array header in ``data`` ends and the raw buffer starts."""
    n = len(data)
    if n < 2 or data[0] + 2 > n:
        raise ArrayFormatError(f"array data is {n} bytes, too short for its header")
    end: int = data[0] + 2 + 8 * data[data[0] + 1]
    if end > n:
        raise ArrayFormatError(f"array data is {n} bytes, too short for its header")
    return end


def parse_header(head: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """``(dtype, shape, data bytes)`` from a header as delimited by :func:`header_end`."""
    dlen = head[0]
    dt = _dtype(bytes(head[1 : dlen + 1]))
    ndim = head[dlen + 1]
    if ndim >= len(_DIM_FORMATS):
        raise ArrayFormatError(f"array header claims {ndim} dimensions (at most 32)")
    shape = _DIM_FORMATS[ndim].unpack_from(head, dlen + 2)
    count = 1
    for d in shape:
        count *= d
    return dt, shape, count * dt.itemsize


def is_npy(data: bytes) -> bool:
    return data[:6] == _NPY_MAGIC


def view(data: bytes, end: int, dt: np.dtype, shape: tuple[int, ...], need: int) -> np.ndarray:
    """The array over ``data[end:]``, once its header has been parsed."""
    if len(data) - end != need:
        raise ArrayFormatError(
            f"array of dtype {dt} and shape {shape} needs {need} bytes of data, found {len(data) - end}"
        )
    if need == 0:
        return np.empty(shape, dt)
    # np.ndarray over the buffer is a third of the cost of frombuffer(...).reshape(...)
    return np.ndarray(shape, dt, data, end)


def decode_array(data: bytes) -> np.ndarray:
    """The array stored in ``data`` as a read-only view sharing its memory."""
    if is_npy(data):
        return _decode_npy(data)
    end = header_end(data)
    dt, shape, need = parse_header(data[:end])
    return view(data, end, dt, shape, need)


def _decode_npy(data: bytes) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ArrayFormatError(f"unreadable .npy array: {e}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in _ALLOWED_KINDS:
        raise ArrayFormatError("the .npy payload is not a plain array")
    return array
