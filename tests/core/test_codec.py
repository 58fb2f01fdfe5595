"""The sample codec: msgpack maps, arrays in atdata 0.7's layout, checked decoding."""

from __future__ import annotations

import struct
from typing import Annotated, Any

import msgpack
import numpy as np
import pytest
from core_types import Everything, Frame, Inner, everything, frame
from numpy.typing import NDArray

from atdata import Array, packable
from atdata.codec import decode, decode_array, decoder_for, encode, encode_array
from atdata.errors import ShardError


def _map(sample: Any) -> dict[str, Any]:
    return msgpack.unpackb(encode(sample))


def _decode_map(cls: type, d: dict[str, Any]) -> Any:
    return decode(cls, msgpack.packb(d, use_bin_type=True))


@pytest.mark.parametrize("i", [0, 1])
def test_every_field_kind_survives_a_round_trip(i: int) -> None:
    original = everything(i)
    assert decode(Everything, encode(original)) == original


def test_a_sample_is_a_msgpack_map_from_field_name_to_value() -> None:
    d = _map(frame(1))
    assert set(d) == {"image", "index", "label", "metadata"}
    assert d["index"] == 1 and d["label"] == "frame-1" and d["metadata"] == {"i": 1, "even": False}


def test_nested_samples_encode_as_maps() -> None:
    d = _map(everything(0))
    assert isinstance(d["inner"], dict) and set(d["inner"]) == {"points", "name"}
    assert [set(x) for x in d["inners"]] == [{"points", "name"}] * 2


def test_array_bytes_follow_the_0_7_layout() -> None:
    a = np.arange(6, dtype="<u2").reshape(2, 3)
    expected = b"\x03<u2" + b"\x02" + struct.pack("<2Q", 2, 3) + a.tobytes()
    assert encode_array(a) == expected


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.arange(5, dtype=">f8"),
        np.array([True, False]),
        np.array(3.5),
        np.zeros((0, 4), dtype=np.int64),
        np.arange(8, dtype=np.complex128).reshape(2, 2, 2),
        np.array(["ab", "c"]),
        np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
    ],
    ids=["float32", "big-endian", "bool", "0-d", "empty", "complex-3d", "unicode", "fortran-order"],
)
def test_arrays_keep_dtype_shape_and_values(array: np.ndarray) -> None:
    back = decode_array(encode_array(array))
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array)


def test_decoded_arrays_are_read_only_views_of_the_sample_bytes() -> None:
    data = encode_array(np.arange(4, dtype=np.float64))
    back = decode_array(data)
    assert not back.flags.writeable
    assert back.base is data or back.base.obj is data  # type: ignore[union-attr]


def test_legacy_npy_arrays_are_read() -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, np.arange(3, dtype=np.int32))
    assert np.array_equal(decode_array(buf.getvalue()), np.arange(3, dtype=np.int32))


def test_object_arrays_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="object"):
        encode_array(np.array([object()]))


def test_a_float_field_accepts_a_stored_int_as_a_float() -> None:
    d = _map(everything(0))
    d["ratio"] = 2
    ratio = _decode_map(Everything, d).ratio
    assert ratio == 2.0 and type(ratio) is float


def test_absent_fields_with_defaults_take_the_default() -> None:
    inner = _decode_map(Inner, {"points": encode_array(np.zeros(1))})
    assert inner.name == "inner"


def test_corrupt_msgpack_raises_shard_error_with_url_and_key() -> None:
    data = encode(frame(0))[:-7]
    with pytest.raises(ShardError, match="corrupt msgpack") as err:
        decoder_for(Frame)(data, "shard.tar", "k1")
    assert err.value.url == "shard.tar" and err.value.key == "k1"


def test_a_missing_required_field_is_named() -> None:
    d = _map(frame(0))
    del d["label"]
    with pytest.raises(ShardError, match="missing required field") as err:
        _decode_map(Frame, d)
    assert err.value.field == "label"


def test_a_wrong_dtype_is_named() -> None:
    d = _map(frame(0))
    d["image"] = encode_array(np.zeros((2, 3), dtype=np.float64))
    with pytest.raises(ShardError, match="expected dtype float32, got float64") as err:
        _decode_map(Frame, d)
    assert err.value.field == "image"


def test_a_wrong_shape_is_named() -> None:
    d = _map(frame(0))
    d["image"] = encode_array(np.zeros((3, 2), dtype=np.float32))
    with pytest.raises(ShardError, match=r"expected shape \(2, 3\), got \(3, 2\)") as err:
        _decode_map(Frame, d)
    assert err.value.field == "image"


