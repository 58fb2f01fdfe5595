"""The message format between the host and a lens worker: msgpack plus raw array buffers.

Nothing is ever unpickled. A frame is a 24-byte header (magic and three lengths), a
msgpack document, then the raw bytes of the arrays it carries in-band, each 64-byte aligned.
Arrays appear in the document as an ext value naming their dtype, shape and offset: in-band
(offset into the frame's data) or, when the sender was given an *arena* (a shared-memory region
both sides map), in the arena, which saves the pipe's two extra copies. The receiver makes views
(or, for arena data it does not own, copies). Only plain dtypes are accepted in either direction.
"""

from __future__ import annotations

import math
import os
import select
import struct
import time
from typing import Any

import msgpack
import numpy as np

from atdata.errors import AtdataError
from atdata.sandbox.columns import Stack
from atdata.sandbox.lens_records import plain_dtype_ok

MAGIC = b"ATDL"
HEADER = struct.Struct("<4sIQQ")  # magic, document length, in-band data length, arena length
ARRAY_EXT = 1
ARENA_EXT = 2
ALIGN = 64
MAX_META_BYTES = 1 << 30


class WireError(AtdataError):
    """A frame is malformed, too large, or the other side went away."""


class WireClosed(WireError):
    """The other side closed the stream (a worker that died, or was killed)."""


class WireTimeout(WireError):
    """The other side did not answer before the deadline."""


class WireTooLarge(WireError):
    """A frame is larger than the receiver accepts; nothing of it was read past the header."""


# An array's ext payload: data offset, number of dimensions, the dimensions, then the dtype string.
_ARRAY_HEAD = struct.Struct("<QB")
_DIMS = [struct.Struct(f"<{n}q") for n in range(33)]


def encode(message: Any, arena: memoryview | None = None) -> list[Any]:
    """The buffers of one frame, ready for :func:`write_frame`.

    With ``arena`` (a writable byte view), array bytes are copied there while they fit; the rest
    travel in-band.
    """
    buffers: list[Any] = []
    offset = 0
    arena_used = 0
    arena_size = 0 if arena is None else arena.nbytes
    # An array (or a view of the same bytes) referenced several times is sent once.
    sent: dict[tuple[Any, ...], msgpack.ExtType] = {}
    by_id: dict[int, msgpack.ExtType] = {}  # the message holds every array, so ids stay unique

    def default(value: Any) -> Any:
        if type(value) is Stack:
            return stack_ext(value)
        if type(value) is np.ndarray:
            # The same object, or another view of the same bytes, is sent once.
            ext = by_id.get(id(value))
            if ext is None:
                key = (value.__array_interface__["data"][0], value.shape, value.strides, value.dtype.str)
                ext = sent.get(key)
                if ext is None:
                    ext = sent[key] = array_ext(value)
                by_id[id(value)] = ext
            return ext
        if isinstance(value, np.generic) and plain_dtype_ok(value.dtype):
            return value.item()
        raise WireError(f"a {type(value).__name__} can't be sent to or from a lens worker")

    def stack_ext(value: Stack) -> msgpack.ExtType:
        # Rows go straight into the arena when they fit; else they are stacked and sent in-band.
        nonlocal arena_used
        dtype, shape = value.dtype, value.shape
        if not plain_dtype_ok(dtype):
            raise WireError(f"arrays of dtype {dtype} can't be sent")
        nbytes = math.prod(shape) * dtype.itemsize
        start = arena_used + (-arena_used % ALIGN)
        if arena is None or start + nbytes > arena_size or not nbytes:
            return array_ext(np.stack(value.rows))
        value.write_into(np.frombuffer(arena, dtype, math.prod(shape), start).reshape(shape))
        arena_used = start + nbytes
        desc = _ARRAY_HEAD.pack(start, len(shape)) + _DIMS[len(shape)].pack(*shape) + dtype.str.encode()
        return msgpack.ExtType(ARENA_EXT, desc)

    def array_ext(value: np.ndarray) -> msgpack.ExtType:
        nonlocal offset, arena_used
        dtype = value.dtype
        if not plain_dtype_ok(dtype):
            raise WireError(f"arrays of dtype {dtype} can't be sent")
        shape = value.shape
        nbytes = value.nbytes
        start = arena_used + (-arena_used % ALIGN)
        if arena is not None and start + nbytes <= arena_size:
            if nbytes and value.flags.c_contiguous:
                arena[start : start + nbytes] = memoryview(value).cast("B")  # type: ignore[arg-type]
            elif nbytes:
                np.copyto(np.frombuffer(arena, dtype, value.size, start).reshape(shape), value)
            arena_used = start + nbytes
            desc = _ARRAY_HEAD.pack(start, len(shape)) + _DIMS[len(shape)].pack(*shape) + dtype.str.encode()
            return msgpack.ExtType(ARENA_EXT, desc)
        if not value.flags.c_contiguous:
            value = np.ascontiguousarray(value)
        pad = -offset % ALIGN
        if pad:
            buffers.append(bytes(pad))
            offset += pad
        desc = _ARRAY_HEAD.pack(offset, len(shape)) + _DIMS[len(shape)].pack(*shape) + dtype.str.encode()
        if nbytes:
            buffers.append(value if value.ndim else value.reshape(1))
            offset += nbytes
        return msgpack.ExtType(ARRAY_EXT, desc)

    meta = msgpack.packb(message, default=default, use_bin_type=True)
    return [HEADER.pack(MAGIC, len(meta), offset, arena_used), meta, *buffers]


