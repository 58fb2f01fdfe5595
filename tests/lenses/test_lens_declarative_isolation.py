"""A declarative lens runs where the trust policy says: an untrusted author's op list in a worker."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

import atdata
from atdata.errors import LensExecutionError
from atdata.lenses.declarative import MAX_ARRAY_BYTES


@atdata.packable
class Raw:
    image: NDArray
    degrees: float
    station: str


@atdata.packable
class Cooked:
    image: NDArray
    fahrenheit: float
    station: str


OPS = [
    {"op": "rename", "from": "degrees", "to": "fahrenheit"},
    {"op": "dtypeCast", "field": "image", "dtype": "float16"},
]


def sample() -> Raw:
    return Raw(image=np.arange(6, dtype=np.float64).reshape(2, 3), degrees=21.5, station="north")


def test_an_op_list_in_a_worker_gives_what_it_gives_in_the_host() -> None:
    inline = atdata.Lens.from_ops(OPS, source=Raw, target=Cooked)
    with atdata.Lens.from_ops(OPS, source=Raw, target=Cooked, isolation="process") as worker:
        a, b = inline(sample()), worker(sample())
        assert (b.fahrenheit, b.station, b.image.dtype) == (a.fahrenheit, a.station, np.float16)
        assert np.array_equal(a.image, b.image)
        back = worker.put(b, sample())
    assert back.degrees == 21.5 and back.image.dtype == np.float64


def test_an_op_list_in_a_worker_runs_in_another_process() -> None:
    import os

    with atdata.Lens.from_ops(OPS, source=Raw, target=Cooked, isolation="process") as worker:
        worker(sample())
        pids = {p for seg in worker._chain().segments for prog in seg.programs for p in prog.worker_pids}
    assert pids and os.getpid() not in pids


def test_a_cast_past_the_size_limit_fails_in_the_worker_naming_the_lens() -> None:
    big = Raw(image=np.broadcast_to(np.zeros(1, np.uint8), (MAX_ARRAY_BYTES // 2,)), degrees=1.0, station="x")
    ops = [
        {"op": "rename", "from": "degrees", "to": "fahrenheit"},
        {"op": "dtypeCast", "field": "image", "dtype": "float64"},
    ]
    with (
        atdata.Lens.from_ops(ops, source=Raw, target=Cooked, isolation="process", name="grow") as worker,
        pytest.raises(LensExecutionError, match="grow"),
    ):
        worker(big)
