"""The pure-Python lexicon validator: records, parameters and outputs, every problem with its path."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lexicon_examples import (
    INVALID_QUERIES,
    INVALID_RECORDS,
    VALID_QUERIES,
    VALID_RECORDS,
    schema_record,
)

from atdata.errors import RecordValidationError
from atdata.lexicon import (
    FIND_LENS_PATH,
    LIST_DATASETS,
    SCHEMA,
    SEARCH_SCHEMAS,
    Lexicons,
    assert_valid_record,
    parse_params,
    validate_output,
    validate_params,
    validate_record,
)
from atdata.lexicon.validator import grapheme_count


def paths(problems: list[Any]) -> list[str]:
    return [p.path for p in problems]


@pytest.mark.parametrize("name", sorted(VALID_RECORDS))
def test_valid_example_records_have_no_problems(name: str) -> None:
    nsid, make = VALID_RECORDS[name]
    assert validate_record(nsid, make()) == []


@pytest.mark.parametrize("name", sorted(INVALID_RECORDS))
def test_each_broken_record_is_reported_at_its_path(name: str) -> None:
    nsid, record, path = INVALID_RECORDS[name]
    assert path in paths(validate_record(nsid, record))


@pytest.mark.parametrize("name", sorted(VALID_QUERIES))
def test_valid_example_queries_have_no_problems(name: str) -> None:
    nsid, params, body = VALID_QUERIES[name]
    assert validate_params(nsid, params) == []
    assert validate_output(nsid, body) == []


@pytest.mark.parametrize("name", sorted(INVALID_QUERIES))
def test_each_broken_query_is_reported_at_its_path(name: str) -> None:
    nsid, kind, value, path = INVALID_QUERIES[name]
    problems = validate_params(nsid, value) if kind == "params" else validate_output(nsid, value)
    assert path in paths(problems)


def test_every_problem_is_reported_at_once() -> None:
    record = schema_record()
    record["version"] = 3
    record["fields"][2]["type"]["kind"] = "complex"
    record["createdAt"] = "now"
    assert paths(validate_record(SCHEMA, record)) == ["$.version", "$.fields[2].type.kind", "$.createdAt"]


def test_a_float_anywhere_is_refused_even_in_properties_no_lexicon_declares() -> None:
    record = schema_record()
    record["fields"][3]["default"] = {"float": 0.1}
    record["extra"] = {"deep": [1, 2.5]}
    problems = validate_record(SCHEMA, record)
    assert paths(problems) == ["$.fields[3].default.float", "$.extra.deep[1]"]
    assert "encode it as a string" in problems[0].message


def test_string_limits_count_utf8_bytes() -> None:
    record = schema_record()
    record["name"] = "é" * 65  # 65 characters, 130 bytes > 128
    assert paths(validate_record(SCHEMA, record)) == ["$.name"]


def test_grapheme_limits_count_what_a_reader_sees() -> None:
    assert grapheme_count("e\u0301") == 1  # e + combining acute
    assert grapheme_count("👩‍🔬") == 1  # ZWJ sequence
    assert grapheme_count("🇫🇷🇩🇪") == 2  # two flags
    assert grapheme_count("abc") == 3


def test_a_record_must_name_its_own_type() -> None:
    record = schema_record()
    del record["$type"]
    assert paths(validate_record(SCHEMA, record)) == ["$.$type"]


def test_assert_valid_record_raises_one_error_listing_every_problem() -> None:
    record = schema_record()
    del record["name"]
    record["version"] = None
    with pytest.raises(RecordValidationError) as info:
        assert_valid_record(SCHEMA, record)
    assert paths(info.value.problems) == ["$.name", "$.version"]
    assert "$.name: required property is missing" in str(info.value)


def test_open_unions_accept_unknown_types_and_closed_ones_refuse_them() -> None:
    doc = {
        "lexicon": 1,
        "id": "com.example.u",
        "defs": {
            "main": {
                "type": "object",
                "properties": {
                    "open": {"type": "union", "refs": ["#a"]},
                    "closed": {"type": "union", "refs": ["#a"], "closed": True},
                },
            },
            "a": {"type": "object", "properties": {}},
        },
    }
    lex = Lexicons([doc])
    value = {"open": {"$type": "com.example.other"}, "closed": {"$type": "com.example.other"}}
    assert paths(lex.validate_object("com.example.u", value)) == ["$.closed.$type"]


def test_a_union_member_may_be_named_with_or_without_main() -> None:
    record = copy.deepcopy(schema_record())
    record["fields"][0]["type"]["$type"] = "dev.atdata.defs#literalType"
    assert validate_record(SCHEMA, record) == []


def test_parse_params_types_query_strings_and_applies_defaults() -> None:
    params = parse_params(
        FIND_LENS_PATH,
        {
            "source": ["at://did:plc:abc/dev.atdata.schema/A:1.0.0"],
            "target": ["at://did:plc:abc/dev.atdata.schema/B:1.0.0"],
            "trusted": ["did:plc:one", "did:plc:two"],
        },
    )
    assert params["maxHops"] == 8
    assert params["trusted"] == ["did:plc:one", "did:plc:two"]
    assert parse_params(LIST_DATASETS, {"convertible": ["true"]})["convertible"] is True


def test_parse_params_reports_every_bad_parameter() -> None:
    with pytest.raises(RecordValidationError) as info:
        parse_params(SEARCH_SCHEMAS, {"q": ["a", "b"], "limit": ["ten"], "colour": ["red"]})
    assert paths(info.value.problems) == ["$.q", "$.limit", "$.colour"]


def test_unknown_nsids_are_a_lookup_error_not_a_validation_result() -> None:
    with pytest.raises(LookupError):
        validate_record("dev.atdata.nothing", {})
    with pytest.raises(LookupError):
        validate_params(SCHEMA, {})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.data(), json_values)
def test_any_corruption_of_a_record_gives_problems_never_an_exception(data: st.DataObject, junk: Any) -> None:
    nsid, make = data.draw(st.sampled_from(sorted(VALID_RECORDS.values(), key=lambda v: v[1].__name__)))
    record = make()
    spots: list[tuple[Any, Any]] = []

    def collect(node: Any) -> None:
        keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
        for k in keys:
            spots.append((node, k))
            collect(node[k])

    collect(record)
    parent, key = data.draw(st.sampled_from(spots))
    parent[key] = junk
    problems = validate_record(nsid, record)
    assert all(p.path.startswith("$") and p.message for p in problems)


def test_a_deeply_nested_record_gets_one_problem_instead_of_a_crash() -> None:
    record = schema_record()
    deep: dict[str, Any] = {}
    for _ in range(5000):
        deep = {"x": [deep]}
    record["extra"] = deep
    problems = validate_record(SCHEMA, record)
    assert [(p.path, p.message) for p in problems] == [("$", "nests deeper than 64 levels")]
