"""Batches cross the process boundary as columns: one stacked array per array field."""

from __future__ import annotations

import numpy as np
import pytest

from atdata.sandbox import wire
from atdata.sandbox.columns import Stack, pack, unpack


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
