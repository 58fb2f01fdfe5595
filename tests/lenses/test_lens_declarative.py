"""Declarative lenses: each operation forward and back, and the checks on operation lists."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import atdata
from atdata.errors import LensExecutionError, LensValidationError
from atdata.lenses.declarative import Ops


@atdata.packable
class Reading:
    sensor: str
    value: int
    unit: str
    image: NDArray


@atdata.packable
class Where:
    sensor_id: str
    unit_code: int


@atdata.packable
class Measurement:
    where: Where
    value: float
    image: NDArray
    calibrated: bool = False


OPS: list[dict[str, Any]] = [
    {"op": "rename", "from": "sensor", "to": "sensor_id"},
    {"op": "convert", "field": "unit", "table": [{"from": "mV", "to": 1}, {"from": "V", "to": 2}]},
    {"op": "rename", "from": "unit", "to": "unit_code"},
    {"op": "nest", "fields": ["sensor_id", "unit_code"], "into": "where"},
    {"op": "cast", "field": "value", "to": "float"},
    {"op": "dtypeCast", "field": "image", "dtype": "float64"},
    {"op": "add", "field": "calibrated", "value": False},
]

readings = st.builds(
    Reading,
    sensor=st.text(max_size=5),
    value=st.integers(-(2**40), 2**40),
    unit=st.sampled_from(["mV", "V"]),
    image=st.lists(st.integers(0, 255), min_size=1, max_size=6).map(lambda v: np.array(v, dtype=np.uint8)),
)


def reading() -> Reading:
    return Reading(sensor="s1", value=7, unit="V", image=np.arange(3, dtype=np.uint8))


def test_an_op_list_turns_a_source_into_its_target() -> None:
    lens = atdata.Lens.from_ops(OPS, source=Reading, target=Measurement)
    assert lens(reading()) == Measurement(
        where=Where(sensor_id="s1", unit_code=2), value=7.0, image=np.arange(3, dtype=np.float64)
    )


@settings(max_examples=50, deadline=None)
@given(readings)
def test_putting_back_an_unchanged_view_restores_the_source(source: Reading) -> None:
    lens = atdata.Lens.from_ops(OPS, source=Reading, target=Measurement)
    assert lens.put(lens(source), source) == source


@settings(max_examples=50, deadline=None)
@given(readings, readings)
def test_a_put_view_is_what_get_returns_afterwards(source: Reading, other: Reading) -> None:
    lens = atdata.Lens.from_ops(OPS, source=Reading, target=Measurement)
    view = lens(other)
    assert lens(lens.put(view, source)) == view


def test_drop_restores_the_dropped_field_from_the_source_on_put() -> None:
    ops = Ops.parse([{"op": "drop", "field": "b"}])
    assert ops.get({"a": 1, "b": 2}) == {"a": 1}
    assert ops.put({"a": 5}, {"a": 1, "b": 2}) == {"a": 5, "b": 2}


def test_unnest_hoists_the_nested_fields_and_put_nests_them_again() -> None:
    ops = Ops.parse([{"op": "unnest", "field": "w"}])
    assert ops.get({"w": {"x": 1, "y": 2}, "z": 3}) == {"x": 1, "y": 2, "z": 3}
    assert ops.put({"x": 9, "y": 2, "z": 3}, {"w": {"x": 1, "y": 2}, "z": 3}) == {
        "w": {"x": 9, "y": 2},
        "z": 3,
    }


def test_a_lossy_cast_keeps_the_source_value_when_the_view_is_unchanged() -> None:
    ops = Ops.parse([{"op": "cast", "field": "v", "to": "int"}])
    assert ops.get({"v": 2.75}) == {"v": 2}
    assert ops.put({"v": 2}, {"v": 2.75}) == {"v": 2.75}
    assert ops.put({"v": 5}, {"v": 2.75}) == {"v": 5.0}


def test_convert_uses_the_default_for_values_outside_the_table() -> None:
    ops = Ops.parse([{"op": "convert", "field": "c", "table": [{"from": "a", "to": 1}], "default": 0}])
    assert ops.get({"c": "zzz"}) == {"c": 0}
    assert ops.put({"c": 0}, {"c": "zzz"}) == {"c": "zzz"}


def test_convert_keeps_true_and_one_apart() -> None:
    ops = Ops.parse(
        [{"op": "convert", "field": "c", "table": [{"from": True, "to": "yes"}, {"from": 1, "to": "one"}]}]
    )
    assert ops.get({"c": 1}) == {"c": "one"}


def test_a_value_outside_the_table_without_default_fails_naming_lens_and_key() -> None:
    lens = atdata.Lens.from_ops(OPS, source=Reading, target=Measurement, name="reading_v1")
    bad = Reading(sensor="s", value=1, unit="kV", image=np.zeros(1, np.uint8))
    with pytest.raises(LensExecutionError, match="'kV' is not in the table") as info:
        lens.get(bad, key="r-9")
    assert (info.value.lens, info.value.key) == ("reading_v1", "r-9")


def test_every_malformed_operation_is_reported_at_once_with_its_position() -> None:
    with pytest.raises(LensValidationError) as info:
        Ops.parse(
            [
                {"op": "rename", "from": "a"},
                {"op": "explode", "field": "b"},
                {"op": "cast", "field": "c", "to": "complex"},
                {"op": "dtypeCast", "field": "d", "dtype": "object"},
            ]
        )
    assert [v.line for v in info.value.violations] == [1, 2, 3, 4]
    assert "missing 'to'" in info.value.violations[0].reason


def test_a_table_that_maps_two_values_to_one_is_refused_as_irreversible() -> None:
    with pytest.raises(LensValidationError, match="could not be reversed"):
        Ops.parse(
            [{"op": "convert", "field": "c", "table": [{"from": 1, "to": "x"}, {"from": 2, "to": "x"}]}]
        )


def test_ops_that_leave_a_target_field_unset_are_refused_against_the_types() -> None:
    with pytest.raises(LensValidationError) as info:
        atdata.Lens.from_ops(OPS[:3], source=Reading, target=Measurement)
    reasons = [v.reason for v in info.value.violations]
    assert "target field Measurement.where is never set" in reasons
    assert "field 'sensor_id' is not a field of Measurement; drop it" in reasons


def test_ops_naming_a_field_that_does_not_exist_are_refused_against_the_types() -> None:
    with pytest.raises(LensValidationError, match="no field 'sensr'"):
        atdata.Lens.from_ops(
            [{"op": "rename", "from": "sensr", "to": "x"}], source=Reading, target=Measurement
        )


def test_plain_data_round_trips_through_parse() -> None:
    assert Ops.parse(Ops.parse(OPS).to_plain()).to_plain() == OPS


def test_ops_read_back_from_the_lens_record_form_the_registry_publishes() -> None:
    from atdata_registry.record_builders import op_record

    ops = [*OPS, {"op": "add", "field": "gain", "value": 0.5}]
    assert Ops.from_record([op_record(op) for op in ops]).to_plain() == ops


# --- random operation lists obey the lens laws ---------------------------------------------------


@st.composite
def op_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A valid op list over the fields of ``records()``, built by tracking what each op leaves."""
    kinds: dict[str, Any] = {"i": "int", "f": "float", "label": "label", "arr": "array", "s": "str"}
    ops: list[dict[str, Any]] = []
    fresh = iter(f"n{k}" for k in range(100))
    for _ in range(draw(st.integers(1, 8))):
        top = sorted(kinds)
        choice = draw(
            st.sampled_from(["rename", "drop", "add", "convert", "nest", "unnest", "cast", "dtypeCast"])
        )
        if choice == "rename":
            old, new = draw(st.sampled_from(top)), next(fresh)
            kinds[new] = kinds.pop(old)
            ops.append({"op": "rename", "from": old, "to": new})
        elif choice == "drop" and len(top) > 1:
            kinds.pop(name := draw(st.sampled_from(top)))
            ops.append({"op": "drop", "field": name})
        elif choice == "add":
            kinds[name := next(fresh)] = "int"
            ops.append({"op": "add", "field": name, "value": draw(st.integers(-5, 5))})
        elif choice == "convert" and (labels := [n for n in top if kinds[n] == "label"]):
            kinds[name := draw(st.sampled_from(labels))] = "int"
            table = [{"from": "x", "to": 1}, {"from": "y", "to": 2}, {"from": "z", "to": 3}]
            ops.append({"op": "convert", "field": name, "table": table})
        elif choice == "nest":
            fields = draw(st.lists(st.sampled_from(top), min_size=1, max_size=2, unique=True))
            kinds[into := next(fresh)] = {f: kinds.pop(f) for f in fields}
            ops.append({"op": "nest", "fields": fields, "into": into})
        elif choice == "unnest" and (nested := [n for n in top if isinstance(kinds[n], dict)]):
            name = draw(st.sampled_from(nested))
            if not set(kinds[name]) & (set(kinds) - {name}):
                kinds.update(kinds.pop(name))
                ops.append({"op": "unnest", "field": name})
        elif choice == "cast" and (numbers := [n for n in top if kinds[n] in ("int", "float")]):
            name = draw(st.sampled_from(numbers))
            kinds[name] = to = draw(st.sampled_from(["int", "float"]))
            ops.append({"op": "cast", "field": name, "to": to})
        elif choice == "dtypeCast" and (arrays := [n for n in top if kinds[n] == "array"]):
            dtype = draw(st.sampled_from(["float64", "float32", "int16", "float16"]))
            ops.append({"op": "dtypeCast", "field": draw(st.sampled_from(arrays)), "dtype": dtype})
    return ops


records = st.fixed_dictionaries(
    {
        "i": st.integers(-1000, 1000),
        "f": st.floats(-1000, 1000),
        "label": st.sampled_from(["x", "y", "z"]),
        "arr": st.lists(st.integers(-100, 100), min_size=1, max_size=4).map(
            lambda v: np.array(v, np.float32)
        ),
        "s": st.text(max_size=4),
    }
)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


@settings(max_examples=200, deadline=None)
@given(op_lists(), records, records)
def test_every_op_list_satisfies_getput_and_putget(ops: list[dict[str, Any]], s: Any, other: Any) -> None:
    lens = Ops.parse(ops)
    assert same(lens.put(lens.get(s), s), s)
    view = lens.get(other)
    assert same(lens.get(lens.put(view, s)), view)
