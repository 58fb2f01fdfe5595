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
    PatchEmbeddingTrace,
    PCABasis,
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
def microns_rows() -> list[MicronsSynapse]:
    """Rows of ``synapse_query(pre_ids=864691135808473885)`` as the tutorial lists them."""
    table = [
        (158405512, 420, 89385416926790697, 89385416926797494, 864691135546540484,
         [179076, 188248, 20233], [179156, 188220, 20239], [179140, 188230, 20239]),
        (185549462, 4832, 91356016507479890, 91356016507470163, 864691135884799088,
         [193168, 190452, 19262], [193142, 190404, 19257], [193180, 190432, 19254]),
        (138110803, 3176, 87263084540201919, 87263084540199587, 864691135759983182,
         [163440, 104292, 19808], [163498, 104348, 19806], [163460, 104356, 19804]),
    ]
    return [
        MicronsSynapse(
            id=syn_id,
            size=size,
            pre_pt_supervoxel_id=pre_sv,
            pre_pt_root_id=864691135808473885,
            post_pt_supervoxel_id=post_sv,
            post_pt_root_id=post_root,
            pre_pt_position=np.array(pre, dtype=np.float64),
            post_pt_position=np.array(post, dtype=np.float64),
            ctr_pt_position=np.array(ctr, dtype=np.float64),
            created="2020-11-04T06:48:59.403833+00:00",
            valid=True,
            materialization_version=1181,
        )
        for syn_id, size, pre_sv, post_sv, post_root, pre, post, ctr in table
    ]


@pytest.fixture
def astrocast_row() -> AstroCastEvent:
    """One row of astroCAST's event table, the property columns consistent with each other."""
    footprint = np.zeros((6, 4), dtype=bool)
    footprint[1:5, 1:3] = True
    trace = np.array([1.0, 3.0, 7.0, 6.0, 4.0, 2.0, 1.5])
    return AstroCastEvent(
        event_id="E00042",
        z0=120,
        z1=127,
        dz=7,
        x0=30,
        x1=36,
        y0=50,
        y1=54,
        dx=6,
        dy=4,
        v_length=7,
        v_area=40,
        v_bbox_pix_num=168,
        v_mask_centroid_local=np.array([0.4, 0.5, 0.5]),
        v_mask_area=8,
        footprint=footprint,
        trace=trace,
        v_max_height=7.0,
        v_max_gradient=4.0,
        v_noise_mask_mean=1.1,
        v_noise_mask_std=0.3,
        v_signal_to_noise_ratio=6.4,
        error=0,
        cx=33.0,
        cy=52.0,
        t0=115.2,
        t1=120.96,
        group="baclofen",
        subject_id="mouse3",
    )


@pytest.fixture
def patch_trace() -> PatchEmbeddingTrace:
    """Patch (10, 12) of the article's demo movie: 64 PCs over time, metadata as the article reads it."""
    n_t = 50
    rng = np.random.default_rng(3)
    return PatchEmbeddingTrace(
        values=rng.normal(size=(64, n_t)).astype(np.float32),
        ts=np.arange(n_t) * 0.96,
        i_patch=10,
        j_patch=12,
        metadata={"uuid": MOVIE_UUID, "compound": "bacloffen", "concentration": 50.0},
    )


@pytest.fixture
def embedding() -> EmbeddingResult:
    """A small stand-in for a DINOv3 result: a 2 x 3 patch grid of 8-dim embeddings, a 3-PC basis."""
    rng = np.random.default_rng(4)
    components = np.linalg.qr(rng.normal(size=(8, 3)))[0].T.astype(np.float32)
    return EmbeddingResult(
        patch_embeddings=rng.normal(size=(2, 3, 8)).astype(np.float32),
        t_index=7,
        t=6.72,
        model="dinov3-vit7b16-pretrain-lvd1689m",
        movie_uuid=MOVIE_UUID,
        pca=PCABasis(name="bath_app-dinov3_vit7b16-pca3", mean=rng.normal(size=8).astype(np.float32),
                     components=components),
        metadata={"compound": "baclofen"},
    )