def test_a_wrong_shape_is_caught_after_a_good_one_with_the_same_dtype() -> None:
    good = _map(frame(0))
    _decode_map(Frame, good)  # the decoder remembers the header it has checked
    good["image"] = encode_array(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(ShardError, match="expected shape"):
        _decode_map(Frame, good)


def test_array_bytes_shorter_than_the_header_claims_are_rejected() -> None:
    d = _map(frame(0))
    d["image"] = d["image"][:-4]
    with pytest.raises(ShardError, match="needs 24 bytes of data, found 20") as err:
        _decode_map(Frame, d)
    assert err.value.field == "image"


def test_a_wrong_scalar_type_is_named() -> None:
    d = _map(frame(0))
    d["index"] = "7"
    with pytest.raises(ShardError, match="expected int, got str") as err:
        _decode_map(Frame, d)
    assert err.value.field == "index"


def test_a_bool_is_not_an_int() -> None:
    d = _map(frame(0))
    d["index"] = True
    with pytest.raises(ShardError, match="expected int, got bool"):
        _decode_map(Frame, d)


def test_a_value_outside_a_literal_is_rejected() -> None:
    d = _map(everything(0))
    d["mode"] = "medium"
    with pytest.raises(ShardError, match="expected one of") as err:
        _decode_map(Everything, d)
    assert err.value.field == "mode"


def test_errors_inside_lists_and_nested_samples_name_the_path() -> None:
    d = _map(everything(0))
    d["inners"][1]["name"] = 5
    with pytest.raises(ShardError) as err:
        _decode_map(Everything, d)
    assert err.value.field == "inners[1].name"


def test_non_json_values_in_a_dict_field_are_rejected() -> None:
    d = _map(frame(0))
    d["metadata"] = {"raw": b"\x00"}
    with pytest.raises(ShardError, match="not JSON-like") as err:
        _decode_map(Frame, d)
    assert err.value.field == "metadata"


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, {"b": b"x"}]},
        {"a": {"b": {"c": [[msgpack.ExtType(5, b"")]]}}},
        {"a": [1, "s", None, 2.0, True, [], {}, b"x"]},
    ],
    ids=["bytes in a dict in a list", "ext type deep in dicts and lists", "bytes after valid values"],
)
def test_non_json_values_nested_in_a_dict_field_are_rejected(value: Any) -> None:
    d = _map(frame(0))
    d["metadata"] = value
    with pytest.raises(ShardError, match="JSON") as err:
        _decode_map(Frame, d)
    assert err.value.field == "metadata"


def test_fields_the_reader_does_not_know_are_ignored() -> None:
    # A reader whose schema dropped a field still reads data written before the drop.
    d = _map(frame(0))
    d["dropped_later"] = 1
    assert _decode_map(Frame, d) == frame(0)


def test_mutable_defaults_are_not_shared_between_decoded_samples() -> None:
    from atdata import packable

    @packable
    class WithList:
        xs: list[int] = [1]  # noqa: RUF012 - the default under test

    a = _decode_map(WithList, {})
    b = _decode_map(WithList, {})
    a.xs.append(2)
    assert b.xs == [1]


def test_array_bytes_longer_than_a_remembered_header_needs_are_rejected() -> None:
    good = _map(frame(0))
    _decode_map(Frame, good)  # the decoder remembers this header and the length it implies
    good["image"] += b"\0\0\0\0"
    with pytest.raises(ShardError, match="needs 24 bytes of data, found 28") as err:
        _decode_map(Frame, good)
    assert err.value.field == "image"


def test_fields_stored_in_another_order_decode_in_declaration_order() -> None:
    stored = _map(frame(0))
    reordered = dict(reversed(stored.items()))
    sample = _decode_map(Frame, reordered)
    assert sample == frame(0)
    assert list(sample.__dict__) == list(stored)


def test_a_bad_value_in_a_map_of_exactly_the_fields_is_named() -> None:
    d = _map(frame(0))
    d["label"] = 7  # every field present and in order: the decoder checks the map in place
    with pytest.raises(ShardError, match="expected str, got int 7") as err:
        _decode_map(Frame, d)
    assert err.value.field == "label"


def test_arrays_sharing_an_axis_must_agree_in_its_length() -> None:
    @packable
    class Trace:
        values: Annotated[NDArray, Array("float32", (None,), dims=("time",))]
        timestamps: Annotated[NDArray, Array("float64", (None,), dims=("time",))]

    good = {"values": encode_array(np.zeros(5, np.float32)), "timestamps": encode_array(np.zeros(5))}
    assert _decode_map(Trace, good).values.shape == (5,)
    bad = dict(good, values=encode_array(np.zeros(64, np.float32)))
    with pytest.raises(ShardError, match="axis 'time' has different lengths: 64 in values, 5 in timestamps"):
        _decode_map(Trace, bad)
