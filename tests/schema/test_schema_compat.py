"""compatibility(old, new): every kind of change, classified like Confluent Schema Registry."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from schema_types import Position

from atdata.lexicon import SCHEMA
from atdata.lexicon.nsid import defs
from atdata.schema import compatibility, compatibility_transitive, schema_of, suggest_version

WHEN = "2026-11-21T08:00:00.000Z"


def scalar(kind: str) -> dict[str, Any]:
    return {"$type": defs("scalarType"), "kind": kind}


def optional(inner: dict[str, Any]) -> dict[str, Any]:
    return {"$type": defs("optionalType"), "inner": inner}


def literal(*values: str) -> dict[str, Any]:
    return {"$type": defs("literalType"), "values": [{"string": v} for v in values]}


def array(
    dtype: str | None = None, shape: list[int | None] | None = None, dims: list[str] | None = None
) -> dict:
    t: dict[str, Any] = {"$type": defs("arrayType")}
    if dtype:
        t["dtype"] = dtype
    if shape is not None:
        t["shape"] = [{} if n is None else {"size": n} for n in shape]
    if dims is not None:
        t["dims"] = dims
    return t


def ref(name: str) -> dict[str, Any]:
    return {"$type": defs("refType"), "name": name}


def schema(
    fields: list[dict[str, Any]], version: str = "1.0.0", types: list[Any] | None = None
) -> dict[str, Any]:
    r: dict[str, Any] = {
        "$type": SCHEMA,
        "name": "Frame",
        "version": version,
        "fields": fields,
        "createdAt": WHEN,
    }
    if types:
        r["types"] = types
    return r


BASE = [
    {"name": "t", "type": scalar("float"), "unit": "s"},
    {"name": "compound", "type": literal("baclofen", "tacpd")},
    {"name": "image", "type": array("float32", [None, 64, 64], ["t", "y", "x"])},
    {"name": "label", "type": optional(scalar("str")), "default": {"null": True}},
]


def changed(edit: Any) -> dict[str, Any]:
    fields = copy.deepcopy(BASE)
    edit(fields)
    return schema(fields, "1.1.0")


def field(fields: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(f for f in fields if f["name"] == name)


def kinds(report: Any) -> list[tuple[str, str]]:
    return [(c.kind, c.path) for c in report.changes]


OLD = schema(BASE)


def test_identical_schemas_are_fully_compatible_with_no_changes() -> None:
    report = compatibility(OLD, schema(copy.deepcopy(BASE), "1.0.1"))
    assert (report.level, report.changes) == ("full", ())


def test_adding_a_field_with_a_default_is_full() -> None:
    report = compatibility(
        OLD, changed(lambda f: f.append({"name": "n", "type": scalar("int"), "default": {"integer": 0}}))
    )
    assert (kinds(report), report.level) == ([("field_added_optional", "$.n")], "full")


def test_adding_a_required_field_is_forward_only() -> None:
    report = compatibility(OLD, changed(lambda f: f.append({"name": "n", "type": scalar("int")})))
    assert (kinds(report), report.level) == ([("field_added_required", "$.n")], "forward")


def test_removing_a_field_that_had_a_default_is_full() -> None:
    report = compatibility(OLD, changed(lambda f: f.pop(3)))
    assert (kinds(report), report.level) == ([("field_removed_optional", "$.label")], "full")


def test_removing_a_required_field_is_backward_only() -> None:
    report = compatibility(OLD, changed(lambda f: f.pop(0)))
    assert (kinds(report), report.level) == ([("field_removed_required", "$.t")], "backward")


def test_a_rename_is_reported_as_a_removal_plus_an_addition_with_a_hint() -> None:
    report = compatibility(OLD, changed(lambda f: f[0].update(name="time")))
    assert kinds(report) == [("field_removed_required", "$.t"), ("field_added_required", "$.time")]
    assert "renamed to 'time'?" in report.changes[0].detail
    assert report.level == "breaking"


def test_changing_a_scalar_type_is_breaking() -> None:
    report = compatibility(OLD, changed(lambda f: f[0].update(type=scalar("int"))))
    assert (kinds(report), report.level) == ([("type_changed", "$.t")], "breaking")
    assert "float -> int" in report.changes[0].detail


def test_widening_a_literal_is_backward_only() -> None:
    report = compatibility(OLD, changed(lambda f: f[1].update(type=literal("baclofen", "tacpd", "gaba"))))
    assert (kinds(report), report.level) == ([("literal_widened", "$.compound")], "backward")


def test_narrowing_a_literal_is_forward_only() -> None:
    report = compatibility(OLD, changed(lambda f: f[1].update(type=literal("baclofen"))))
    assert (kinds(report), report.level) == ([("literal_narrowed", "$.compound")], "forward")


def test_swapping_literal_values_is_breaking() -> None:
    report = compatibility(OLD, changed(lambda f: f[1].update(type=literal("baclofen", "gaba"))))
    assert (kinds(report), report.level) == ([("literal_changed", "$.compound")], "breaking")


def test_a_literal_becoming_its_scalar_type_is_backward_only() -> None:
    report = compatibility(OLD, changed(lambda f: f[1].update(type=scalar("str"))))
    assert (kinds(report), report.level) == ([("literal_to_scalar", "$.compound")], "backward")


def test_making_a_field_optional_is_backward_only() -> None:
    report = compatibility(OLD, changed(lambda f: f[0].update(type=optional(scalar("float")))))
    assert (kinds(report), report.level) == ([("made_optional", "$.t")], "backward")


def test_making_an_optional_field_required_is_forward_only() -> None:
    report = compatibility(OLD, changed(lambda f: f[3].update(type=scalar("str"), default={"string": ""})))
    assert ("made_required", "$.label") in kinds(report)
    assert report.level == "forward"


def test_changing_an_array_dtype_is_breaking() -> None:
    report = compatibility(
        OLD, changed(lambda f: f[2].update(type=array("uint16", [None, 64, 64], ["t", "y", "x"])))
    )
    assert (kinds(report), report.level) == ([("dtype_changed", "$.image")], "breaking")


def test_dropping_a_dtype_constraint_is_backward_only() -> None:
    report = compatibility(
        OLD, changed(lambda f: f[2].update(type=array(None, [None, 64, 64], ["t", "y", "x"])))
    )
    assert (kinds(report), report.level) == ([("dtype_unconstrained", "$.image")], "backward")


def test_changing_the_number_of_axes_is_breaking() -> None:
    report = compatibility(OLD, changed(lambda f: f[2].update(type=array("float32", [64, 64], ["y", "x"]))))
    assert ("shape_changed", "$.image") in kinds(report)
    assert report.level == "breaking"


def test_relaxing_an_axis_is_backward_and_fixing_one_is_forward() -> None:
    relaxed = compatibility(
        OLD, changed(lambda f: f[2].update(type=array("float32", [None, None, 64], ["t", "y", "x"])))
    )
    fixed = compatibility(
        OLD, changed(lambda f: f[2].update(type=array("float32", [1, 64, 64], ["t", "y", "x"])))
    )
    assert (kinds(relaxed), relaxed.level) == ([("shape_relaxed", "$.image")], "backward")
    assert (kinds(fixed), fixed.level) == ([("shape_constrained", "$.image")], "forward")


def test_renaming_axes_changes_no_data() -> None:
    report = compatibility(
        OLD, changed(lambda f: f[2].update(type=array("float32", [None, 64, 64], ["z", "y", "x"])))
    )
    assert (kinds(report), report.level) == ([("dims_renamed", "$.image")], "full")


def test_turning_a_field_into_a_nested_type_is_breaking() -> None:
    pos = {"name": "Pos", "fields": [{"name": "x", "type": scalar("float")}]}
    new = changed(lambda f: f[0].update(type=ref("Pos")))
    new["types"] = [pos]
    report = compatibility(OLD, new)
    assert (kinds(report), report.level) == ([("nesting_changed", "$.t")], "breaking")


def test_changes_inside_nested_types_carry_their_path() -> None:
    pos = {"name": "Pos", "fields": [{"name": "x", "type": scalar("float")}]}
    old = schema([{"name": "rois", "type": {"$type": defs("listType"), "items": ref("Pos")}}], types=[pos])
    new = copy.deepcopy(old)
    new["types"][0]["fields"].append({"name": "y", "type": scalar("float")})
    new["types"][0]["fields"][0]["type"] = scalar("int")
    report = compatibility(old, new)
    assert kinds(report) == [("field_added_required", "$.rois[].y"), ("type_changed", "$.rois[].x")]


def test_changing_a_unit_is_breaking_because_values_change_meaning() -> None:
    report = compatibility(OLD, changed(lambda f: f[0].update(unit="ms")))
    assert (kinds(report), report.level) == ([("unit_changed", "$.t")], "breaking")


def test_documentation_defaults_and_order_are_reported_but_compatible() -> None:
    def edit(f: list[dict[str, Any]]) -> None:
        f[0]["doc"] = "Time."
        f[3]["default"] = {"string": "none"}
        f.reverse()

    report = compatibility(OLD, changed(edit))
    assert sorted(c.kind for c in report.changes) == ["default_changed", "doc_changed", "fields_reordered"]
    assert report.level == "full"


def test_classes_can_be_compared_directly() -> None:
    report = compatibility(Position, schema_of(Position, version="1.1.0"))
    assert report.level == "full"
    assert report.old == "Position@1.0.0"


def test_the_transitive_check_catches_what_each_single_step_allows() -> None:
    v1 = schema(copy.deepcopy(BASE), "1.0.0")
    v2 = changed(lambda f: f.append({"name": "n", "type": scalar("int"), "default": {"integer": 0}}))
    v3 = changed(lambda f: f.append({"name": "n", "type": scalar("int")}))
    v3["version"] = "1.2.0"
    assert compatibility(v1, v2).level == "full"
    assert compatibility(v2, v3).level == "full"
    transitive = compatibility_transitive([v1, v2, v3])
    assert transitive.level == "forward"
    assert [(r.old, r.new) for r in transitive.reports] == [
        ("Frame@1.0.0", "Frame@1.1.0"),
        ("Frame@1.0.0", "Frame@1.2.0"),
        ("Frame@1.1.0", "Frame@1.2.0"),
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda f: f.pop(0), "1.1.0"),  # compatible shape change: minor
        (lambda f: f[0].update(type=scalar("int")), "2.0.0"),  # breaking: major
        (lambda f: f[0].update(doc="Time."), "1.0.1"),  # documentation only: patch
    ],
)
def test_suggested_versions_follow_the_level_of_the_change(edit: Any, expected: str) -> None:
    assert suggest_version("1.0.0", compatibility(OLD, changed(edit))) == expected


def test_the_report_reads_as_a_list_of_changes() -> None:
    text = str(compatibility(OLD, changed(lambda f: f[0].update(unit="ms"))))
    assert text.startswith("Frame@1.0.0 -> Frame@1.1.0: BREAKING")
    assert "unit_changed at $.t" in text
