"""The host never accepts from a worker more than the worker's own memory limit; an array
referenced several times travels (and counts) once (issue 13: one array returned twice arrived
twice, and the host accepted the memory limit plus 1 GiB)."""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np
import pytest

from atdata.errors import LensExecutionError
from atdata.sandbox import LensStep, Limits, load_program, wire


def send(w: int, buffers: list[object]) -> None:
    with contextlib.suppress(OSError):  # the reader may refuse the frame and close its end
        wire.write_frame(w, buffers)
    os.close(w)


def test_an_array_referenced_several_times_is_encoded_once() -> None:
    a = np.arange(1000, dtype=np.float64)
    once = wire.encode({"x": a})
    thrice = wire.encode({"x": a, "y": a, "z": [a, a[:]]})
    data = wire.HEADER.unpack(thrice[0])[2]
    assert data == wire.HEADER.unpack(once[0])[2] == a.nbytes


def test_repeated_arrays_arrive_as_views_of_one_buffer() -> None:
    a = np.arange(10, dtype=np.int32)
    r, w = os.pipe()
    buffers = wire.encode({"x": a, "y": a})
    threading.Thread(target=send, args=(w, buffers)).start()
    try:
        got = wire.FrameReader(r).read()
    finally:
        os.close(r)
    assert np.shares_memory(got["x"], got["y"]) and got["x"].tolist() == a.tolist()


def test_a_frame_larger_than_the_receiver_accepts_is_refused_from_its_header() -> None:
    r, w = os.pipe()
    buffers = wire.encode({"x": np.zeros(1 << 16, np.uint8), "pad": "x" * 1000})
    threading.Thread(target=send, args=(w, buffers)).start()
    try:
        with pytest.raises(wire.WireTooLarge):
            wire.FrameReader(r).read(max_total=1 << 16)
    finally:
        os.close(r)


def test_a_worker_returning_one_large_array_many_times_sends_it_once() -> None:
    code = (
        "import numpy as np\ndef get(s):\n    a = np.ones(25_000_000)\n"  # 200 MB
        "    return {'x': a, 'y': a, 'z': [a, a]}\n"
    )
    limits = Limits(memory_bytes=512 << 20, wall_seconds_per_batch=60, cpu_seconds=30)
    with load_program([LensStep(code, "repeat", "A", "B")], isolation="process", limits=limits) as program:
        [out] = program.run([{}], ["k"])
    assert out["x"].nbytes == 200_000_000
    assert np.shares_memory(out["x"], out["y"]) and np.shares_memory(out["x"], out["z"][1])


def test_an_answer_that_expands_past_the_workers_memory_is_a_failure_not_a_host_allocation() -> None:
    code = "def get(s):\n    b = b'x' * 50_000_000\n    return {'x': [b] * 20}\n"  # 1 GB once expanded
    limits = Limits(memory_bytes=256 << 20, wall_seconds_per_batch=60, cpu_seconds=30)
    with (
        load_program([LensStep(code, "expand", "A", "B")], isolation="process", limits=limits) as program,
        pytest.raises(LensExecutionError, match=r"memory|MemoryError|can.t be sent"),
    ):
        program.run([{}], ["k"])
