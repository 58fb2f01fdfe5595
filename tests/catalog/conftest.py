"""Fixtures: samples shaped like the rows and records in each system's documentation."""

from __future__ import annotations

import numpy as np
import pytest
from catalog_samples import MOVIE_UUID, abo_trace, astro_frame, transient_trace

from atdata.catalog import (
    AstroCastEvent,
    BrainObservatoryCellTrace,
    EmbeddingResult,
    Frame,
    MicronsSynapse,
    MicronsSynapseVoxels,
    PatchEmbeddingTrace,
    VisualBehaviorCellTrace,
    VisualBehaviorTraceRow,
)


@pytest.fixture
def bath_frame() -> Frame:
    return astro_frame("2019-03-14_mouse3_slice2_fov1_bath_bacloffen_50uM.tif")


@pytest.fixture
def vb_rows() -> list[VisualBehaviorTraceRow]:
    """The first rows of the tutorial's tidy table for cell_specimen_id 1086557208."""
    table = [
        (10.52216, 0.218961),
        (10.61538, 0.232865),
        (10.70860, -0.050186),
        (10.80182, 0.239468),
        (10.89504, 0.226356),
    ]
    return [
        VisualBehaviorTraceRow(
            timestamps=t,
            dff=dff,
            events=0.0,
            filtered_events=0.0,
            cell_roi_id=1080855724,
            cell_specimen_id=1086557208,
            ophys_experiment_id=854759894,
            ophys_session_id=854060305,
            targeted_structure="VISp",
            imaging_depth=179,
            equipment_name="MESO.1",
            cre_line="Sst-IRES-Cre",
            mouse_id=440631,
            sex="M",
        )
        for t, dff in table
    ]


@pytest.fixture
def vb_trace() -> VisualBehaviorCellTrace:
    """One ROI's full traces; the tutorial's frame interval is 0.09322 s."""
    n = 200
    dff = transient_trace(n, peak_at=80, seed=1)
    events = np.where(np.arange(n) == 80, 0.9, 0.0)
    return VisualBehaviorCellTrace(
        timestamps=10.52216 + 0.09322 * np.arange(n),
        dff=dff,
        events=events,
        filtered_events=np.convolve(events, np.exp(-np.arange(10) / 3.0))[:n],
        cell_roi_id=1080852071,
        cell_specimen_id=1086550481,
        ophys_experiment_id=854759890,
        ophys_session_id=854060305,
        targeted_structure="VISp",
        imaging_depth=275,
        equipment_name="MESO.1",
        cre_line="Sst-IRES-Cre",
        mouse_id=440631,
        sex="M",
    )


@pytest.fixture
def abo_cell() -> BrainObservatoryCellTrace:
    return abo_trace()


@pytest.fixture
def microns_voxel_rows() -> list[MicronsSynapseVoxels]:
    """Rows of ``synapse_query(pre_ids=864691135808473885)`` as the tutorial (seed 003) lists them:
    no ``desired_resolution``, so positions are voxel indices at minnie65's 4 x 4 x 40 nm."""
    import datetime as dt

    table = [
        (
            158405512,
            "2020-11-04 06:48:59.403833",
            420,
            89385416926790697,
            89385416926797494,
            864691135546540484,
            [179076, 188248, 20233],
            [179156, 188220, 20239],
            [179140, 188230, 20239],
        ),
        (
            185549462,
            "2020-11-04 06:49:10.903020",
            4832,
            91356016507479890,
            91356016507470163,
            864691135884799088,
            [193168, 190452, 19262],
            [193142, 190404, 19257],
            [193180, 190432, 19254],
        ),
        (
            138110803,
            "2020-11-04 06:49:46.758528",
            3176,
            87263084540201919,
            87263084540199587,
            864691135759983182,
            [163440, 104292, 19808],
            [163498, 104348, 19806],
            [163460, 104356, 19804],
        ),
    ]
    return [
        MicronsSynapseVoxels(
            id=syn_id,
            created=dt.datetime.fromisoformat(created).replace(tzinfo=dt.UTC),
            superceded_id=None,
            valid="t",
            size=size,
            pre_pt_supervoxel_id=pre_sv,
            pre_pt_root_id=864691135808473885,
            post_pt_supervoxel_id=post_sv,
            post_pt_root_id=post_root,
            pre_pt_position=np.array(pre),
            post_pt_position=np.array(post),
            ctr_pt_position=np.array(ctr),
        )
        for syn_id, created, size, pre_sv, post_sv, post_root, pre, post, ctr in table
    ]