_dtype_cache: dict[bytes, np.dtype] = {}


def _dtype(text: bytes) -> np.dtype:
    dtype = _dtype_cache.get(text)
    if dtype is None:
        try:
            dtype = np.dtype(text.decode("ascii"))
        except (TypeError, ValueError, UnicodeDecodeError):
            raise WireError(f"unknown dtype {text!r}") from None
        if not plain_dtype_ok(dtype):
            raise WireError(f"arrays of dtype {dtype} are not accepted")
        if len(_dtype_cache) < 256:
            _dtype_cache[text] = dtype
    return dtype


def decode(
    meta: bytes,
    data: bytearray | memoryview,
    *,
    readonly: bool = False,
    arena: memoryview | None = None,
    arena_len: int = 0,
    copy_arena: bool = False,
) -> Any:
    """The message of a frame whose document is ``meta`` and in-band array bytes ``data``.

    In-band arrays are views into ``data`` (read-only with ``readonly``). Arena arrays are views
    into the first ``arena_len`` bytes of ``arena`` (read-only with ``readonly``), or, with
    ``copy_arena``, into one private copy of them, for a receiver that must not keep pointing into
    memory the other side will reuse.
    """
    size = memoryview(data).nbytes
    buffer: Any = memoryview(data).toreadonly() if readonly else data
    arena_view: Any = None
    arena_size = 0
    if arena is not None:
        if arena_len > arena.nbytes:
            raise WireError("arena length beyond the arena")
        arena_size = arena_len
        arena_view = bytearray(arena[:arena_len]) if copy_arena else arena[:arena_len]
        if readonly:
            arena_view = memoryview(arena_view).toreadonly()
    frombuffer = np.frombuffer

    def ext_hook(code: int, payload: bytes) -> Any:
        if code not in (ARRAY_EXT, ARENA_EXT) or len(payload) < _ARRAY_HEAD.size:
            raise WireError(f"unknown ext type {code}")
        offset, ndim = _ARRAY_HEAD.unpack_from(payload)
        if ndim > 32 or len(payload) < _ARRAY_HEAD.size + 8 * ndim:
            raise WireError("malformed array descriptor")
        shape = _DIMS[ndim].unpack_from(payload, _ARRAY_HEAD.size)
        dtype = _dtype(payload[_ARRAY_HEAD.size + 8 * ndim :])
        count = 1
        for n in shape:
            if n < 0:
                raise WireError("negative array dimension")
            count *= n
        if count == 0:
            return np.zeros(shape, dtype)
        source, limit = (buffer, size) if code == ARRAY_EXT else (arena_view, arena_size)
        if source is None or offset + count * dtype.itemsize > limit:
            raise WireError("array outside the frame's data")
        return frombuffer(source, dtype, count, offset).reshape(shape)

    return msgpack.unpackb(meta, ext_hook=ext_hook, raw=False, strict_map_key=True, use_list=True)


