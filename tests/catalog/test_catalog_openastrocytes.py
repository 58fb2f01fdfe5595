"""OpenAstrocytes lenses: from generic microscope frames to the experiments' types, and embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from catalog_samples import MOVIE_UUID, astro_frame

from atdata.catalog import (
    AstrocyteRecordingFrame,
    BathApplicationFrame,
    CellTrace,
    ImagingFrame,
    PatchEmbeddingTrace,
    UncagingFrame,
)
from atdata.catalog.openastrocytes import (
    BATH_INTERVENTION_S,
    bath_application_to_imaging_frame,
    frame_to_bath_application,
    frame_to_imaging_frame,
    frame_to_uncaging,
    imaging_to_recording_frame,
    patch_pc_projector,
    patch_trace_to_cell_trace,
    recording_to_bath_application,
    recording_to_uncaging,
    uncaging_to_imaging_frame,
)
from atdata.errors import LensExecutionError


def three_hops(frame):
    return recording_to_bath_application(imaging_to_recording_frame(frame_to_imaging_frame(frame)))


def test_imaging_frame_parses_time_movie_scale_and_file_name(bath_frame) -> None:
    view = frame_to_imaging_frame(bath_frame)
    assert isinstance(view, ImagingFrame)
    assert (view.t_index, view.t) == (12, pytest.approx(11.52))
    assert view.movie_id == MOVIE_UUID
    assert (view.scale_x, view.scale_y) == (1.18, 1.18)
    assert view.source_filename.startswith("2019-03-14_mouse3")
    assert np.array_equal(view.image[0], bath_frame.image)


def test_imaging_frame_keeps_uninterpreted_metadata() -> None:
    view = frame_to_imaging_frame(astro_frame("x.tif", concentration=50.0))
    assert view.metadata == {"concentration": 50.0}


def test_imaging_frame_gives_a_2d_image_a_channel_axis_and_experiments_keep_it_2d() -> None:
    frame = astro_frame("x_bath_baclofen.tif")
    assert frame_to_imaging_frame(frame).image.shape == (1, 16, 16)
    assert three_hops(frame).image.shape == (16, 16) == frame_to_bath_application(frame).image.shape


def test_a_channel_first_single_channel_frame_reads_the_same() -> None:
    frame = astro_frame("x_bath_baclofen.tif")
    stacked = astro_frame("x_bath_baclofen.tif")
    stacked.image = frame.image[None]
    assert three_hops(stacked) == three_hops(frame)


def test_a_multi_channel_frame_is_refused_by_the_experiment_lens() -> None:
    frame = astro_frame("x_bath_baclofen.tif")
    frame.image = np.stack([frame.image, frame.image])
    with pytest.raises(LensExecutionError, match="single-channel"):
        frame_to_bath_application(frame)


def test_a_frame_without_frame_timing_fails_the_lens() -> None:
    frame = astro_frame("x.tif")
    del frame.metadata["frame"]
    with pytest.raises(LensExecutionError):
        frame_to_imaging_frame(frame)


def test_recording_frame_reads_ids_and_compound_from_the_file_name(bath_frame) -> None:
    rec = imaging_to_recording_frame(frame_to_imaging_frame(bath_frame))
    assert isinstance(rec, AstrocyteRecordingFrame)
    assert (rec.protocol, rec.compound) == ("bath_application", "baclofen")
    assert (rec.mouse_id, rec.slice_id, rec.fov_id) == ("3", "2", "1")
    assert rec.t_intervention == BATH_INTERVENTION_S
    assert rec.is_test is False


@pytest.mark.parametrize(
    ("filename", "compound"),
    [
        ("m3_bath_Baclofen.tif", "baclofen"),
        ("m3_bath_bacloffen.tif", "baclofen"),
        ("mouse 4 slice 1 t-ACPD 50uM.tif", "tacpd"),
        ("mouse4_tACPD.tif", "tacpd"),
        ("mouse4_bath_tcapd_50uM.tif", "tacpd"),
        ("fov2_noRuBi_uncaging.tif", "laser_only"),
        ("fov2_RuBiGlu.tif", "glu"),
        ("fov2_RuBi-GABA_uncaging.tif", "gaba"),
        ("fov2_RuBi-Glutamate.tif", "glu"),
        ("fov2_uncaging_laser-only.tif", "laser_only"),
        ("fov2_saline.tif", None),
    ],
)
def test_compound_spellings_map_to_one_label(filename: str, compound: str | None) -> None:
    rec = imaging_to_recording_frame(frame_to_imaging_frame(astro_frame(filename)))
    assert rec.compound == compound


def test_ids_written_as_separate_tokens_are_read() -> None:
    rec = imaging_to_recording_frame(frame_to_imaging_frame(astro_frame("mouse 4 slice 1 fov 7 tacpd.tif")))
    assert (rec.mouse_id, rec.slice_id, rec.fov_id) == ("4", "1", "7")


def test_explicit_metadata_wins_over_the_file_name() -> None:
    frame = astro_frame("mouse3_bath_baclofen.tif", compound="t-ACPD", mouse_id="M17", is_test=True)
    rec = imaging_to_recording_frame(frame_to_imaging_frame(frame))
    assert (rec.compound, rec.mouse_id, rec.is_test) == ("tacpd", "M17", True)


def test_upper_case_test_marks_held_out_movies_as_the_toolkit_does() -> None:
    rec = imaging_to_recording_frame(frame_to_imaging_frame(astro_frame("TEST_mouse3_baclofen.tif")))
    assert rec.is_test is True
    latest = imaging_to_recording_frame(frame_to_imaging_frame(astro_frame("latest_mouse3_baclofen.tif")))
    assert latest.is_test is False


def test_the_older_nested_scale_layout_is_read_too() -> None:
    frame = astro_frame("x.tif")
    del frame.metadata["scale_x"], frame.metadata["scale_y"]
    frame.metadata["scale"] = {"x": 0.5, "y": 0.75}
    view = frame_to_imaging_frame(frame)
    assert (view.scale_x, view.scale_y) == (0.5, 0.75)


def test_uncaging_recordings_get_no_bath_intervention_time() -> None:
    rec = imaging_to_recording_frame(frame_to_imaging_frame(astro_frame("mouse3_uncaging_gaba.tif")))
    assert (rec.protocol, rec.t_intervention) == ("uncaging", None)


def test_three_hops_make_a_bath_application_frame(bath_frame) -> None:
    bath = three_hops(bath_frame)
    assert isinstance(bath, BathApplicationFrame)
    assert bath.applied_compound == "baclofen"
    assert (bath.movie_uuid, bath.date_acquired, bath.t_index) == (MOVIE_UUID, "2019-03-14", 12)


@pytest.mark.parametrize(
    "filename",
    [
        "2019-03-14_mouse3_slice2_fov1_bath_bacloffen_50uM.tif",
        "mouse 4 slice 1 t-ACPD.tif",
        "test_fov2_RuBi-GABA.tif",
        "nothing_known.tif",
    ],
)
def test_the_bath_shortcut_equals_the_three_hop_path(filename: str) -> None:
    frame = astro_frame(filename)
    assert frame_to_bath_application(frame) == three_hops(frame)


@pytest.mark.parametrize(
    "filename", ["mouse3_uncaging_RuBi-GABA.tif", "glutamate_fov1.tif", "laser_only.tif", "bath_baclofen.tif"]
)
def test_the_uncaging_shortcut_equals_the_three_hop_path(filename: str) -> None:
    frame = astro_frame(filename)
    chain = recording_to_uncaging(imaging_to_recording_frame(frame_to_imaging_frame(frame)))
    assert frame_to_uncaging(frame) == chain


def test_compounds_outside_an_experiment_become_unknown() -> None:
    rec = imaging_to_recording_frame(frame_to_imaging_frame(astro_frame("mouse3_gaba.tif")))
    assert recording_to_bath_application(rec).applied_compound == "unknown"
    assert isinstance(recording_to_uncaging(rec), UncagingFrame)


def test_forgetting_the_experiment_and_reading_it_back_round_trips(bath_frame) -> None:
    bath = three_hops(bath_frame)
    again = recording_to_bath_application(imaging_to_recording_frame(bath_application_to_imaging_frame(bath)))
    assert again == bath


def test_uncaging_frames_round_trip_through_imaging_frames() -> None:
    frame = astro_frame("mouse3_slice1_uncaging_glu.tif", t_intervention=42.0)
    unc = frame_to_uncaging(frame)
    again = recording_to_uncaging(imaging_to_recording_frame(uncaging_to_imaging_frame(unc)))
    assert again == unc


def test_the_projector_applies_components_to_each_patch_without_centring(embedding) -> None:
    components = np.linalg.qr(np.random.default_rng(5).normal(size=(8, 3)))[0].T.astype(np.float32)
    result = patch_pc_projector(components)(embedding)
    assert result.patch_pcs.shape == (2, 3, 3)
    assert np.allclose(result.patch_pcs[1, 2], components @ embedding.patches[1, 2], atol=1e-5)
    assert result.metadata == embedding.metadata


def test_the_projector_needs_patches_of_the_basis_width(embedding) -> None:
    with pytest.raises(LensExecutionError, match="features"):
        patch_pc_projector(np.ones((3, 5), dtype=np.float32))(embedding)
    embedding.patches = None
    with pytest.raises(LensExecutionError, match="no patch embeddings"):
        patch_pc_projector(np.ones((3, 8), dtype=np.float32))(embedding)


def test_a_patch_trace_becomes_the_trace_of_an_image_patch_roi(patch_trace) -> None:
    trace = patch_trace_to_cell_trace(patch_trace)
    assert trace.trace_id == MOVIE_UUID + "/patch/10,12"
    assert (trace.roi_kind, trace.quantity) == ("image_patch", "embedding_pc")
    assert np.allclose(trace.values, patch_trace.values[:, 0])
    assert len(trace.values) == len(trace.timestamps) == len(patch_trace.ts)
    assert trace.metadata["compound"] == "bacloffen"


def test_a_lens_whose_values_and_timestamps_disagree_in_length_fails(patch_trace) -> None:
    import atdata

    @atdata.lens(register=False, source=PatchEmbeddingTrace, target=CellTrace)
    def first_component_wrong_axis(s: PatchEmbeddingTrace) -> CellTrace:
        return CellTrace(
            trace_id="x",
            timestamps=np.asarray(s.ts, dtype=np.float64),
            values=np.asarray(s.values[0], dtype=np.float64),  # a row (64 PCs), not a column
            quantity="embedding_pc",
            roi_kind="image_patch",
            source_system="openastrocytes",
        )

    with pytest.raises(LensExecutionError, match="axis 'time' has different lengths: 50 in timestamps, 64"):
        first_component_wrong_axis(patch_trace)


def test_a_patch_trace_stored_component_first_is_refused_not_misread(patch_trace) -> None:
    from atdata.errors import SampleValidationError

    with pytest.raises(SampleValidationError, match="axis 'time'"):
        PatchEmbeddingTrace(values=patch_trace.values.T.copy(), ts=patch_trace.ts)


def test_putting_an_unchanged_imaging_frame_back_gives_the_frame(bath_frame) -> None:
    assert frame_to_imaging_frame.put(frame_to_imaging_frame(bath_frame), bath_frame) == bath_frame


def test_an_edited_imaging_frame_put_back_reads_as_the_edit(bath_frame) -> None:
    view = frame_to_imaging_frame(bath_frame)
    view.t = 99.0
    view.scale_x = None
    view.scale_y = None
    view.metadata = {"note": "rescaled"}
    frame = frame_to_imaging_frame.put(view, bath_frame)
    assert frame.metadata["frame"]["t"] == 99.0 and "scale_x" not in frame.metadata
    assert frame_to_imaging_frame(frame) == view


def test_the_example_frames_read_as_both_bath_compounds() -> None:
    from atdata.catalog.examples import bath_application_frames

    frames = bath_application_frames(movies=2, frames_per_movie=2, size=8)
    compounds = [three_hops(f).applied_compound for f in frames]
    assert compounds == ["baclofen", "baclofen", "tacpd", "tacpd"]
    assert len({three_hops(f).movie_uuid for f in frames}) == 2