@pytest.fixture
def microns_rows(microns_voxel_rows: list[MicronsSynapseVoxels]) -> list[MicronsSynapse]:
    """The same rows in nanometres, as ``desired_resolution=[1, 1, 1]`` returns them."""
    from atdata.catalog.microns import voxels_to_nm

    return [voxels_to_nm(r) for r in microns_voxel_rows]


@pytest.fixture
def astrocast_row() -> AstroCastEvent:
    """One row of astroCAST's event table as ``Detector._characterize_event`` computes it (flat mask and
    footprint, split centroid columns, v_max_height = max - min of the trace)."""
    dz, dx, dy = 7, 6, 4
    mask3 = np.zeros((dz, dx, dy), dtype=bool)
    mask3[1:6, 1:5, 1:3] = True
    footprint = mask3.any(axis=0)
    trace = np.array([1.0, 3.0, 7.0, 6.0, 4.0, 2.0, 1.5])
    return AstroCastEvent(
        event_id="events_42",
        z0=120,
        z1=127,
        x0=30,
        x1=36,
        y0=50,
        y1=54,
        dz=dz,
        dx=dx,
        dy=dy,
        v_length=dz,
        v_diameter=float(np.sqrt(dx**2 + dy**2)),
        v_area=int(mask3.sum()),
        v_bbox_pix_num=dz * dx * dy,
        mask=mask3.flatten(),
        footprint=footprint.flatten(),
        trace=trace,
        v_max_height=float(trace.max() - trace.min()),
        v_max_gradient=4.0,
        v_mask_centroid_local_0=3.0 / dz,
        v_mask_centroid_local_1=2.5 / dx,
        v_mask_centroid_local_2=1.5 / dy,
        v_mask_area=float(mask3.sum()),
        v_fp_area=float(footprint.sum()),
        v_noise_mask_mean=1.1,
        v_noise_mask_std=0.3,
        v_signal_to_noise_ratio=5.4,
        error=0,
        cx=30 + dx * (2.5 / dx),
        cy=50 + dy * (1.5 / dy),
        t0=115.2,
        t1=120.96,
        group="baclofen",
        subject_id="mouse3",
    )


@pytest.fixture
def patch_trace() -> PatchEmbeddingTrace:
    """Patch (10, 12) of the article's demo movie, as the toolkit stores it: (time, component) PCs."""
    n_t = 50
    rng = np.random.default_rng(3)
    return PatchEmbeddingTrace(
        values=rng.normal(size=(n_t, 64)).astype(np.float32),
        ts=np.arange(n_t) * 0.96,
        i_patch=10,
        j_patch=12,
        metadata={"uuid": MOVIE_UUID, "compound": "bacloffen", "concentration": 50.0},
    )


@pytest.fixture
def embedding() -> EmbeddingResult:
    """A small stand-in for ``ImageEmbedder.process`` output: CLS, 4 registers and a 2 x 3 patch grid
    of 8-dim embeddings (DINOv3 ViT-7B/16 gives 4096 dims and 14 x 14 patches)."""
    rng = np.random.default_rng(4)
    return EmbeddingResult(
        cls_embedding=rng.normal(size=8).astype(np.float32),
        registers=rng.normal(size=(4, 8)).astype(np.float32),
        patches=rng.normal(size=(2, 3, 8)).astype(np.float32),
        metadata={"applied_compound": "baclofen", "t_index": 7, "t": 6.72, "movie_uuid": MOVIE_UUID},
    )