def write_frame(fd: int, buffers: list[Any]) -> None:
    """Write every buffer of a frame, a few hundred per system call."""
    sizes = [memoryview(b).nbytes for b in buffers]
    i = 0
    while i < len(buffers):
        n = os.writev(fd, buffers[i : i + 512])
        while n > 0 and i < len(buffers):
            if n >= sizes[i]:
                n -= sizes[i]
                i += 1
            else:
                buffers[i] = memoryview(buffers[i]).cast("B")[n:]
                sizes[i] -= n
                n = 0


def read_frame(fd: int, *, max_data: int = 1 << 40, readonly: bool = False) -> Any:
    """Read and decode one frame from a blocking descriptor; None at a clean end of stream."""
    return FrameReader(fd).read(max_data=max_data, readonly=readonly)


class FrameReader:
    """Reads frames from one file descriptor.

    With ``reuse``, array bytes go into one buffer that is reused as soon as nothing points into
    it any more (a lens worker's inputs die with each batch), which saves faulting in fresh pages.
    A ``timed`` reader makes the descriptor non-blocking so that reads can honour a deadline.
    """

    def __init__(
        self, fd: int, *, reuse: bool = False, arena: memoryview | None = None, timed: bool = False
    ) -> None:
        self.fd = fd
        self.reuse = reuse
        self.arena = arena
        self._buffer: bytearray | None = None
        self._poller: Any = None
        if timed:
            os.set_blocking(fd, False)
            self._poller = select.poll()
            self._poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def read(
        self,
        *,
        deadline: float | None = None,
        max_data: int = 1 << 40,
        max_meta: int = MAX_META_BYTES,
        max_total: int = 1 << 62,
        readonly: bool = False,
        copy_arena: bool = False,
        arena: memoryview | None = None,
    ) -> Any:
        """The next frame's message, None at a clean end of stream.

        Arena arrays are read from ``arena`` when given (else the reader's own): the receiver
        names the region each frame may point into, whatever the frame claims.
        """
        if deadline is not None and self._poller is None:
            raise ValueError("a deadline needs a timed FrameReader")
        header = bytearray(HEADER.size)
        if not _read_into(self.fd, memoryview(header), deadline, self._poller, eof_ok=True):
            return None
        magic, meta_len, data_len, arena_len = HEADER.unpack(header)
        if magic != MAGIC:
            raise WireError("malformed frame")
        total = meta_len + data_len + arena_len
        if meta_len > max_meta or data_len > max_data or total > max_total:
            raise WireTooLarge(
                f"a frame of {total} bytes ({meta_len} of them structure) is more than accepted"
            )
        meta = bytearray(meta_len)
        _read_into(self.fd, memoryview(meta), deadline, self._poller)
        data = self._data_buffer(data_len)
        _read_into(self.fd, data, deadline, self._poller)
        try:
            return decode(
                bytes(meta),
                data,
                readonly=readonly,
                arena=self.arena if arena is None else arena,
                arena_len=arena_len,
                copy_arena=copy_arena,
            )
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
            raise WireError(f"malformed frame: {e}") from None

    def _data_buffer(self, size: int) -> Any:
        if not self.reuse:
            return memoryview(bytearray(size))
        buf = self._buffer
        if buf is None or len(buf) < size or not _unreferenced(buf):
            buf = self._buffer = bytearray(max(size, 1 << 20))
        return memoryview(buf)[:size]


def _unreferenced(buf: bytearray) -> bool:
    # A bytearray can't change size while any view points into it: try, and undo.
    try:
        buf.append(0)
    except BufferError:
        return False
    del buf[-1]
    return True


def _read_into(
    fd: int, view: memoryview, deadline: float | None, poller: Any, *, eof_ok: bool = False
) -> bool:
    got = 0
    total = view.nbytes
    while got < total:
        try:
            n = os.readv(fd, [view[got:]])
        except BlockingIOError:  # only on a timed reader's non-blocking descriptor
            remaining = (deadline if deadline is not None else math.inf) - time.monotonic()
            timeout = None if math.isinf(remaining) else max(int(remaining * 1000), 1)
            if remaining <= 0 or not poller.poll(timeout):
                raise WireTimeout("no answer before the deadline") from None
            continue
        if n == 0:
            if got == 0 and eof_ok:
                return False
            raise WireClosed("the other side closed the stream")
        got += n
    return True
