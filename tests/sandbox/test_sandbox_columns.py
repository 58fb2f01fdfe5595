"""Batches cross the process boundary as columns: one stacked array per array field."""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import atdata
from atdata.sandbox import wire
from atdata.sandbox.batching import MAX_BATCH_ITEMS, batch_ranges
from atdata.sandbox.columns import Batch, Stack, pack, unpack
from atdata.types.packable import as_plain


def sent(packed: object, *, readonly: bool = False) -> object:
    """``packed`` as the other side reads it, through the shared-memory arena."""
    arena = memoryview(bytearray(1 << 20))
    header, meta, *data = wire.encode(packed, arena=arena)
    arena_len = wire.HEADER.unpack(header)[3]
    inband = bytearray(b"".join(bytes(memoryview(d).cast("B")) for d in data))
    return wire.decode(bytes(meta), inband, arena=arena, arena_len=arena_len, readonly=readonly)


def test_arrays_of_one_shape_and_dtype_are_stacked_and_come_back_as_rows() -> None:
    items = [{"image": np.full((4, 4), float(i)), "t": i * 0.5, "name": f"f{i}"} for i in range(5)]
    packed = pack(items)
    assert isinstance(packed["columns"]["image"]["stack"], Stack)
    assert packed["columns"]["t"] == {"list": [0.0, 0.5, 1.0, 1.5, 2.0]}
    received = sent(packed)
    assert received["columns"]["image"]["stack"].shape == (5, 4, 4)  # type: ignore[index]
    out = unpack(received, 5)
    assert [o["name"] for o in out] == [f"f{i}" for i in range(5)]
    for i, o in enumerate(out):
        np.testing.assert_array_equal(o["image"], np.full((4, 4), float(i)))


def test_differing_shapes_dtypes_scalars_and_repeats_travel_as_they_are() -> None:
    shared = np.ones(3)
    items = [
        {"a": np.ones(2), "b": np.ones(2, np.float32), "c": np.array(1.0), "d": shared},
        {"a": np.ones(3), "b": np.ones(2, np.float64), "c": np.array(2.0), "d": shared},
    ]
    columns = pack(items)["columns"]
    assert all("list" in columns[k] for k in "abcd")
    assert unpack(pack(items), 2)[1]["d"] is shared


def test_items_with_different_fields_are_sent_item_by_item() -> None:
    items = [{"a": 1}, {"b": 2}]
    assert pack(items) == {"items": items}
    assert unpack(pack(items), 2) == items


def test_rows_of_a_read_only_column_are_read_only() -> None:
    rows = unpack(sent(pack([{"x": np.zeros(3)}, {"x": np.ones(3)}]), readonly=True), 2)
    assert not rows[0]["x"].flags.writeable
    np.testing.assert_array_equal(rows[1]["x"], np.ones(3))


@pytest.mark.parametrize(
    "answer",
    [
        {"n": 3, "columns": {"x": {"list": [1, 2]}}},
        {"n": 2, "columns": {"x": {"stack": np.zeros((3, 2))}}},
        {"n": 2, "columns": {"x": {"stack": np.zeros(2)}}},
        {"n": 2, "columns": {"x": {"list": [1, 2], "stack": np.zeros((2, 1))}}},
        {"n": 2, "columns": []},
        {"items": [{"a": 1}]},
        {"items": [1, 2]},
        [{"a": 1}, {"a": 2}],
    ],
    ids=[
        "short-list",
        "long-stack",
        "flat-stack",
        "two-kinds",
        "not-a-mapping",
        "one-item",
        "not-dicts",
        "bare",
    ],
)
def test_an_answer_that_is_not_a_batch_of_the_asked_size_is_refused(answer: object) -> None:
    with pytest.raises(ValueError):
        unpack(answer, 2)


@atdata.packable
class _Point:
    t: float


@atdata.packable
class _Everything:
    image: NDArray
    t: float
    index: int
    name: str
    valid: bool
    raw: bytes
    when: datetime.datetime
    first: _Point
    rest: list[_Point]
    maybe: _Point | None
    note: str | None
    meta: dict[str, Any]


def _everything(i: int) -> _Everything:
    return _Everything(
        image=np.full((3, 2), float(i), np.float32),
        t=i / 2,
        index=i,
        name=f"s{i}",
        valid=i % 2 == 0,
        raw=bytes([i]),
        when=datetime.datetime(2026, 1, 1 + i, tzinfo=datetime.UTC),
        first=_Point(t=float(i)),
        rest=[_Point(t=float(j)) for j in range(i)],
        maybe=_Point(t=1.0) if i % 2 else None,
        note=None if i % 3 else "n",
        meta={"k": [i, None, "x"]},
    )


def _same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [g.keys() for g in got] == [w.keys() for w in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.pop("image"), w.pop("image"))
        assert g == w


@pytest.mark.parametrize("n", [1, 2, 5])
def test_samples_read_as_columns_are_their_plain_dicts(n: int) -> None:
    samples = [_everything(i) for i in range(n)]
    batch = Batch.of_samples(samples)
    _same(unpack(sent(batch.packed()), n), [as_plain(s) for s in samples])


def test_samples_of_different_classes_travel_as_their_plain_dicts() -> None:
    samples = [_everything(0), _Point(t=2.0)]
    assert Batch.of_samples(samples).packed() == {"items": [as_plain(s) for s in samples]}


def test_one_array_shared_by_every_sample_is_sent_once_not_stacked() -> None:
    shared = np.ones((2, 2), np.float32)
    samples = [_everything(i) for i in range(3)]
    for s in samples:
        s.image = shared
    column = Batch.of_samples(samples).packed()["columns"]["image"]
    assert column["list"] == [shared] * 3


def test_batches_are_cut_by_item_count_and_by_array_bytes() -> None:
    same = Batch.of_dicts([{"x": np.zeros(100, np.uint8)} for _ in range(10)])
    assert batch_ranges(same, 300) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert batch_ranges(same, 50) == [(i, i + 1) for i in range(10)]  # larger than the limit: alone
    varying = Batch.of_dicts([{"x": np.zeros(size, np.uint8)} for size in (100, 250, 100, 100, 300)])
    assert batch_ranges(varying, 300) == [(0, 1), (1, 2), (2, 4), (4, 5)]
    scalars = Batch.of_dicts([{"x": i} for i in range(MAX_BATCH_ITEMS + 1)])
    assert batch_ranges(scalars, 1 << 20) == [(0, MAX_BATCH_ITEMS), (MAX_BATCH_ITEMS, MAX_BATCH_ITEMS + 1)]
