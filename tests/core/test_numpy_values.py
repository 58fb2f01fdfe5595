"""Strict construction takes the lossless values numpy and pandas produce, and refuses lossy ones."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import numpy as np
import pandas as pd
import pytest

import atdata
from atdata.codec import decode, encode
from atdata.errors import SampleValidationError
from atdata.types.packable import spec_of


@atdata.packable
class Row:
    n: int
    x: float
    ok: bool
    name: str
    raw: bytes = b""
    when: dt.datetime | None = None
    count: int | None = None
    score: float | None = None
    label: str | None = None
    values: list[float] = []  # noqa: RUF012 - a field default, copied per sample


def _row(**kw: object) -> Row:
    base: dict[str, object] = {"n": 1, "x": 1.0, "ok": True, "name": "a"}
    base.update(kw)
    return Row(**base)  # type: ignore[arg-type]


def test_numpy_scalars_become_python_values() -> None:
    r = Row(n=np.int64(3), x=np.float32(1.5), ok=np.bool_(True), name=np.str_("cell"), raw=np.bytes_(b"z"))
    assert (r.n, r.x, r.ok, r.name, r.raw) == (3, 1.5, True, "cell", b"z")
    assert (type(r.n), type(r.x), type(r.ok), type(r.name), type(r.raw)) == (int, float, bool, str, bytes)


def test_zero_dimensional_arrays_become_python_values() -> None:
    r = Row(n=np.array(7, dtype=np.uint16), x=np.array(2.5), ok=np.array(False), name=np.array("s"))
    assert (r.n, r.x, r.ok, r.name) == (7, 2.5, False, "s")


def test_a_dataframe_row_from_groupby_iloc_is_accepted() -> None:
    df = pd.DataFrame({"n": [1, 2, 3], "x": [0.5, 1.5, 2.5], "ok": [True, False, True], "name": list("aab")})
    first = df.groupby("name").nth(0).iloc[0]
    r = Row(**first.to_dict())
    assert (r.n, r.x, r.ok, r.name) == (1, 0.5, True, "a")


def test_a_whole_float_from_a_nan_holding_int_column_is_an_int() -> None:
    ids = pd.Series([864691135, np.nan])  # pandas makes an int column with a gap float64
    assert _row(count=ids[0]).count == 864691135
    assert _row(count=ids[1]).count is None


def test_missing_markers_are_none_for_optional_fields() -> None:
    for missing in (None, np.nan, pd.NA, pd.NaT, np.datetime64("NaT")):
        r = _row(when=missing, count=missing, label=missing)
        assert (r.when, r.count, r.label) == (None, None, None)


def test_nan_stays_nan_in_an_optional_float_field() -> None:
    assert np.isnan(_row(score=np.float64("nan")).score)  # type: ignore[arg-type]
    assert _row(score=pd.NA).score is None


def test_a_one_dimensional_array_fills_a_list_field() -> None:
    assert _row(values=np.array([1.0, 2.0], dtype=np.float32)).values == [1.0, 2.0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", 1.5),
        ("n", np.float64(2.5)),
        ("n", np.uint64(2**64 - 1)),
        ("n", 2**63),
        ("n", np.bool_(True)),
        ("n", "3"),
        ("x", "1.0"),
        ("x", np.longdouble(1) / 3) if np.finfo(np.longdouble).nmant > 52 else ("x", "1/3"),
        ("ok", np.int64(1)),
        ("name", np.int64(1)),
        ("when", "2024-01-01T00:00:00"),
        ("when", pd.Timestamp("2024-01-01T00:00:00.000000001")),
        ("when", np.datetime64("2024-01-01T00:00:00.000000001")),
        ("when", dt.date(2024, 1, 1)),
    ],
)
def test_lossy_values_and_strings_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(SampleValidationError, match=rf"Row\.{field}"):
        _row(**{field: value})


def test_datetimes_from_python_numpy_and_pandas_are_accepted() -> None:
    aware = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    assert _row(when=aware).when == aware
    assert _row(when=pd.Timestamp("2024-05-01T12:00:00Z")).when == aware
    assert type(_row(when=pd.Timestamp("2024-05-01T12:00:00Z")).when) is dt.datetime
    assert _row(when=np.datetime64("2024-05-01T12:00:00.000001")).when == dt.datetime(2024, 5, 1, 12, 0, 0, 1)


def test_a_datetime_travels_in_a_shard_as_iso_8601_text() -> None:
    import msgpack

    r = _row(when=pd.Timestamp("2024-05-01T12:00:00.25+02:00"))
    assert msgpack.unpackb(encode(r))["when"] == "2024-05-01T12:00:00.250000+02:00"
    assert decode(Row, encode(r)) == r


def test_a_datetime_field_has_its_own_schema_kind_and_iso_default() -> None:
    @atdata.packable
    class Stamped:
        at: dt.datetime = dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

    record = atdata.schema_of(Stamped)
    field = record["fields"][0]
    assert field["type"]["kind"] == "datetime"
    assert field["default"] == {"datetime": "2020-01-02T03:04:05+00:00"}
    assert atdata.from_schema(record)().at == dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "spelling",
    ["inside", "outside"],
)
def test_units_and_docs_survive_optional_in_either_spelling(spelling: str) -> None:
    if spelling == "inside":

        @atdata.packable
        class M:
            d: Annotated[float, atdata.Unit("um"), atdata.Doc("diameter")] | None = None

    else:

        @atdata.packable
        class M:  # type: ignore[no-redef]
            d: Annotated[float | None, atdata.Unit("um"), atdata.Doc("diameter")] = None

    f = spec_of(M).field_index["d"]
    assert (f.unit, f.doc) == ("um", "diameter")
    assert atdata.schema_of(M)["fields"][0]["unit"] == "um"
