"""Bad schema records: one SchemaError listing every problem with its JSON path."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schema_types import BathApplicationFrame

from atdata.errors import SchemaError
from atdata.lexicon import SCHEMA
from atdata.lexicon.nsid import defs
from atdata.schema import check_schema_record, from_schema, schema_of, schema_problems

WHEN = "2026-11-21T08:00:00.000Z"


def scalar(kind: str) -> dict[str, Any]:
    return {"$type": defs("scalarType"), "kind": kind}


def ref(name: str) -> dict[str, Any]:
    return {"$type": defs("refType"), "name": name}


def good() -> dict[str, Any]:
    return {
        "$type": SCHEMA,
        "name": "Frame",
        "version": "1.0.0",
        "fields": [
            {"name": "t", "type": scalar("float"), "default": {"float": "0.5"}},
            {"name": "roi", "type": ref("Roi")},
        ],
        "types": [{"name": "Roi", "fields": [{"name": "x", "type": scalar("int")}]}],
        "createdAt": WHEN,
    }


def problems_of(record: dict[str, Any]) -> dict[str, str]:
    """Messages by JSON path (several problems at one path are joined)."""
    found: dict[str, str] = {}
    for p in schema_problems(record):
        found[p.path] = f"{found[p.path]}; {p.message}" if p.path in found else p.message
    return found


def test_a_good_record_has_no_problems() -> None:
    assert schema_problems(good()) == []


def test_an_unknown_field_type_is_named() -> None:
    r = good()
    r["fields"][0]["type"] = {"$type": "dev.atdata.defs#complexType"}
    assert "unknown field type 'dev.atdata.defs#complexType'" in problems_of(r)["$.fields[0].type.$type"]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("2fast", "not an ASCII Python identifier"),
        ("class", "keyword"),
        ("_private", "underscore"),
        ("naïve", "ASCII"),
    ],
)
def test_field_names_must_be_public_python_identifiers(name: str, why: str) -> None:
    r = good()
    r["fields"][0]["name"] = name
    assert why in problems_of(r)["$.fields[0].name"]


def test_duplicate_field_and_type_names_are_reported_where_they_repeat() -> None:
    r = good()
    r["fields"][1]["name"] = "t"
    r["types"].append(copy.deepcopy(r["types"][0]))
    found = problems_of(r)
    assert "already defined at $.fields[0]" in found["$.fields[1].name"]
    assert "already defined at $.types[0]" in found["$.types[1].name"]


def test_a_reference_cycle_is_reported_with_its_members() -> None:
    r = good()
    r["types"] = [
        {"name": "Roi", "fields": [{"name": "p", "type": ref("Point")}]},
        {
            "name": "Point",
            "fields": [{"name": "r", "type": {"$type": defs("listType"), "items": ref("Roi")}}],
        },
    ]
    assert "reference cycle: Roi -> Point -> Roi" in problems_of(r)["$.types[0]"]


def test_a_reference_to_an_undefined_type_is_reported() -> None:
    r = good()
    r["fields"][1]["type"] = ref("Nowhere")
    assert "not defined" in problems_of(r)["$.fields[1].type.name"]


def test_an_unused_nested_type_is_reported() -> None:
    r = good()
    r["types"].append({"name": "Spare", "fields": []})
    assert "no field uses it" in problems_of(r)["$.types[1]"]


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.0.0", "1.0.0+build.5", "1.0.0-", "latest"])
def test_versions_must_be_semver_without_build_metadata(version: str) -> None:
    r = good()
    r["version"] = version
    assert "$.version" in problems_of(r)


def test_floats_are_refused_wherever_they_are() -> None:
    r = good()
    r["fields"][0]["default"] = {"float": 0.5}
    r["fields"][1]["unit"] = 1.5
    found = problems_of(r)
    assert "not allowed in a record" in found["$.fields[0].default.float"]
    assert "not allowed in a record" in found["$.fields[1].unit"]


def test_oversized_values_are_reported_with_their_limits() -> None:
    r = good()
    r["fields"][0]["doc"] = "x" * 30000
    r["fields"][0]["unit"] = "u" * 100
    found = problems_of(r)
    assert "at most 20000" in found["$.fields[0].doc"]
    assert "at most 64" in found["$.fields[0].unit"]


def test_float_text_must_be_canonical() -> None:
    r = good()
    r["fields"][0]["default"] = {"float": "0.50"}
    assert "canonical" in problems_of(r)["$.fields[0].default"]


def test_defaults_must_fit_their_fields() -> None:
    r = good()
    r["fields"][0]["default"] = {"string": "half"}
    assert "does not fit" in problems_of(r)["$.fields[0].default"]


def test_dtypes_must_be_numpy_names_in_canonical_spelling() -> None:
    r = good()
    r["fields"].append({"name": "a", "type": {"$type": defs("arrayType"), "dtype": "<f4"}})
    r["fields"].append({"name": "b", "type": {"$type": defs("arrayType"), "dtype": "quaternion"}})
    found = problems_of(r)
    assert "'float32'" in found["$.fields[2].type.dtype"]
    assert "not a numpy dtype" in found["$.fields[3].type.dtype"]


def test_literal_values_need_one_kind_each_and_must_not_repeat() -> None:
    r = good()
    values = [
        {"string": "a"},
        {"string": "a"},
        {"string": "b", "integer": 1},
        {"integer": 1},
        {"boolean": True},
    ]
    r["fields"].append({"name": "c", "type": {"$type": defs("literalType"), "values": values}})
    found = problems_of(r)
    assert "repeats" in found["$.fields[2].type.values[1]"]
    assert "exactly one" in found["$.fields[2].type.values[2]"]
    assert "repeats" in found["$.fields[2].type.values[4]"]  # True == 1 to Python's Literal


def test_one_error_lists_every_problem_at_once() -> None:
    r = good()
    r["name"] = "bad name"
    r["version"] = "one"
    r["fields"][0]["type"] = {"$type": "dev.atdata.defs#complexType"}
    r["fields"][1]["default"] = {"float": 0.1}
    with pytest.raises(SchemaError) as info:
        check_schema_record(r)
    paths = [p.path for p in info.value.problems]
    assert {"$.name", "$.version", "$.fields[0].type.$type", "$.fields[1].default.float"} <= set(paths)
    assert "invalid schema record 'bad name'" in str(info.value)


def test_from_schema_refuses_a_bad_record_with_the_same_error() -> None:
    r = good()
    r["fields"][1]["type"] = ref("Nowhere")
    with pytest.raises(SchemaError, match=r"\$\.fields\[1\]\.type\.name"):
        from_schema(r)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _locations(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _locations(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _locations(v, (*here, i))
    return out


@settings(max_examples=300, deadline=None)
@given(st.data(), json_values)
def test_any_corruption_of_a_record_is_reported_never_raised(data: st.DataObject, junk: Any) -> None:
    r = data.draw(st.sampled_from([good(), schema_of(BathApplicationFrame, created_at=WHEN)]))
    where = data.draw(st.sampled_from(_locations(r)[1:]))
    target: Any = r
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = junk
    problems = schema_problems(r)
    if not problems:
        from_schema(r)  # whatever the checks let through must build


def test_a_deeply_nested_field_type_is_refused_without_recursing_into_it() -> None:
    r = good()
    t = scalar("int")
    for _ in range(3000):
        t = {"$type": defs("listType"), "items": t}
    r["fields"][0]["type"] = t
    with pytest.raises(SchemaError, match="nests deeper than 64 levels"):
        check_schema_record(r)
