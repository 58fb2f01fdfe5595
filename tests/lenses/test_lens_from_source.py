"""Lenses from published code: run through the sandbox inline or in a worker process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lens_types import BathApplicationFrame, Frame, Thumbnail, bath_application, frame, thumbnail

import atdata
from atdata.errors import LensError, LensExecutionError, LensValidationError
from atdata.lenses.extract import extract_source

THUMBNAIL_CODE = """
import numpy as np

def get(s):
    return {"compound": s.applied_compound, "pixels": np.ascontiguousarray(s.image[::2, ::2])}
"""


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_published_code_gets_the_same_view_as_the_function_it_came_from(isolation: str) -> None:
    with atdata.Lens.from_source(
        extract_source(bath_application), source=Frame, target=BathApplicationFrame, isolation=isolation
    ) as published:
        assert published(frame(2)) == bath_application(frame(2))
        assert published.get_many([frame(i) for i in range(5)]) == [
            bath_application(frame(i)) for i in range(5)
        ]


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_published_code_puts_back_through_its_put_function(isolation: str) -> None:
    with atdata.Lens.from_source(
        extract_source(bath_application), source=Frame, target=BathApplicationFrame, isolation=isolation
    ) as published:
        view = bath_application(frame(2))
        view.t = 42.0
        assert published.put(view, frame(2)) == bath_application.put(view, frame(2))


def test_a_chain_may_mix_native_and_published_lenses() -> None:
    code_thumb = atdata.Lens.from_source(THUMBNAIL_CODE, source=BathApplicationFrame, target=Thumbnail)
    mixed = bath_application | code_thumb
    assert mixed.get_many([frame(1), frame(2)]) == [thumbnail(bath_application(frame(i))) for i in (1, 2)]


def test_code_outside_the_dialect_is_refused_when_the_lens_is_made() -> None:
    with pytest.raises(LensValidationError) as info:
        atdata.Lens.from_source(
            "def get(s):\n    return open('/etc/passwd').read()\n", source=Frame, target=BathApplicationFrame
        )
    assert info.value.violations[0].line == 2


def test_code_without_a_get_function_is_refused() -> None:
    with pytest.raises((LensError, LensValidationError)):
        atdata.Lens.from_source("def put(view, source):\n    return source\n", source=Frame, target=Frame)


def test_an_unknown_isolation_is_refused() -> None:
    with pytest.raises(LensError, match="isolation"):
        atdata.Lens.from_source(
            THUMBNAIL_CODE, source=BathApplicationFrame, target=Thumbnail, isolation="docker"
        )  # type: ignore[arg-type]


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_code_that_raises_names_the_lens_and_the_sample_key(isolation: str) -> None:
    code = "def get(s):\n    return {'compound': s.applied_compound, 'pixels': s.image[s.t_index + 99]}\n"
    with atdata.Lens.from_source(
        code, source=BathApplicationFrame, target=Thumbnail, isolation=isolation, name="thumb_v2"
    ) as lens:
        with pytest.raises(LensExecutionError) as info:
            lens.get_many([bath_application(frame(0))], ["clip/17"])
        assert (info.value.lens, info.value.key) == ("thumb_v2", "clip/17")
        assert "IndexError" in info.value.reason


def test_output_that_does_not_fit_the_target_type_names_the_field() -> None:
    code = "def get(s):\n    return {'compound': 3, 'pixels': s.image}\n"
    lens = atdata.Lens.from_source(code, source=BathApplicationFrame, target=Thumbnail)
    with pytest.raises(LensExecutionError, match="compound"):
        lens.get(bath_application(frame(0)), key="k1")


def test_as_type_runs_a_process_chain_over_shards(tmp_path: Path) -> None:
    with atdata.ShardWriter(str(tmp_path / "f-%06d.tar"), maxcount=100) as sink:
        for i in range(9):
            sink.write(frame(i))
    ds = atdata.Dataset[Frame](str(tmp_path / "f-000000.tar"))
    with atdata.Lens.from_source(
        extract_source(bath_application), source=Frame, target=BathApplicationFrame, isolation="process"
    ) | atdata.Lens.from_source(
        THUMBNAIL_CODE, source=BathApplicationFrame, target=Thumbnail, isolation="process"
    ) as chain:
        batch = next(iter(ds.as_type(Thumbnail, lens=chain).ordered(batch_size=9)))
    assert batch.pixels.shape == (9, 2, 2)
    assert np.array_equal(batch.pixels[4], frame(4).image[::2, ::2])


def test_a_lens_that_has_run_in_a_worker_pickles_without_it_and_runs_again() -> None:
    import pickle

    lens = atdata.Lens.from_source(
        THUMBNAIL_CODE, source=BathApplicationFrame, target=Thumbnail, isolation="process"
    )
    view = bath_application(frame(1))
    first = lens(view)
    copy = pickle.loads(pickle.dumps(lens))
    lens.close()
    assert copy(view) == first
    copy.close()


def test_a_large_batch_split_between_workers_keeps_sample_order_and_failing_keys() -> None:
    code = (
        "def get(s):\n"
        "    if s.t_index > 500:\n"
        "        raise ValueError('too late')\n"
        "    return {'compound': s.applied_compound, 'pixels': s.image}\n"
    )
    views = [bath_application(frame(i)) for i in range(40)]
    with atdata.Lens.from_source(
        code, source=BathApplicationFrame, target=Thumbnail, isolation="process"
    ) as lens:
        out = lens.get_many(views, [f"k{i}" for i in range(40)])
        assert [float(t.pixels[0, 0]) for t in out] == [float(i) for i in range(40)]
        views[33] = bath_application(frame(700))
        with pytest.raises(LensExecutionError) as info:
            lens.get_many(views, [f"k{i}" for i in range(40)])
        assert info.value.key == "k33"
