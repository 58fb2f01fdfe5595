"""Lens laws checked on samples generated from the source type."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import pytest
from hypothesis import given, settings
from numpy.typing import NDArray

import atdata
from atdata.errors import LensError
from atdata.lenses.laws import check_laws, strategy_for
from atdata.types.fields import Array


@atdata.packable
class Inner:
    label: Literal["a", "b"]
    weights: list[float]


@atdata.packable
class Everything:
    name: str
    count: int
    ratio: float
    flag: bool
    blob: bytes
    image: Annotated[NDArray, Array("uint16", (2, None))] | None = None
    meta: dict[str, Any] | None = None
    inner: Inner | None = None


@atdata.packable
class Celsius:
    degrees: float
    station: str


@atdata.packable
class Fahrenheit:
    fahrenheit: float
    station: str


@atdata.packable
class Pixels:
    image: NDArray


def test_generated_samples_are_valid_instances_of_every_field_kind() -> None:
    @settings(max_examples=30, deadline=None)
    @given(strategy_for(Everything))
    def check(sample: Everything) -> None:
        assert type(sample) is Everything
        assert sample.image is None or (sample.image.dtype == np.uint16 and sample.image.shape[0] == 2)

    check()


def test_a_declarative_lens_passes_both_laws() -> None:
    lens = atdata.Lens.from_ops(
        [{"op": "rename", "from": "degrees", "to": "fahrenheit"}], source=Celsius, target=Fahrenheit
    )
    report = check_laws(lens, max_examples=30)
    assert report.ok, str(report)
    assert [r.law for r in report.results] == ["GetPut", "PutGet"]


def test_a_putter_that_forgets_a_field_fails_getput_with_a_counterexample() -> None:
    def to_f(c: Celsius) -> Fahrenheit:
        return Fahrenheit(fahrenheit=c.degrees * 9 / 5 + 32, station=c.station)

    def from_f(f: Fahrenheit, c: Celsius) -> Celsius:
        return Celsius(degrees=(f.fahrenheit - 32) * 5 / 9, station="unknown")

    lens = atdata.lens(register=False, publishable=False)(to_f)
    lens.putter(from_f)
    report = check_laws(lens, max_examples=30)
    getput = report.results[0]
    assert getput.status == "failed"
    assert "field 'station': expected" in getput.detail
    assert "put(get(s), s) != s" in str(report)


def test_a_lens_whose_get_fails_on_every_sample_is_inconclusive_not_passed() -> None:
    def strict(p: Pixels) -> Pixels:
        raise ValueError("never applies")

    lens = atdata.lens(register=False, publishable=False)(strict)
    lens.putter(lambda v, s: s)
    report = check_laws(lens, max_examples=10)
    assert {r.status for r in report.results} == {"inconclusive"}
    assert "never applies" in report.results[0].detail


def test_a_lens_without_a_putter_has_no_laws_to_check() -> None:
    lens = atdata.lens(source=Pixels, target=Pixels, register=False, publishable=False)(lambda p: p)
    with pytest.raises(LensError, match="no putter"):
        check_laws(lens)


def test_given_samples_reach_a_lens_that_needs_structure_inside_json() -> None:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
    from lens_types import Frame, bath_application

    frames = st.builds(
        Frame,
        image=hnp.arrays(np.float32, (2, 2), elements=st.floats(0, 1, width=32)),
        metadata=st.fixed_dictionaries(
            {
                "_source_filename": st.sampled_from(["a_baclofen.tif", "b_tacpd.tif", "c.tif"]),
                "frame": st.fixed_dictionaries({"t_index": st.integers(0, 99), "t": st.floats(0, 99)}),
            }
        ),
    )
    report = check_laws(bath_application, max_examples=30, samples=frames)
    getput, putget = report.results
    assert getput.status == "passed", str(report)
    # The putter cannot write the compound back into the file name, and the laws say so.
    assert putget.status == "failed" and "field 'applied_compound'" in putget.detail
