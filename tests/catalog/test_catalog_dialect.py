"""Every catalog lens is publishable lens-dialect code, and the published code gives the native result."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from catalog_samples import ABO_EXPERIMENT, abo_trace, astro_frame

from atdata.catalog import (
    CATALOG_LENSES,
    CATALOG_TYPES,
    Frame,
    astrocast,
    catalog_registry,
    microns,
    openastrocytes,
)
from atdata.catalog import allen_brain_observatory as abo
from atdata.lenses import Lens
from atdata.lenses.extract import extract_source
from atdata.sandbox import check_source


def observatory_frame() -> Frame:
    return Frame(
        image=np.arange(64, dtype=np.uint16).reshape(8, 8),
        metadata=dict(ABO_EXPERIMENT, frame={"t_index": 5, "t": 9.2}),
    )


def split_row(row: Any) -> microns.MicronsSynapseSplit:
    """A nanometre row in the ``split_positions=True`` layout."""
    fields = {
        k: v
        for k, v in row.__dict__.items()
        if not k.endswith("_position") and k != "materialization_version"
    }
    for point in ("pre_pt", "post_pt", "ctr_pt"):
        for axis, value in zip("xyz", getattr(row, point + "_position"), strict=True):
            fields[f"{point}_position_{axis}"] = value
    return microns.MicronsSynapseSplit(**fields)


def source_sample(lens: Lens[Any, Any], request: pytest.FixtureRequest) -> Any:
    """A document-shaped sample of the lens's source type."""
    bath = astro_frame("2019-03-14_mouse3_slice2_fov1_bath_bacloffen_50uM.tif")
    built = {
        "Frame": observatory_frame() if lens.name == "frame_to_observatory_frame" else bath,
        "ImagingFrame": openastrocytes.frame_to_imaging_frame(bath),
        "AstrocyteRecordingFrame": openastrocytes.imaging_to_recording_frame(
            openastrocytes.frame_to_imaging_frame(bath)
        ),
        "BathApplicationFrame": openastrocytes.frame_to_bath_application(bath),
        "UncagingFrame": openastrocytes.frame_to_uncaging(astro_frame("mouse3_uncaging_RuBi-GABA.tif")),
        "CellTrace": abo.observatory_to_cell_trace(abo_trace()),
        "CalciumEvent": astrocast.astrocast_to_calcium_event(request.getfixturevalue("astrocast_row")),
        "Synapse": microns.microns_to_synapse(request.getfixturevalue("microns_rows")[0]),
        "BrainObservatoryCellTrace": abo_trace(),
        "BrainObservatoryFrame": abo.frame_to_observatory_frame(observatory_frame()),
        "EmbeddingResult": request.getfixturevalue("embedding"),
        "PatchEmbeddingTrace": request.getfixturevalue("patch_trace"),
        "AstroCastEvent": request.getfixturevalue("astrocast_row"),
        "VisualBehaviorCellTrace": request.getfixturevalue("vb_trace"),
        "VisualBehaviorTraceRow": request.getfixturevalue("vb_rows")[0],
        "MicronsSynapse": request.getfixturevalue("microns_rows")[0],
        "MicronsSynapseVoxels": request.getfixturevalue("microns_voxel_rows")[0],
        "MicronsSynapseSplit": split_row(request.getfixturevalue("microns_rows")[0]),
    }
    return built[lens.source.__name__]


@pytest.mark.parametrize("lens", CATALOG_LENSES, ids=lambda lens: lens.name)
def test_the_extracted_code_passes_the_sandbox_validator(lens: Lens[Any, Any]) -> None:
    check_source(extract_source(lens))


@pytest.mark.parametrize("lens", CATALOG_LENSES, ids=lambda lens: lens.name)
def test_the_published_code_gives_what_the_function_gives(
    lens: Lens[Any, Any], request: pytest.FixtureRequest
) -> None:
    sample = source_sample(lens, request)
    published = Lens.from_source(extract_source(lens), source=lens.source, target=lens.target)
    assert published(sample) == lens(sample)


def test_the_three_hop_chain_runs_as_published_code_in_a_worker_process() -> None:
    frame = astro_frame("mouse 4 slice 1 t-ACPD 50uM.tif")
    chain = catalog_registry(shortcuts=False).path(Frame, openastrocytes.BathApplicationFrame)
    steps = [
        Lens.from_source(extract_source(lens), source=lens.source, target=lens.target, isolation="process")
        for lens in [
            openastrocytes.frame_to_imaging_frame,
            openastrocytes.imaging_to_recording_frame,
            openastrocytes.recording_to_bath_application,
        ]
    ]
    with steps[0] | steps[1] | steps[2] as published:
        assert published(frame) == chain(frame)


def test_published_code_runs_on_classes_rebuilt_from_schema_records(microns_voxel_rows) -> None:
    """What a consumer does: classes from the schema records, lens code from the lens record; the voxel
    lens multiplies in the row's own resolution and carries the datetime across."""
    import atdata
    from atdata.types.packable import as_plain

    rebuilt = {cls: atdata.from_schema(atdata.schema_of(cls)) for cls in CATALOG_TYPES}
    lens = microns.voxels_to_nm
    source_cls, target_cls = rebuilt[lens.source], rebuilt[lens.target]
    published = Lens.from_source(extract_source(lens), source=source_cls, target=target_cls)
    row = microns_voxel_rows[0]
    view = published(source_cls(**dict(row.__dict__)))
    assert type(view) is target_cls
    assert as_plain(view).keys() == as_plain(lens(row)).keys()
    assert view.ctr_pt_position.tolist() == lens(row).ctr_pt_position.tolist()
    assert view.created == row.created


def test_the_voxel_lens_runs_process_isolated(microns_voxel_rows) -> None:
    lens = microns.voxels_to_nm
    with Lens.from_source(
        extract_source(lens), source=lens.source, target=lens.target, isolation="process"
    ) as published:
        row = microns_voxel_rows[1]
        assert published(row) == lens(row)
