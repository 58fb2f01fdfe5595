"""A lens worker turned hostile: it speaks the real protocol and lies about its shared memory.

Started in place of ``atdata.sandbox.worker`` (same descriptors: IN OUT PROGRESS ARENA_IN
ARENA_OUT), it plays the attack the program's first step is named for:

- ``offset-past-slot``: an answer whose array starts inside its output slot and runs past its end;
- ``length-past-arena``: an answer claiming more arena bytes than the slot holds;
- ``offset-far-away``: an array at an offset far beyond the arena;
- ``write-input``: tries every way to write into the input arena the host keeps filling, then
  answers with the inputs it reads back and what each attempt raised;
- ``scribble-after``: answers its first batch honestly, then fills its whole output arena (both
  slots) with 0xFF before answering the next.
- ``lie-on-one``: answers honestly, except a batch holding an ``x`` of ones: with an array past its
  output slot.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import sys

import msgpack
import numpy as np

from atdata.sandbox import columns, wire
from atdata.sandbox.worker import SLOTS


def _ext(offset: int, shape: tuple[int, ...], dtype: str) -> msgpack.ExtType:
    desc = struct.pack("<QB", offset, len(shape)) + struct.pack(f"<{len(shape)}q", *shape) + dtype.encode()
    return msgpack.ExtType(wire.ARENA_EXT, desc)


def _frame(message: object, arena_len: int) -> list[bytes]:
    meta = msgpack.packb(message, use_bin_type=True)
    return [wire.HEADER.pack(wire.MAGIC, len(meta), 0, arena_len), meta]


def main(argv: list[str]) -> int:
    in_fd, out_fd, _progress_fd, arena_in_fd, arena_out_fd = (int(a) for a in argv[:5])
    in_size = os.fstat(arena_in_fd).st_size
    out_size = os.fstat(arena_out_fd).st_size
    in_map = mmap.mmap(arena_in_fd, in_size, prot=mmap.PROT_READ)
    out_map = mmap.mmap(arena_out_fd, out_size)
    slot_in, slot_out = in_size // SLOTS, out_size // SLOTS
    reader = wire.FrameReader(in_fd)
    load = reader.read()
    mode = load["steps"][0]["name"]
    wire.write_frame(out_fd, wire.encode({"ok": True, "cpu_left": 1e9}))
    batch = 0
    while True:
        slot = batch % SLOTS
        view = memoryview(in_map)[slot * slot_in : (slot + 1) * slot_in]
        request = reader.read(arena=view.toreadonly())
        if request is None:
            return 0
        batch += 1
        items = columns.unpack(request["items"])
        out = memoryview(out_map)[slot * slot_out : (slot + 1) * slot_out]
        if mode == "offset-past-slot":
            lie = _ext(slot_out - 64, (64,), "<f8")  # starts in the slot, ends 448 bytes past it
            frame = _frame({"ok": True, "items": {"items": [{"x": lie}]}}, slot_out)
        elif mode == "length-past-arena":
            frame = _frame({"ok": True, "items": {"items": [{"x": _ext(0, (8,), "<f8")}]}}, 2 * out_size)
        elif mode == "offset-far-away":
            frame = _frame({"ok": True, "items": {"items": [{"x": _ext(1 << 62, (8,), "<f8")}]}}, 64)
        elif mode == "write-input":
            attempts = {}
            try:
                mmap.mmap(arena_in_fd, in_size)  # shared and writable
                attempts["mmap"] = "mapped writable"
            except OSError as e:
                attempts["mmap"] = type(e).__name__
            libc = ctypes.CDLL(None, use_errno=True)
            address = np.frombuffer(in_map, np.uint8).ctypes.data
            code = libc.mprotect(ctypes.c_void_p(address), ctypes.c_size_t(4096), 3)  # PROT_READ|PROT_WRITE
            attempts["mprotect"] = "made writable" if code == 0 else os.strerror(ctypes.get_errno())
            try:
                os.pwrite(arena_in_fd, b"\xff" * 64, 0)
                attempts["pwrite"] = "wrote"
            except OSError as e:
                attempts["pwrite"] = type(e).__name__
            echoed = [{"x": np.array(item["x"]), "attempts": attempts} for item in items]
            frame = wire.encode({"ok": True, "items": columns.pack(echoed), "cpu_left": 1e9}, arena=out)
        elif mode == "lie-on-one" and any(np.all(np.asarray(item["x"]) == 1) for item in items):
            lie = _ext(slot_out - 64, (64,), "<f8")
            frame = _frame({"ok": True, "items": {"items": [{"x": lie}] * len(items)}}, slot_out)
        elif mode == "lie-on-one":
            answer = [{"x": np.array(item["x"]) * 2} for item in items]
            frame = wire.encode({"ok": True, "items": columns.pack(answer), "cpu_left": 1e9}, arena=out)
        elif mode == "scribble-after":
            if batch > 1:
                out_map[:] = b"\xff" * out_size
            answer = [{"x": np.array(item["x"]) * 2} for item in items]
            frame = wire.encode({"ok": True, "items": columns.pack(answer), "cpu_left": 1e9}, arena=out)
        else:
            return 3
        wire.write_frame(out_fd, frame)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
