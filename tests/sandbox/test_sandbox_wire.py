"""The host-worker message format: plain data and raw array bytes, never pickles."""

from __future__ import annotations

import mmap
import os
import pickle
import struct
import threading

import msgpack
import numpy as np
import pytest

from atdata.sandbox import wire


def roundtrip(message: object, *, arena: memoryview | None = None) -> object:
    r, w = os.pipe()
    buffers = wire.encode(message, arena=arena)

    def send() -> None:
        wire.write_frame(w, buffers)
        os.close(w)

    writer = threading.Thread(target=send)  # a frame can be larger than the pipe holds
    writer.start()
    try:
        return wire.FrameReader(r, arena=arena).read(copy_arena=True)
    finally:
        writer.join()
        os.close(r)


MESSAGE = {
    "none": None,
    "flag": True,
    "n": -(2**62),
    "x": 1.5,
    "s": "température",
    "b": b"\x00\xff",
    "nested": [{"a": [1, 2]}, []],
    "image": np.arange(12, dtype=np.float32).reshape(3, 4),
    "strided": np.arange(20, dtype=np.int16)[::3],
    "empty": np.zeros((0, 3), dtype=np.uint8),
    "scalar": np.array(7, dtype=np.int64),
}


def assert_same(a: object, b: object) -> None:
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    else:
        assert a == b and type(a) is type(b)


def test_plain_data_and_arrays_survive_the_pipe() -> None:
    assert_same(MESSAGE, roundtrip(MESSAGE))


def test_plain_data_and_arrays_survive_the_arena() -> None:
    arena = memoryview(mmap.mmap(-1, 1 << 16))
    out = roundtrip(MESSAGE, arena=arena)
    assert_same(MESSAGE, out)
    assert isinstance(out, dict)
    arena[:] = b"\x00" * len(arena)  # the sender reuses its arena: what was received is a copy
    assert_same(MESSAGE["image"], out["image"])


def test_arrays_too_big_for_the_arena_travel_in_band() -> None:
    arena = memoryview(mmap.mmap(-1, 4096))
    message = {"big": np.ones(10_000), "small": np.ones(3)}
    assert_same(message, roundtrip(message, arena=arena))


@pytest.mark.parametrize(
    "value",
    [np.array([object()], dtype=object), np.zeros(2, dtype=[("a", "f4")]), object(), {1, 2}],
    ids=["object-array", "structured-array", "object", "set"],
)
def test_values_that_are_not_plain_data_are_not_sent(value: object) -> None:
    with pytest.raises(wire.WireError):
        wire.encode({"v": value})


def frame(meta: bytes, data: bytes = b"") -> bytes:
    return wire.HEADER.pack(wire.MAGIC, len(meta), len(data), 0) + meta + data


def read_bytes(raw: bytes) -> object:
    r, w = os.pipe()
    try:
        os.write(w, raw)
        os.close(w)
        return wire.read_frame(r)
    finally:
        os.close(r)


def array_ext(dtype: str, shape: tuple[int, ...], offset: int = 0) -> msgpack.ExtType:
    desc = struct.pack("<QB", offset, len(shape)) + struct.pack(f"<{len(shape)}q", *shape) + dtype.encode()
    return msgpack.ExtType(wire.ARRAY_EXT, desc)


@pytest.mark.parametrize(
    "raw",
    [
        frame(msgpack.packb(array_ext("|O", (2,))), b"\x00" * 16),
        frame(msgpack.packb(array_ext("<f8", (4,), offset=8)), b"\x00" * 16),
        frame(msgpack.packb(array_ext("<f8", (-1,))), b"\x00" * 16),
        frame(msgpack.packb(msgpack.ExtType(9, b"x"))),
        frame(msgpack.packb({1: "int key"})),
        b"XXXX" + b"\x00" * 20,
        wire.HEADER.pack(wire.MAGIC, 10, 0, 0) + b"\x01",
    ],
    ids=[
        "object-dtype",
        "out-of-bounds",
        "negative-shape",
        "unknown-ext",
        "int-key",
        "bad-magic",
        "truncated",
    ],
)
def test_malformed_frames_are_refused(raw: bytes) -> None:
    with pytest.raises(wire.WireError):
        read_bytes(raw)


class Bomb:
    triggered = False

    def __reduce__(self) -> tuple[object, tuple[()]]:
        Bomb.triggered = True
        return (Bomb, ())


def test_a_pickle_in_a_frame_is_only_bytes() -> None:
    payload = pickle.dumps(Bomb())
    Bomb.triggered = False
    assert read_bytes(frame(msgpack.packb({"p": payload}, use_bin_type=True))) == {"p": payload}
    assert not Bomb.triggered
