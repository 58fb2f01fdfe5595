"""``Dataset.as_type``: reading shards as another type through registered lenses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lens_types import BathApplicationFrame, Frame, Thumbnail, bath_application, frame

import atdata
from atdata.errors import LensCompositionError, LensExecutionError, LensPathError
from atdata.lenses import LensRegistry, default_registry


@atdata.packable
class Unrelated:
    x: int


@pytest.fixture
def frames(tmp_path: Path) -> atdata.Dataset[Frame]:
    with atdata.ShardWriter(str(tmp_path / "frames-%06d.tar"), maxcount=5) as sink:
        for i in range(12):
            sink.write(frame(i, "tacpd_run.tif" if i % 2 else "baclofen_run.tif"), key=f"f{i:03d}")
    return atdata.Dataset[Frame](str(tmp_path / "frames-{000000..000002}.tar"))


def test_as_type_reads_every_sample_through_a_direct_lens(frames: atdata.Dataset[Frame]) -> None:
    views = list(frames.as_type(BathApplicationFrame).ordered())
    assert [v.t_index for v in views] == list(range(12))
    assert [v.applied_compound for v in views[:2]] == ["baclofen", "tacpd"]
    assert all(type(v) is BathApplicationFrame for v in views)


def test_as_type_follows_a_multi_hop_path_through_the_registry(frames: atdata.Dataset[Frame]) -> None:
    thumbs = list(frames.as_type(Thumbnail).ordered())
    assert len(thumbs) == 12
    assert np.array_equal(thumbs[3].pixels, frame(3).image[::2, ::2])


def test_batches_of_the_new_type_stack_its_arrays(frames: atdata.Dataset[Frame]) -> None:
    batches = list(frames.as_type(Thumbnail).ordered(batch_size=5))
    assert [len(b) for b in batches] == [5, 5, 2]
    assert batches[0].pixels.shape == (5, 2, 2)
    assert batches[0].compound == ["baclofen", "tacpd", "baclofen", "tacpd", "baclofen"]


def test_as_type_keeps_the_length_known_from_the_shards(frames: atdata.Dataset[Frame]) -> None:
    assert len(frames.as_type(BathApplicationFrame)) == 12


def test_as_type_to_the_same_type_is_the_dataset_itself(frames: atdata.Dataset[Frame]) -> None:
    assert frames.as_type(Frame) is frames


def test_a_type_no_lens_reaches_raises_a_path_error_listing_what_is_reachable(
    frames: atdata.Dataset[Frame],
) -> None:
    with pytest.raises(LensPathError) as info:
        frames.as_type(Unrelated)
    assert any("BathApplicationFrame" in r for r in info.value.reachable)


def test_an_explicit_lens_overrides_the_registry(frames: atdata.Dataset[Frame]) -> None:
    other = atdata.Lens.native(
        lambda s: BathApplicationFrame(applied_compound="unknown", image=s.image, t_index=-1, t=0.0),
        source=Frame,
        target=BathApplicationFrame,
    )
    views = list(frames.as_type(BathApplicationFrame, lens=other).ordered())
    assert {v.t_index for v in views} == {-1}


def test_an_explicit_lens_of_other_types_is_refused(frames: atdata.Dataset[Frame]) -> None:
    with pytest.raises(LensCompositionError):
        frames.as_type(Thumbnail, lens=bath_application)


def test_a_sample_the_lens_cannot_read_fails_naming_its_key(tmp_path: Path) -> None:
    with atdata.ShardWriter(str(tmp_path / "bad-%06d.tar"), maxcount=10) as sink:
        sink.write(frame(0), key="good")
        sink.write(Frame(image=np.zeros(1), metadata={}), key="no-frame-info")
    ds = atdata.Dataset[Frame](str(tmp_path / "bad-000000.tar"))
    with pytest.raises(LensExecutionError) as info:
        list(ds.as_type(BathApplicationFrame))
    assert info.value.key == "no-frame-info"


def test_a_separate_registry_only_knows_its_own_lenses(frames: atdata.Dataset[Frame]) -> None:
    own = LensRegistry()
    with pytest.raises(LensPathError):
        frames.as_type(BathApplicationFrame, lenses=own)
    own.register(bath_application)
    assert len(list(frames.as_type(BathApplicationFrame, lenses=own))) == 12
    assert default_registry.get(Frame, BathApplicationFrame) is bath_application
