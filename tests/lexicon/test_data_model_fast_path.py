"""The validator's one-pass data-model check (the ingest's common case) says "no problems" exactly
when the reporting walk finds none, on generated values of every kind the walk distinguishes."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from atdata.lexicon.validator import (
    _INT64_MAX,
    _INT64_MIN,
    _ROOT,
    MAX_DEPTH,
    _plain_data,
    _walk_data_model,
    data_model_problems,
    nesting_depth,
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.integers(min_value=_INT64_MIN - 2, max_value=_INT64_MAX + 2),
    st.sampled_from([_INT64_MIN, _INT64_MAX, _INT64_MIN - 1, _INT64_MAX + 1, 2**70]),
    st.floats(allow_nan=False),
    st.just(object()),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=3), inner, max_size=4),
        st.dictionaries(st.one_of(st.integers(), st.text(max_size=2)), inner, max_size=3),
        st.tuples(inner),
    ),
    max_leaves=30,
)


def reference_clean(value: Any) -> bool:
    if nesting_depth(value) > MAX_DEPTH:
        return False
    found: list[Any] = []
    _walk_data_model(value, _ROOT, found)
    return not found


def nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


@settings(max_examples=400, deadline=None)
@given(values)
def test_the_one_pass_check_agrees_with_the_reporting_walk(value: Any) -> None:
    assert _plain_data(value, 0) == reference_clean(value)
    assert (data_model_problems(value) == []) == reference_clean(value)


@given(st.integers(min_value=MAX_DEPTH - 3, max_value=MAX_DEPTH + 3), st.sampled_from([1, "s", [], {}]))
def test_the_depth_limit_is_the_same_at_its_edge(depth: int, leaf: Any) -> None:
    value = nested(depth, leaf)
    assert _plain_data(value, 0) == reference_clean(value)


def test_a_value_far_too_deep_is_refused_without_exhausting_the_stack() -> None:
    problems = data_model_problems(nested(100_000, 1))
    assert [p.message for p in problems] == [f"nests deeper than {MAX_DEPTH} levels"]
