"""Paths through the catalog: the demo's three hops, and shards of one system read as another's type."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalog_samples import abo_trace, astro_frame

import atdata
from atdata.catalog import (
    CATALOG_LENSES,
    SHORTCUT_LENSES,
    AstroCastEvent,
    BathApplicationFrame,
    BrainObservatoryCellTrace,
    Frame,
    catalog_registry,
)
from atdata.catalog.openastrocytes import frame_to_bath_application
from atdata.lenses import LensEdge, LensFilter, LensGraph

CATALOG = catalog_registry()
"""The catalog's lenses: importing atdata.catalog registers none globally."""

ALICE, MALLORY = "did:plc:alice", "did:plc:mallory"


def demo_graph() -> LensGraph:
    """The demo's network: the catalog minus shortcuts from a trusted author, the direct lens from another."""
    edges = [
        LensEdge(lens.name, lens.source.__name__, lens.target.__name__, author=ALICE)
        for lens in CATALOG_LENSES
        if lens not in SHORTCUT_LENSES
    ]
    edges.append(LensEdge("direct", "Frame", "BathApplicationFrame", author=MALLORY))
    return LensGraph(edges)


def test_with_the_trusted_author_the_path_to_bath_application_frames_is_three_hops() -> None:
    path = demo_graph().path("Frame", "BathApplicationFrame", LensFilter(authors=frozenset({ALICE})))
    assert [e.cid for e in path] == [
        "frame_to_imaging_frame",
        "imaging_to_recording_frame",
        "recording_to_bath_application",
    ]


def test_trusting_nobody_in_particular_takes_the_untrusted_shortcut() -> None:
    path = demo_graph().path("Frame", "BathApplicationFrame")
    assert [(e.cid, e.author) for e in path] == [("direct", MALLORY)]


def test_the_local_registry_without_shortcuts_composes_three_lenses() -> None:
    lens = catalog_registry(shortcuts=False).path(Frame, BathApplicationFrame)
    assert lens.steps == 3


def test_the_local_registry_prefers_the_shortcut_when_it_has_one() -> None:
    assert catalog_registry().path(Frame, BathApplicationFrame).steps == 1


def test_brain_observatory_traces_reach_astrocast_rows_in_three_hops() -> None:
    lens = catalog_registry().path(BrainObservatoryCellTrace, AstroCastEvent)
    assert lens.name.split(" | ") == [
        "observatory_to_cell_trace",
        "cell_trace_to_largest_transient",
        "calcium_event_to_astrocast",
    ]


@pytest.fixture
def observatory_shards(tmp_path: Path) -> tuple[str, list[BrainObservatoryCellTrace]]:
    cells = [abo_trace(517474020 + i, peak_at=40 + 25 * i, seed=i) for i in range(6)]
    with atdata.ShardWriter(str(tmp_path / "abo-%06d.tar"), maxcount=4) as sink:
        for cell in cells:
            sink.write(cell)
    return str(tmp_path / "abo-{000000..000001}.tar"), cells


def test_brain_observatory_shards_read_as_astrocast_event_rows(observatory_shards) -> None:
    url, cells = observatory_shards
    ds = atdata.Dataset[BrainObservatoryCellTrace](url)
    events = list(ds.as_type(AstroCastEvent, lenses=CATALOG).ordered())
    assert [e.event_id for e in events] == [f"{c.cell_specimen_id}/peak" for c in cells]
    for i, event in enumerate(events):
        assert isinstance(event, AstroCastEvent)
        assert event.z0 <= 40 + 25 * i < event.z1
        assert event.v_max_height == pytest.approx(float(event.trace.max() - event.trace.min()))
        assert event.t0 == pytest.approx(9.0 + event.z0 / 30.0)
        assert event.group == "Rorb-IRES2-Cre"


def test_coerced_observatory_shards_batch_like_native_ones(observatory_shards) -> None:
    url, _ = observatory_shards
    events = atdata.Dataset[BrainObservatoryCellTrace](url).as_type(AstroCastEvent, lenses=CATALOG)
    batch = next(iter(events.ordered(batch_size=3)))
    assert len(batch.event_id) == 3


@pytest.fixture
def frame_shards(tmp_path: Path) -> tuple[str, list[Frame]]:
    names = ["2019-03-14_mouse3_slice2_fov1_bath_bacloffen.tif", "mouse4_slice1_fov2_bath_t-ACPD.tif"]
    frames = [astro_frame(name, t_index=t) for name in names for t in range(3)]
    with atdata.ShardWriter(str(tmp_path / "frames-%06d.tar"), maxcount=4) as sink:
        for frame in frames:
            sink.write(frame)
    return str(tmp_path / "frames-{000000..000001}.tar"), frames


def test_generic_frame_shards_read_as_bath_application_frames_through_three_hops(frame_shards) -> None:
    url, frames = frame_shards
    ds = atdata.Dataset[Frame](url).as_type(BathApplicationFrame, lenses=catalog_registry(shortcuts=False))
    got = list(ds.ordered())
    assert [f.applied_compound for f in got] == ["baclofen"] * 3 + ["tacpd"] * 3
    assert got == [frame_to_bath_application(f) for f in frames]


def test_coerced_frames_stack_into_batches(frame_shards) -> None:
    url, _ = frame_shards
    ds = atdata.Dataset[Frame](url).as_type(BathApplicationFrame, lenses=catalog_registry(shortcuts=False))
    batch = next(iter(ds.ordered(batch_size=4)))
    assert batch.image.shape == (4, 16, 16)
    assert batch.t_intervention == [300.0] * 4
