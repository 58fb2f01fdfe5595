"""How preview_samples summarizes samples: arrays by shape, dtype and statistics, nesting flattened.

Read from real shards on disk, through ``Dataset`` and (for the coerced case) ``as_type`` with the
catalog's lenses, the way the tool reads them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import atdata
from atdata.catalog import BathApplicationFrame, Frame, catalog_registry
from atdata.catalog.examples import bath_application_frames
from atdata.mcp.models import FieldValue
from atdata.mcp.tools import summarize_sample

CATALOG = catalog_registry()
"""The catalog's lenses: importing atdata.catalog registers none globally."""


@atdata.packable
class Stimulus:
    name: str
    contrast: float


@atdata.packable
class Trial:
    stimulus: Stimulus
    responses: list[float]
    raw: bytes
    note: str | None = None


def by_name(fields: list[FieldValue]) -> dict[str, FieldValue]:
    return {f.name: f for f in fields}


@pytest.fixture
def frames(tmp_path: Path) -> atdata.Dataset[Frame]:
    with atdata.ShardWriter(str(tmp_path / "frames-%04d.tar"), maxcount=100) as sink:
        for i, f in enumerate(bath_application_frames(movies=1, frames_per_movie=3, size=4)):
            sink.write(f, key=f"f{i}")
    return atdata.Dataset[Frame](str(tmp_path / "frames-0000.tar"))


def test_an_array_is_summarized_by_shape_dtype_and_statistics(frames: atdata.Dataset[Frame]) -> None:
    first = next(iter(frames.ordered()))
    image = by_name(summarize_sample(first))["image"]
    assert (image.kind, image.dtype, image.shape) == ("ndarray", "uint16", [4, 4])  # 2-D, as toile exports
    assert f"min={first.image.min()}" in image.value and f"max={first.image.max()}" in image.value
    assert "mean=" in image.value


def test_a_json_field_is_shown_as_sorted_json(frames: atdata.Dataset[Frame]) -> None:
    metadata = by_name(summarize_sample(next(iter(frames.ordered()))))["metadata"]
    assert metadata.kind == "dict"
    assert metadata.value.startswith('{"_source_filename": ')


def test_samples_read_through_a_lens_are_summarized_as_the_target_type(
    frames: atdata.Dataset[Frame],
) -> None:
    coerced = next(iter(frames.as_type(BathApplicationFrame, lenses=CATALOG).ordered()))
    fields = by_name(summarize_sample(coerced))
    assert fields["applied_compound"].value == "'baclofen'"
    assert (fields["t"].kind, fields["t"].value) == ("float", "0.0")
    assert fields["image"].shape == [4, 4]


def test_nested_samples_are_flattened_to_dotted_names() -> None:
    trial = Trial(stimulus=Stimulus(name="grating", contrast=0.8), responses=[1.0], raw=b"")
    assert [f.name for f in summarize_sample(trial)] == [
        "stimulus.name",
        "stimulus.contrast",
        "responses",
        "raw",
        "note",
    ]


def test_lists_bytes_and_none_say_their_kind_and_size() -> None:
    trial = Trial(stimulus=Stimulus(name="x", contrast=1.0), responses=[0.5] * 12, raw=b"\x00\xff")
    fields = by_name(summarize_sample(trial))
    assert (fields["responses"].kind, fields["responses"].shape) == ("list", [12])
    assert fields["responses"].value.endswith("(12 items)]")
    assert (fields["raw"].kind, fields["raw"].value) == ("bytes", "2 bytes: 00ff")
    assert (fields["note"].kind, fields["note"].value) == ("none", "None")


def test_long_values_are_clipped() -> None:
    trial = Trial(stimulus=Stimulus(name="n" * 1000, contrast=1.0), responses=[], raw=b"")
    name = by_name(summarize_sample(trial))["stimulus.name"]
    assert len(name.value) == 200 and name.value.endswith("...")


@atdata.packable
class Embedding:
    vector: NDArray[np.float32]


def test_float_statistics_are_shown_with_six_significant_digits() -> None:
    e = Embedding(vector=np.array([1 / 3, 2 / 3, 1.0], dtype=np.float32))
    assert by_name(summarize_sample(e))["vector"].value == (
        "min=0.333333, max=1, mean=0.666667; first [0.333333, 0.666667, 1]"
    )
