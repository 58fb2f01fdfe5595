"""Shards written by the public atdata 0.7.0b1 package read into today's types.

``tests/fixtures/legacy07/frames.tar`` was made by ``make_fixture.py`` next to it; the values here
repeat that script's formulas.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import atdata

FIXTURE = Path(__file__).parents[1] / "fixtures" / "legacy07" / "frames.tar"


@atdata.packable
class LegacyFrame:
    image: NDArray[np.uint16]
    mask: NDArray[np.bool_] | None
    label: str
    t_index: int
    t: float
    flag: bool
    raw: bytes
    metadata: dict[str, Any] | None = None


def _read() -> list[LegacyFrame]:
    return list(atdata.Dataset[LegacyFrame](str(FIXTURE)).ordered())


def test_every_sample_of_the_0_7_shard_is_read() -> None:
    assert [f.t_index for f in _read()] == [0, 1, 2, 3]


def test_arrays_from_0_7_keep_dtype_shape_and_values() -> None:
    for i, f in enumerate(_read()):
        assert f.image.dtype == np.uint16
        assert np.array_equal(f.image, np.arange(20, dtype=np.uint16).reshape(4, 5) + i)


def test_optional_arrays_from_0_7_are_arrays_or_none() -> None:
    masks = [f.mask for f in _read()]
    assert masks[1] is None and masks[3] is None
    assert masks[0] is not None and masks[0].tolist() == [True, True, False]


def test_scalars_from_0_7_keep_their_types() -> None:
    f = _read()[1]
    assert (f.label, f.t, f.flag, f.raw) == ("frame-1", 0.25, True, bytes([1, 254]))


def test_the_dict_metadata_field_from_0_7_is_read() -> None:
    frames = _read()
    assert frames[2].metadata == {"rig": "b2", "session": 1, "gains": [1.5, 2], "notes": None}
    assert frames[3].metadata is None


LEGACY_PYTHON = os.environ.get("ATDATA_LEGACY_PYTHON")
READ_WITH_0_7 = """
import sys
from typing import Any
from numpy.typing import NDArray
import atdata

@atdata.packable
class Frame:
    image: NDArray
    index: int
    label: str
    metadata: dict[str, Any] | None = None

for f in atdata.Dataset[Frame](sys.argv[1]).ordered():
    print(f.index, f.label, f.image.dtype, f.image.shape, f.metadata)
"""


@pytest.mark.skipif(not LEGACY_PYTHON, reason="set ATDATA_LEGACY_PYTHON to a python with atdata 0.7.0b1")
def test_atdata_0_7_reads_shards_we_write(frames: str) -> None:
    out = subprocess.run(
        [str(LEGACY_PYTHON), "-c", READ_WITH_0_7, frames], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert len(out) == 10
    assert out[1] == "1 frame-1 float32 (2, 3) {'i': 1, 'even': False}"
