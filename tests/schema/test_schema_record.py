"""schema_of(T) and from_schema(record): sample types as records and back."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from schema_types import BathApplicationFrame, Position, Roi

from atdata.errors import IntegrityError, SampleValidationError, SchemaError
from atdata.lexicon import SCHEMA, data_model_problems, validate_record
from atdata.schema import content_hash, from_schema, record_cid, schema_of
from atdata.schema.value_objects import decode_value, encode_value, format_float, parse_float
from atdata.types.fields import ArrayType, FieldSpec, LiteralType, OptionalType, RefType, Scalar, TypeSpec
from atdata.types.packable import build_class, spec_of

WHEN = "2026-11-21T08:00:00.000Z"


def record() -> dict[str, Any]:
    return schema_of(BathApplicationFrame, created_at=WHEN)


def rebuilt() -> type:
    return from_schema(record())


def field(cls: type, name: str) -> Any:
    return spec_of(cls).field_index[name]


def test_the_record_is_a_valid_dev_atdata_schema_record_without_floats() -> None:
    r = record()
    assert r["$type"] == SCHEMA
    assert validate_record(SCHEMA, r) == []
    assert data_model_problems(r) == []


def test_round_trip_gives_the_same_record() -> None:
    assert schema_of(rebuilt(), created_at=WHEN) == record()


def test_round_trip_keeps_names_and_field_order() -> None:
    cls = rebuilt()
    assert cls.__name__ == "BathApplicationFrame"
    assert [f.name for f in spec_of(cls).fields] == [f.name for f in spec_of(BathApplicationFrame).fields]


def test_round_trip_keeps_literal_values_with_their_types() -> None:
    assert field(rebuilt(), "applied_compound").type == LiteralType(("baclofen", "tacpd", "unknown"))
    values = field(rebuilt(), "channel").type.values
    assert [type(v) for v in values] == [int, int, str]


def test_round_trip_keeps_optionality_and_requiredness() -> None:
    cls = rebuilt()
    assert isinstance(field(cls, "t_intervention").type, OptionalType)
    assert field(cls, "t_index").required
    assert not field(cls, "movie_uuid").required


def test_round_trip_keeps_defaults_of_every_kind() -> None:
    cls = rebuilt()
    for name in ("scale_x", "is_test", "channel", "tags", "thumbnail", "settings", "metadata"):
        assert field(cls, name).default == field(BathApplicationFrame, name).default, name
    assert field(cls, "gain").default == math.inf


def test_float_defaults_travel_as_exact_text() -> None:
    r = record()
    scale = next(f for f in r["fields"] if f["name"] == "scale_x")
    assert scale["default"] == {"float": "0.1"}
    assert field(rebuilt(), "scale_x").default == 0.1


def test_round_trip_keeps_array_dtype_shape_and_dims() -> None:
    assert field(rebuilt(), "image").type == ArrayType("uint16", (None, 512, 512), ("c", "y", "x"))


def test_round_trip_keeps_field_docs_units_and_the_class_docstring() -> None:
    cls = rebuilt()
    assert field(cls, "applied_compound").doc == "Compound applied to the bath."
    assert field(cls, "t").unit == "s"
    assert cls.__doc__ == spec_of(BathApplicationFrame).doc
    assert "two-photon" in (cls.__doc__ or "")


def test_nested_types_travel_inside_the_same_record_in_first_use_order() -> None:
    r = record()
    assert [t["name"] for t in r["types"]] == ["Roi", "Position"]
    roi_type = field(rebuilt(), "rois").type.inner
    assert isinstance(roi_type, RefType)
    assert roi_type.cls.__name__ == "Roi"
    assert field(roi_type.cls, "center").type.cls.__doc__ == "A point in the field of view."


def test_the_rebuilt_class_is_a_working_sample_type() -> None:
    cls = rebuilt()
    roi_cls = field(cls, "rois").type.inner.cls
    pos_cls = field(roi_cls, "center").type.cls
    sample = cls(
        applied_compound="tacpd",
        image=np.zeros((2, 512, 512), np.uint16),
        t_index=3,
        t=0.5,
        rois=[roi_cls(center=pos_cls(x=1.0))],
    )
    assert sample.tags == ["raw"]
    with pytest.raises(SampleValidationError, match="applied_compound"):
        cls(applied_compound="caffeine", image=sample.image, t_index=3, t=0.5, rois=[])
    with pytest.raises(SampleValidationError, match="shape"):
        cls(applied_compound="tacpd", image=np.zeros((2, 64, 64), np.uint16), t_index=3, t=0.5, rois=[])


def test_the_version_comes_from_the_argument_or_the_class() -> None:
    assert schema_of(Position, version="2.1.0")["version"] == "2.1.0"
    assert schema_of(Position)["version"] == "1.0.0"
    r = schema_of(Position, version="3.0.0-rc.1")
    assert schema_of(from_schema(r))["version"] == "3.0.0-rc.1"


def test_created_at_is_not_part_of_the_content() -> None:
    assert content_hash(schema_of(Roi)) == content_hash(schema_of(Roi, created_at=WHEN))


def test_only_sample_types_become_schemas() -> None:
    class Plain:
        x: int

    with pytest.raises(SchemaError, match="not a sample type"):
        schema_of(Plain)


def test_two_nested_types_with_one_name_are_refused() -> None:
    first = build_class(TypeSpec("Inner", (FieldSpec("v", Scalar("float")),)))
    second = build_class(TypeSpec("Inner", (FieldSpec("v", Scalar("int")),)))
    outer = build_class(TypeSpec("Outer", (FieldSpec("a", RefType(first)), FieldSpec("b", RefType(second)))))
    with pytest.raises(SchemaError, match="two different nested types are named 'Inner'"):
        schema_of(outer)


def test_a_nested_type_published_elsewhere_is_fetched_through_resolve() -> None:
    pos = schema_of(Position, created_at=WHEN)
    ref = {"uri": "at://did:plc:abc/dev.atdata.schema/Position:1.0.0", "cid": record_cid(pos)}
    outer = {
        "$type": SCHEMA,
        "name": "Marker",
        "version": "1.0.0",
        "fields": [{"name": "at", "type": {"$type": "dev.atdata.defs#refType", "schema": ref}}],
        "createdAt": WHEN,
    }
    fetched: list[Any] = []
    cls = from_schema(outer, resolve=lambda r: fetched.append(r) or pos)
    assert fetched == [ref]
    assert field(cls, "at").type.cls.__name__ == "Position"
    assert schema_of(cls, created_at=WHEN) == outer  # the nested type stays a reference
    with pytest.raises(SchemaError, match="pass resolve="):
        from_schema(outer)


def test_a_fetched_nested_schema_must_match_its_cid() -> None:
    pos = schema_of(Position, created_at=WHEN)
    ref = {"uri": "at://did:plc:abc/dev.atdata.schema/Position:1.0.0", "cid": record_cid(pos)}
    outer = {
        "$type": SCHEMA,
        "name": "Marker",
        "version": "1.0.0",
        "fields": [{"name": "at", "type": {"$type": "dev.atdata.defs#refType", "schema": ref}}],
        "createdAt": WHEN,
    }
    with pytest.raises(IntegrityError, match="does not match its CID"):
        from_schema(outer, resolve=lambda r: {**pos, "version": "9.9.9"})


def test_an_oversized_docstring_is_refused_with_its_path() -> None:
    wordy = build_class(TypeSpec("Wordy", (FieldSpec("x", Scalar("int")),), doc="w" * 40000))
    with pytest.raises(SchemaError) as info:
        schema_of(wordy)
    assert {p.path for p in info.value.problems} == {"$.description"}


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_float_survives_its_text_form_bit_for_bit(x: float) -> None:
    y = decode_value(encode_value(x))
    assert struct.pack("<d", y) == struct.pack("<d", x) or (math.isnan(x) and math.isnan(y))


def test_float_text_has_one_spelling_per_value() -> None:
    assert format_float(-0.0) == "-0.0"
    assert format_float(1e-7) == "1e-07"
    for bad in ("0.10", "1.0e-07", "+1.0", "0x1p-3", "Infinity", "1", " 1.0"):
        with pytest.raises(ValueError):
            parse_float(bad)
