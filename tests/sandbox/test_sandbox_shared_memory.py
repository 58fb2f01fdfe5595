"""Arrays cross to and from lens workers through shared memory, and a hostile worker gains nothing.

The input arena is mapped read-only in the worker (its descriptor is read-only, so the mapping
cannot be made writable either); every offset and length an answer names is checked against the
output slot of that batch; what the host returns is a copy, so a worker scribbling over its
arena later changes nothing already delivered. The hostile workers are real processes speaking
the real protocol (``hostile_worker.py``), started in place of the lens worker.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from atdata.errors import LensExecutionError, LensLimitError
from atdata.sandbox import LensStep, Limits, load_program
from atdata.sandbox.process import ProcessProgram
from atdata.sandbox.worker_handle import WorkerHandle, read_only_descriptor

HOSTILE = Path(__file__).with_name("hostile_worker.py")
ECHO = "import numpy as np\ndef get(source):\n    return {'x': source.x * 2}\n"


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(WorkerHandle, "command", (sys.executable, "-I", str(HOSTILE)))
    yield


def _program(mode: str) -> ProcessProgram:
    # The hostile worker plays the attack its first step is named for.
    program = load_program([LensStep(ECHO, mode, "A", "B")], isolation="process")
    assert isinstance(program, ProcessProgram)
    return program


def _maps(pid: int) -> dict[str, str]:
    perms = {}
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and "atdata-lens-arena" in parts[5]:
            perms[parts[5].removeprefix("/memfd:")] = parts[1]
    return perms


def test_the_worker_maps_its_input_arena_read_only_and_its_output_arena_writable() -> None:
    with load_program([LensStep(ECHO, "echo", "A", "B")], isolation="process") as program:
        pid = program.worker_pid  # type: ignore[union-attr]
        assert pid is not None
        perms = _maps(pid)
    assert perms["atdata-lens-arena-in"].startswith("r--s"), perms
    assert perms["atdata-lens-arena-out"].startswith("rw-s"), perms


def test_a_read_only_arena_descriptor_can_be_neither_mapped_writable_nor_made_writable() -> None:
    fd = os.memfd_create("atdata-test-arena")
    os.ftruncate(fd, 1 << 16)
    ro = read_only_descriptor(fd)
    try:
        with pytest.raises(PermissionError):
            mmap.mmap(ro, 1 << 16)
        view = mmap.mmap(ro, 1 << 16, prot=mmap.PROT_READ)
        libc = ctypes.CDLL(None, use_errno=True)
        address = np.frombuffer(view, np.uint8).ctypes.data
        assert libc.mprotect(ctypes.c_void_p(address), ctypes.c_size_t(4096), 3) == -1
        with pytest.raises(OSError):
            os.pwrite(ro, b"x", 0)
    finally:
        os.close(ro)
        os.close(fd)


@pytest.mark.usefixtures("hostile")
@pytest.mark.parametrize("mode", ["offset-past-slot", "length-past-arena", "offset-far-away"])
def test_an_answer_pointing_outside_its_output_slot_is_refused_and_the_host_goes_on(mode: str) -> None:
    with _program(mode) as program:
        refused = r"malformed answer: (array outside|arena length beyond)"
        with pytest.raises(LensExecutionError, match=refused) as e:
            program.run([{"x": np.ones(4)}], ["k0"])
        assert e.value.lens == mode
        assert program.worker_pids == set()  # the liar is gone
        with pytest.raises(LensExecutionError, match="malformed answer"):
            program.run([{"x": np.ones(4)}], ["k1"])  # a fresh worker, refused the same way


@pytest.mark.usefixtures("hostile")
def test_a_worker_cannot_write_into_the_input_arena() -> None:
    items = [{"x": np.arange(8, dtype=np.float64) + i} for i in range(3)]
    with _program("write-input") as program:
        out = program.run(items, ["a", "b", "c"])
    for item, got in zip(items, out, strict=True):
        assert got["attempts"] == {
            "mmap": "PermissionError",
            "mprotect": "Permission denied",
            "pwrite": "OSError",
        }
        np.testing.assert_array_equal(got["x"], item["x"])  # what it read back is what the host wrote


@pytest.mark.usefixtures("hostile")
def test_answers_already_delivered_survive_a_worker_scribbling_over_its_arena() -> None:
    with _program("scribble-after") as program:
        delivered = program.run([{"x": np.full(1000, 1.5)}], ["a"])
        # The worker now fills both output slots with 0xFF before answering.
        second = program.submit([{"x": np.full(1000, 4.0)}], ["b"]).result()
        later = program.run([{"x": np.full(1000, 8.0)}], ["c"])
    np.testing.assert_array_equal(delivered[0]["x"], np.full(1000, 3.0))
    np.testing.assert_array_equal(second[0]["x"], np.full(1000, 8.0))
    np.testing.assert_array_equal(later[0]["x"], np.full(1000, 16.0))


def test_batches_in_flight_come_back_in_order_with_their_own_arrays() -> None:
    with load_program([LensStep(ECHO, "echo", "A", "B")], isolation="process", workers=2) as program:
        assert isinstance(program, ProcessProgram)
        pending = [program.submit([{"x": np.full(256, float(i))}], [str(i)]) for i in range(12)]
        results = [p.result()[0]["x"] for p in pending]
    for i, x in enumerate(results):
        np.testing.assert_array_equal(x, np.full(256, 2.0 * i))


def test_a_batch_queued_behind_a_failing_one_still_gets_its_answer() -> None:
    code = "def get(source):\n    return {'y': 1 // source.i}\n"
    with load_program([LensStep(code, "inv", "A", "B")], isolation="process") as program:
        assert isinstance(program, ProcessProgram)
        bad, good = program.submit([{"i": 0}], ["zero"]), program.submit([{"i": 1}], ["one"])
        with pytest.raises(LensExecutionError) as e:
            bad.result()
        assert e.value.key == "zero"
        assert good.result() == [{"y": 1}]


def test_the_same_worker_serves_every_batch_and_epoch() -> None:
    with load_program([LensStep(ECHO, "echo", "A", "B")], isolation="process") as program:
        pids = set()
        for _epoch in range(3):
            for i in range(5):
                program.run([{"x": np.full(8, float(i))}], [str(i)])
                pids |= program.worker_pids  # type: ignore[operator]
    assert len(pids) == 1


@pytest.mark.usefixtures("hostile")
def test_a_lie_in_the_answer_to_one_of_many_batches_in_flight_is_refused_and_the_rest_answered() -> None:
    with _program("lie-on-one") as program:
        # One worker holds two batches at most: the others wait in the host's queue, and the ones
        # the liar held behind its lie are sent again to a fresh worker.
        pending = [program.submit([{"x": np.full(4, float(i))}], [f"k{i}"]) for i in range(6)]
        np.testing.assert_array_equal(pending[0].result()[0]["x"], np.full(4, 0.0))
        with pytest.raises(LensExecutionError, match="malformed answer: array outside") as e:
            pending[1].result()
        assert e.value.lens == "lie-on-one"
        for i in range(2, 6):
            np.testing.assert_array_equal(pending[i].result()[0]["x"], np.full(4, 2.0 * i))


def test_a_worker_killed_mid_batch_fails_that_batch_alone_and_the_queued_ones_are_answered() -> None:
    hog = " + ".join(["sum(range(10 ** 8))"] * 40)  # C-level loops: only the CPU limit stops them
    code = f"def get(source):\n    if source.i == 2:\n        return {{'y': {hog}}}\n"
    code += "    return {'y': source.i}\n"
    limits = Limits(cpu_seconds=0.5)
    with load_program([LensStep(code, "hog", "A", "B")], isolation="process", limits=limits) as program:
        assert isinstance(program, ProcessProgram)
        pending = [program.submit([{"i": i}], [f"k{i}"]) for i in range(6)]
        assert [p.result() for p in pending[:2]] == [[{"y": 0}], [{"y": 1}]]
        with pytest.raises(LensLimitError, match="CPU") as e:
            pending[2].result()
        assert e.value.key == "k2"
        assert [p.result() for p in pending[3:]] == [[{"y": 3}], [{"y": 4}], [{"y": 5}]]
