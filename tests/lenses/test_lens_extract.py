"""Extraction: ``@atdata.lens`` functions become publishable lens modules, or fail where written."""

from __future__ import annotations

import inspect
from math import sqrt
from pathlib import Path

import numpy as np
import pytest
from lens_types import BathApplicationFrame, Frame, bath_application, frame, thumbnail

import atdata
from atdata.errors import LensError, LensValidationError
from atdata.lenses.extract import extract_source


@atdata.packable
class Reading:
    code: str
    value: float


@atdata.packable
class Labelled:
    label: str
    value: float


LABELS = {"a": "alpha", "b": "beta"}
SCALE = 2.5
OUTPUT_DIR = Path("/tmp")


def _label_for(code: str) -> str:
    return LABELS.get(code, "unknown")


def test_the_extracted_module_defines_get_and_put_without_decorators_or_annotations() -> None:
    code = extract_source(bath_application)
    assert "def get(s):" in code
    assert "def put(view, source):" in code
    assert "@" not in code and "-> " not in code


def test_extracted_code_run_in_the_sandbox_gives_what_the_function_gives() -> None:
    code = extract_source(bath_application)
    published = atdata.Lens.from_source(code, source=Frame, target=BathApplicationFrame)
    assert published(frame(5)) == bath_application(frame(5))
    assert published.put(bath_application(frame(5)), frame(5)) == bath_application.put(
        bath_application(frame(5)), frame(5)
    )


def test_constants_and_helper_functions_travel_with_the_lens() -> None:
    def relabel(r: Reading) -> Labelled:
        return Labelled(label=_label_for(r.code), value=r.value * SCALE)

    lens = atdata.lens(register=False)(relabel)
    code = extract_source(lens)
    assert "SCALE = 2.5" in code and "def _label_for(code):" in code
    published = atdata.Lens.from_source(code, source=Reading, target=Labelled)
    assert published(Reading(code="b", value=2.0)) == Labelled(label="beta", value=5.0)


def test_a_publishable_lens_outside_the_dialect_fails_at_decoration_pointing_at_its_line() -> None:
    def leaky(r: Reading) -> Labelled:
        with open("/tmp/x", "w") as fh:
            fh.write("leak")
        return Labelled(label=r.code, value=r.value)

    lines, first = inspect.getsourcelines(leaky)
    open_line = first + next(i for i, line in enumerate(lines) if "open(" in line)
    with pytest.raises(LensValidationError) as info:
        atdata.lens(register=False, publishable=True)(leaky)
    assert info.value.where == __file__
    assert any(v.line == open_line and "open" in v.reason for v in info.value.violations)


def test_a_global_that_is_not_a_plain_constant_is_refused_by_name() -> None:
    def writes(r: Reading) -> Labelled:
        return Labelled(label=str(OUTPUT_DIR), value=r.value)

    with pytest.raises(LensValidationError, match="'OUTPUT_DIR' is a PosixPath"):
        extract_source(atdata.lens(register=False)(writes))


def test_the_same_function_can_still_run_locally_when_not_publishable() -> None:
    def writes(r: Reading) -> Labelled:
        return Labelled(label=str(OUTPUT_DIR), value=r.value)

    lens = atdata.lens(register=False, publishable=False)(writes)
    assert lens(Reading(code="a", value=1.0)).label == "/tmp"


def test_a_putter_outside_the_dialect_is_refused_and_not_attached() -> None:
    def relabel(r: Reading) -> Labelled:
        return Labelled(label=r.code, value=r.value)

    def relabel_put(v: Labelled, r: Reading) -> Reading:
        return Reading(code=v.label.__class__.__name__, value=v.value)

    lens = atdata.lens(register=False, publishable=True)(relabel)
    with pytest.raises(LensValidationError):
        lens.putter(relabel_put)
    assert not lens.has_put


def test_compositions_and_declarative_lenses_are_not_python_modules() -> None:
    with pytest.raises(LensError, match="composition"):
        extract_source(bath_application | thumbnail)
    ops = atdata.Lens.from_ops(
        [{"op": "rename", "from": "code", "to": "label"}], source=Reading, target=Labelled
    )
    with pytest.raises(LensError, match="declarative"):
        extract_source(ops)


def test_numpy_used_by_the_lens_is_imported_in_the_module() -> None:
    def brighten(f: Frame) -> Frame:
        return Frame(image=np.clip(f.image * 2.0, 0.0, 10.0), metadata=f.metadata)

    code = extract_source(atdata.lens(register=False)(brighten))
    assert "import numpy as np" in code


def test_a_function_imported_from_math_by_name_gets_a_hint_to_use_the_module() -> None:
    def root(r: Reading) -> Labelled:
        return Labelled(label=r.code, value=sqrt(r.value))

    with pytest.raises(LensValidationError, match=r"write math\.sqrt instead"):
        extract_source(atdata.lens(register=False)(root))
