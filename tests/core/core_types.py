"""Sample types shared by the core tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray

import atdata

WriteShards = Callable[..., str]
"""The ``write_shards`` fixture: ``write_shards(samples, maxcount=, name=)`` -> brace pattern."""


@atdata.packable
class Inner:
    points: NDArray
    name: str = "inner"


@atdata.packable
class Everything:
    text: str
    count: int
    ratio: float
    flag: bool
    blob: bytes
    any_array: NDArray
    fixed: Annotated[NDArray, atdata.Array("float32", (None, 3))]
    mode: Literal["fast", "slow", 3]
    maybe: float | None
    tags: list[int]
    arrays: list[NDArray]
    meta: dict[str, Any]
    inner: Inner
    inners: list[Inner]
    maybe_inner: Inner | None = None
    note: str | None = None


@atdata.packable
class Frame:
    image: Annotated[NDArray, atdata.Array("float32", (2, 3))]
    index: int
    label: str
    metadata: dict[str, Any] | None = None


@atdata.packable
class WideFrame:
    """Like Frame but with a wider image: shards of it are Frames of the wrong shape."""

    image: Annotated[NDArray, atdata.Array("float32", (2, 4))]
    index: int
    label: str
    metadata: dict[str, Any] | None = None


@atdata.packable
class IntFrame:
    """Like Frame but with integer pixels: shards of it are Frames of the wrong dtype."""

    image: NDArray
    index: int
    label: str
    metadata: dict[str, Any] | None = None


@atdata.packable
class LabelOnly:
    index: int
    label: str


@atdata.packable
class Mixed:
    """A field of each kind a batch carries, every array of one shape so that batches stack."""

    image: Annotated[NDArray, atdata.Array("float32", (2, 2))]
    count: int
    ratio: float
    flag: bool
    text: str
    blob: bytes
    mode: Literal["fast", "slow", 3]
    maybe: float | None
    tags: list[int]
    arrays: list[NDArray]
    meta: dict[str, Any]
    maybe_array: NDArray | None
    inner: Inner


def mixed(i: int) -> Mixed:
    """Every fourth sample has None where it may: a batch of two holds None or not."""
    return Mixed(
        image=np.full((2, 2), i, dtype=np.float32),
        count=i,
        ratio=0.5 * i,
        flag=i % 2 == 0,
        text=f"mixed {i}",
        blob=bytes([i % 256]),
        mode="slow" if i % 2 else 3,
        maybe=None if i % 4 == 3 else 1.5 * i,
        tags=[i, i + 1],
        arrays=[np.arange(3, dtype=np.int16) + i, np.array(7.0 + i)],
        meta={"i": i, "nested": {"even": i % 2 == 0, "xs": [1, 2.5, None, "s"]}},
        maybe_array=None if i % 4 == 3 else np.arange(2, dtype=np.uint8) + i,
        inner=Inner(points=np.eye(2) * i),
    )


def everything(i: int = 0) -> Everything:
    return Everything(
        text=f"sample {i} ünïcode",
        count=-(2**40) + i,
        ratio=0.1 * i,
        flag=i % 2 == 0,
        blob=bytes([0, 255, i % 256]),
        any_array=np.arange(6, dtype=">i2").reshape(2, 3) + i,
        fixed=np.full((i + 1, 3), i, dtype=np.float32),
        mode="slow" if i % 2 else 3,
        maybe=None if i % 2 else 2.5,
        tags=[i, i + 1],
        arrays=[np.zeros((0, 2), dtype=np.uint8), np.array(7.0 + i)],
        meta={"a": [1, 2.5, None, {"b": "c"}], "i": i, "ok": True},
        inner=Inner(points=np.eye(2) * i),
        inners=[Inner(points=np.ones(3, dtype=np.complex64), name="x"), Inner(points=np.array([True]))],
        maybe_inner=Inner(points=np.zeros(1)) if i % 2 == 0 else None,
    )


def frame(i: int) -> Frame:
    return Frame(
        image=np.arange(6, dtype=np.float32).reshape(2, 3) + i,
        index=i,
        label=f"frame-{i}",
        metadata={"i": i, "even": i % 2 == 0},
    )
