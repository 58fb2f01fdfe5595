"""Lenses made from Python functions: get, put, composition, identity and failures."""

from __future__ import annotations

import numpy as np
import pytest
from lens_types import BathApplicationFrame, Frame, Thumbnail, bath_application, frame, thumbnail

import atdata
from atdata.errors import LensCompositionError, LensError, LensExecutionError


@atdata.packable
class Celsius:
    degrees: float


@atdata.packable
class Kelvin:
    kelvin: float


def test_a_decorated_function_is_a_lens_between_its_annotated_types() -> None:
    assert isinstance(bath_application, atdata.Lens)
    assert (bath_application.source, bath_application.target) == (Frame, BathApplicationFrame)


def test_calling_a_lens_gets_the_view() -> None:
    view = bath_application(frame(3))
    assert view == BathApplicationFrame(
        applied_compound="baclofen", image=frame(3).image, t_index=3, t=1.5, movie_uuid="m-3"
    )
    assert bath_application.get(frame(3)) == view


def test_put_writes_a_changed_view_back_into_the_source() -> None:
    source = frame(2)
    view = bath_application(source)
    view.t = 9.0
    updated = bath_application.put(view, source)
    assert updated.metadata["frame"]["t"] == 9.0
    assert updated.metadata["_source_filename"] == source.metadata["_source_filename"]


def test_composition_applies_the_left_lens_first() -> None:
    chain = bath_application | thumbnail
    thumb = chain(frame(1))
    assert (chain.source, chain.target) == (Frame, Thumbnail)
    assert thumb.compound == "baclofen"
    assert np.array_equal(thumb.pixels, frame(1).image[::2, ::2])


def test_composing_lenses_whose_types_do_not_meet_is_refused() -> None:
    with pytest.raises(LensCompositionError, match="Thumbnail is not Frame"):
        thumbnail | bath_application  # type: ignore[operator]


def test_identity_returns_an_equal_sample_and_is_the_unit_of_composition() -> None:
    ident = atdata.Lens.identity(Frame)
    assert ident(frame(4)) == frame(4)
    assert (ident | bath_application)(frame(4)) == bath_application(frame(4))
    assert (bath_application | atdata.Lens.identity(BathApplicationFrame))(frame(4)) == bath_application(
        frame(4)
    )


def test_put_through_a_composition_puts_back_through_each_lens() -> None:
    to_k = atdata.lens(register=False)(_to_kelvin)
    to_k.putter(_from_kelvin)
    back = atdata.lens(register=False)(_to_celsius)
    back.putter(_from_celsius)
    round_trip = to_k | back
    assert round_trip(Celsius(degrees=20.0)) == Celsius(degrees=20.0)
    assert round_trip.put(Celsius(degrees=30.0), Celsius(degrees=20.0)) == Celsius(degrees=30.0)


def _to_kelvin(c: Celsius) -> Kelvin:
    return Kelvin(kelvin=c.degrees + 273.0)


def _from_kelvin(k: Kelvin, c: Celsius) -> Celsius:
    return Celsius(degrees=k.kelvin - 273.0)


def _to_celsius(k: Kelvin) -> Celsius:
    return Celsius(degrees=k.kelvin - 273.0)


def _from_celsius(c: Celsius, k: Kelvin) -> Kelvin:
    return Kelvin(kelvin=c.degrees + 273.0)


def test_put_without_a_putter_says_which_lens_lacks_one() -> None:
    with pytest.raises(LensError, match="thumbnail has no putter"):
        thumbnail.put(Thumbnail(compound="x", pixels=np.zeros(1)), bath_application(frame()))


def test_a_failing_getter_is_reported_with_lens_name_and_sample_key() -> None:
    broken = Frame(image=np.zeros(2), metadata={})
    with pytest.raises(LensExecutionError) as info:
        bath_application.get_many([frame(), broken], ["ok-0", "bad-1"])
    assert info.value.lens == "bath_application"
    assert info.value.key == "bad-1"
    assert "KeyError" in info.value.reason


def test_a_getter_returning_a_dict_of_target_fields_is_validated_into_the_target() -> None:
    as_dict = atdata.lens(source=Celsius, target=Kelvin, register=False, publishable=False)(
        lambda c: {"kelvin": c.degrees + 273}
    )
    assert as_dict(Celsius(degrees=1.0)) == Kelvin(kelvin=274.0)


def test_a_getter_returning_invalid_fields_names_the_field_and_the_key() -> None:
    def to_kelvin_badly(c: Celsius) -> Kelvin:
        return {"kelvin": "hot"}  # type: ignore[return-value]

    bad = atdata.lens(register=False)(to_kelvin_badly)
    with pytest.raises(LensExecutionError, match="kelvin") as info:
        bad.get(Celsius(degrees=1.0), key="k-7")
    assert info.value.key == "k-7"


def test_a_function_without_type_annotations_is_refused_with_a_hint() -> None:
    with pytest.raises(LensCompositionError, match="annotate"):
        atdata.lens(register=False, publishable=False)(lambda s: s)


def test_annotations_that_are_not_sample_types_are_refused() -> None:
    def f(x: int) -> Kelvin:
        return Kelvin(kelvin=float(x))

    with pytest.raises(LensCompositionError, match=r"not an @atdata\.packable"):
        atdata.lens(register=False)(f)


def test_a_sample_of_another_type_is_refused_before_the_lens_runs() -> None:
    with pytest.raises(LensCompositionError, match="reads Frame, got Thumbnail"):
        bath_application.get(Thumbnail(compound="x", pixels=np.zeros(1)))  # type: ignore[arg-type]
