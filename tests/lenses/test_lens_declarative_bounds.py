"""Declarative lenses are bounded like code: dtypes, output sizes and the nesting of constants are
checked before anything is allocated (issue 13: a dtypeCast turned 48 bytes into 1.79 GiB)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from atdata.errors import LensValidationError
from atdata.lenses.declarative import MAX_ARRAY_BYTES, MAX_VALUE_DEPTH, OpError, Ops


@pytest.mark.parametrize("dtype", ["(20000000,)f8", "V100000000", "U100000000", "S100000000", "O", "M8[s]"])
def test_a_dtype_cast_to_anything_but_a_plain_numeric_dtype_is_refused_when_parsed(dtype: str) -> None:
    with pytest.raises(LensValidationError, match="not a plain numeric dtype"):
        Ops.parse([{"op": "dtypeCast", "field": "image", "dtype": dtype}])


def test_a_dtype_cast_whose_output_would_pass_the_limit_is_refused_before_allocating() -> None:
    huge = np.broadcast_to(np.zeros(1, np.uint8), (MAX_ARRAY_BYTES // 4,))  # one byte of real memory
    ops = Ops.parse([{"op": "dtypeCast", "field": "image", "dtype": "float64"}])
    with pytest.raises(OpError, match="the limit is"):
        ops.get({"image": huge})


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [MAX_VALUE_DEPTH + 1, 100_000])
def test_a_deeply_nested_constant_is_refused_by_name_not_by_recursion_error(depth: int) -> None:
    with pytest.raises(LensValidationError, match="nests more than"):
        Ops.parse([{"op": "add", "field": "extra", "value": nested(depth)}])


def test_a_deeply_nested_constant_in_a_lens_record_is_refused_before_it_is_decoded() -> None:
    value: Any = {"integer": 1}
    for _ in range(100_000):
        value = {"array": [value]}
    with pytest.raises(LensValidationError, match="nests more than"):
        Ops.from_record([{"$type": "dev.atdata.lens#add", "field": "extra", "value": value}])


def test_a_constant_with_too_many_items_is_refused() -> None:
    with pytest.raises(LensValidationError, match="more than"):
        Ops.parse([{"op": "add", "field": "extra", "value": list(range(20_000))}])


def test_a_small_nested_constant_still_works() -> None:
    ops = Ops.parse([{"op": "add", "field": "extra", "value": {"a": [1, 2, {"b": "c"}]}}])
    assert ops.get({"x": 1}) == {"x": 1, "extra": {"a": [1, 2, {"b": "c"}]}}
