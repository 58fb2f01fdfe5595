"""Catalog fidelity: each seed system's output, laid out the way that system's own code lays it out,
goes through the catalog's types and lenses with no hand-work, and the values come out right.

Sources, per fixture: OpenAstrocytes - forecast-bio/open-astrocytes ``src/astrocytes/_datasets/``
(``_bath_application.py``, ``_uncaging.py``, ``_embeddings.py``) and ``backend/embed.py``; astroCAST -
``astrocast/detection.py`` (``Detector._characterize_event``) and ``astrocast/analysis.py``
(``Events.load_events``); MICrONS - the CAVE tutorial (seed 003: ``synapse_query`` without
``desired_resolution``, ``query_table(..., desired_resolution=[1, 1, 1], split_positions=True)``);
Allen Brain Observatory - the "What are those cells doing?" tutorial (seed 004:
``get_ophys_experiments``, ``get_dff_traces``, ``get_cell_specimen_ids``); Allen Visual Behavior -
the tidy-table tutorial (seed 002: ``build_tidy_cell_df`` plus eight metadata columns).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import atdata
from atdata.catalog import (
    AstroCastEvent,
    BathApplicationFrame,
    BrainObservatoryCellTrace,
    CalciumEvent,
    CellTrace,
    Connection,
    EmbeddingResult,
    Frame,
    MicronsSynapse,
    MicronsSynapseSplit,
    MicronsSynapseVoxels,
    PatchEmbeddingTrace,
    Synapse,
    UncagingFrame,
    VisualBehaviorTraceRow,
    catalog_registry,
)
from atdata.catalog.allen_brain_observatory import cell_traces
from atdata.catalog.openastrocytes import patch_pc_projector
from atdata.catalog.shared import aggregate_connections

CATALOG = catalog_registry()
"""The catalog's lenses: importing atdata.catalog registers none globally."""

UUID = "d22f6a65-b3e2-46c2-ba5c-551920af1fe3"


def _shards(
    tmp_path: Path, name: str, sample_type: type, samples: Any = None, df: Any = None, **kw: Any
) -> str:
    with atdata.ShardWriter(str(tmp_path / f"{name}-%04d.tar"), sample_type=sample_type) as sink:
        if df is not None:
            sink.write_dataframe(df, **kw)
        for s in samples or []:
            sink.write(s)
    return str(tmp_path / f"{name}-0000.tar")


# --- OpenAstrocytes ----------------------------------------------------------------------------


def toile_frame(filename: str, t_index: int) -> Frame:
    """A frame as toile exports it (2-D uint16 image; the metadata keys ``_specify_bath_application``
    and ``_specify_uncaging`` read: ``frame``, ``date_acquired``, ``uuid``, ``scale_x``, ``scale_y``,
    ``_source_filename``)."""
    rng = np.random.default_rng(t_index)
    return Frame(
        image=rng.integers(0, 4096, size=(32, 32), dtype=np.uint16),
        metadata={
            "frame": {"t_index": t_index, "t": 0.96 * t_index},
            "date_acquired": "2019-03-14T10:21:07",
            "uuid": UUID,
            "scale_x": 1.1838,
            "scale_y": 1.1838,
            "_source_filename": filename,
        },
    )


@pytest.mark.parametrize(
    ("filename", "compound", "is_test"),
    [
        ("20190314_m3_s2_fov1_bacloffen_50uM.tif", "baclofen", False),
        ("20190321_m4_s1_fov2_tcapd_50uM_TEST.tif", "tacpd", True),
        ("20190402_m5_s1_fov1_tACPD_100uM.tif", "tacpd", False),
    ],
)
def test_toile_frames_read_as_bath_application_frames(
    tmp_path: Path, filename: str, compound: str, is_test: bool
) -> None:
    frames = [toile_frame(filename, t) for t in range(3)]
    url = _shards(tmp_path, "frames", Frame, frames)
    got = list(atdata.Dataset[Frame](url).as_type(BathApplicationFrame, lenses=CATALOG))
    assert [f.applied_compound for f in got] == [compound] * 3
    assert [f.is_test for f in got] == [is_test] * 3
    assert (got[0].scale_x, got[0].scale_y) == (1.1838, 1.1838)
    assert got[2].image.shape == (32, 32) and np.array_equal(got[2].image, frames[2].image)
    assert (got[1].t_index, got[1].t, got[1].t_intervention) == (1, 0.96, 300.0)
    assert (got[0].movie_uuid, got[0].date_acquired) == (UUID, "2019-03-14T10:21:07")


@pytest.mark.parametrize(
    ("filename", "compound"),
    [
        ("20200114_m1_s3_fov2_RuBiGABA_uncaging.tif", "gaba"),
        ("20200114_m1_s3_fov3_RuBi-Glutamate_uncaging.tif", "glu"),
        ("20200114_m1_s3_fov4_noRuBi_uncaging.tif", "laser_only"),
    ],
)
def test_toile_frames_read_as_uncaging_frames(tmp_path: Path, filename: str, compound: str) -> None:
    url = _shards(tmp_path, "frames", Frame, [toile_frame(filename, 5)])
    (got,) = atdata.Dataset[Frame](url).as_type(UncagingFrame, lenses=CATALOG)
    assert (got.uncaged_compound, got.t_intervention, got.is_test) == (compound, None, False)


@atdata.packable
class ToolkitBathApplicationFrame:
    """The toolkit's ``BathApplicationFrame`` as ``_bath_application.py`` declares it (is_test None)."""

    applied_compound: str
    image: np.ndarray
    t_index: int
    t: float
    t_intervention: float | None = None
    is_test: bool | None = None
    date_acquired: str | None = None
    mouse_id: str | None = None
    slice_id: str | None = None
    fov_id: str | None = None
    movie_uuid: str | None = None
    scale_x: float | None = None
    scale_y: float | None = None


def test_shards_written_with_the_toolkits_type_read_as_the_catalogs(tmp_path: Path) -> None:
    written = ToolkitBathApplicationFrame(
        applied_compound="tacpd", image=np.ones((32, 32), dtype=np.uint16), t_index=4, t=3.84, movie_uuid=UUID
    )
    url = _shards(tmp_path, "bath", ToolkitBathApplicationFrame, [written])
    import json

    sidecar = Path(url + ".json")
    d = json.loads(sidecar.read_text())
    d.pop("type")  # the toolkit's own writer (atdata 0.x) records no stored type
    sidecar.write_text(json.dumps(d))
    (got,) = atdata.Dataset[BathApplicationFrame](url)
    assert (got.applied_compound, got.is_test, got.t_intervention, got.image.shape) == (
        "tacpd",
        None,
        None,
        (32, 32),
    )


def embed_result(rng: np.random.Generator) -> EmbeddingResult:
    """``ImageEmbedder.process`` output for one frame: CLS (hidden,), registers (4, hidden), patches
    (14, 14, hidden) from the model's last hidden state (hidden = 16 here, 4096 for ViT-7B/16),
    float32 from torch, metadata as ``_f2`` writes it for a BathApplicationFrame."""
    hidden = rng.normal(size=(1 + 4 + 14 * 14, 16)).astype(np.float32)
    return EmbeddingResult(
        cls_embedding=hidden[0],
        registers=hidden[1:5],
        patches=hidden[5:].reshape(14, 14, 16),
        metadata={"applied_compound": "baclofen", "t_index": 7, "t": 6.72, "movie_uuid": UUID,
                  "date_acquired": None, "mouse_id": None, "slice_id": None, "fov_id": None,
                  "scale_x": 1.1838, "scale_y": 1.1838},
    )  # fmt: skip


def test_embedding_results_project_like_the_toolkits_projector(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    results = [embed_result(rng) for _ in range(2)]
    components = rng.normal(size=(8, 16)).astype(np.float32)
    url = _shards(tmp_path, "emb", EmbeddingResult, results)
    got = list(atdata.Dataset[EmbeddingResult](url).as_type(_pcs(), lens=patch_pc_projector(components)))
    for result, pcs in zip(results, got, strict=True):
        assert pcs.patch_pcs.shape == (14, 14, 8)
        assert np.allclose(pcs.patch_pcs[3, 9], components @ result.patches[3, 9], atol=1e-4)
        assert pcs.metadata["applied_compound"] == "baclofen"


def _pcs() -> type:
    from atdata.catalog import EmbeddingPCResult

    return EmbeddingPCResult


def test_patch_embedding_traces_become_cell_traces_of_their_first_pc(tmp_path: Path) -> None:
    """Traces as the pca64 dataset stores them: values (time, 64), ts (time,), metadata with uuid,
    compound and concentration (the article's reads)."""
    rng = np.random.default_rng(1)
    values = rng.normal(size=(300, 64)).astype(np.float32)
    trace = PatchEmbeddingTrace(
        values=values, ts=np.arange(300) * 0.96 - 300.0, i_patch=3, j_patch=9,
        metadata={"uuid": UUID, "compound": "bacloffen", "concentration": 50.0},
    )  # fmt: skip
    url = _shards(tmp_path, "pt", PatchEmbeddingTrace, [trace])
    (got,) = atdata.Dataset[PatchEmbeddingTrace](url).as_type(CellTrace, lenses=CATALOG)
    assert np.array_equal(got.values, values[:, 0].astype(np.float64))
    assert len(got.timestamps) == 300 and got.timestamps[0] == -300.0
    assert got.trace_id == UUID + "/patch/3,9"


# --- astroCAST ---------------------------------------------------------------------------------


def characterize(event_map: np.ndarray, data: np.ndarray, name: str) -> dict[str, dict[str, Any]]:
    """What ``Detector._characterize_event`` stores in events.npy for each event of ``event_map``
    (regionprops measures computed here with numpy where the fixture needs their values)."""
    res: dict[str, dict[str, Any]] = {}
    for em_id in np.unique(event_map):
        if em_id < 1:
            continue
        key = f"{name}_{int(em_id)}"
        z, x, y = np.where(event_map == em_id)
        z0, z1 = np.min(z), np.max(z) + 1
        x0, x1 = np.min(x), np.max(x) + 1
        y0, y1 = np.min(y), np.max(y) + 1
        dz, dx, dy = z1 - z0, x1 - x0, y1 - y0
        r: dict[str, Any] = {"z0": z0, "z1": z1, "x0": x0, "x1": x1, "y0": y0, "y1": y1}
        r.update(dz=dz, v_length=dz, dx=dx, dy=dy, v_diameter=np.sqrt(dx**2 + dy**2))
        r["v_area"] = len(z)
        r["v_bbox_pix_num"] = int(dz * dx * dy)
        mask = np.ones((dz, dx, dy), dtype=np.bool_)
        mask[(z - z0, x - x0, y - y0)] = 0
        r["mask"] = np.invert(mask).flatten()
        if dz > 1:
            inside = np.argwhere(~mask)
            for i, d in enumerate((dz, dx, dy)):
                r[f"v_mask_centroid_local-{i}"] = np.float64(inside[:, i].mean() / d)
            r["v_mask_area"] = np.float64(len(inside))
            r["v_mask_extent"] = np.float64(len(inside) / mask.size)
        r["contours"] = [np.array([[0.0, 0.5, 0.5], [0.0, 1.5, 0.5], [0.0, 1.5, 1.5]])]
        fp = np.invert(np.min(mask, axis=0))
        r["footprint"] = fp.flatten()
        pts = np.argwhere(fp)
        r["v_fp_centroid_local-0"] = np.float64(pts[:, 0].mean() / dx)
        r["v_fp_centroid_local-1"] = np.float64(pts[:, 1].mean() / dy)
        r["v_fp_area"] = np.float64(fp.sum())
        r["v_fp_cx"] = np.float64(x0 + pts[:, 0].mean())
        r["v_fp_cy"] = np.float64(y0 + pts[:, 1].mean())
        signal = data[z0:z1, x0:x1, y0:y1]
        trace = np.ma.filled(np.nanmean(np.ma.masked_array(signal, mask), axis=(1, 2)), fill_value=0)
        r["trace"] = trace
        r["v_max_height"] = np.max(trace) - np.min(trace)
        r["v_max_gradient"] = np.max(np.diff(trace)) if len(trace) > 1 else np.nan
        noise = np.ma.filled(
            np.nanmean(np.ma.masked_array(signal, np.invert(mask)), axis=(1, 2)), fill_value=0
        )
        r["noise_mask_trace"] = noise
        r["v_noise_mask_mean"] = np.mean(noise)
        r["v_noise_mask_std"] = np.std(noise)
        snr = None if r["v_noise_mask_mean"] == 0 else abs(r["v_max_height"] / r["v_noise_mask_mean"])
        r["v_signal_to_noise_ratio"] = snr
        r["v_signal_to_noise_ratio_fold"] = (
            abs(snr / r["v_noise_mask_std"]) if snr is not None and r["v_noise_mask_std"] != 0 else None
        )
        r["error"] = 0
        res[key] = r
    return res


@pytest.fixture
def astrocast_table() -> pd.DataFrame:
    """``Events`` loading events.npy: ``pd.DataFrame(events).transpose()`` (object columns), sorted,
    with the default custom columns and the group/subject labels."""
    rng = np.random.default_rng(7)
    data = rng.normal(100.0, 2.0, size=(20, 16, 16)).astype(np.float32)
    event_map = np.zeros(data.shape, dtype=np.int32)
    event_map[3:9, 2:6, 4:7] = 1  # a 6-frame event
    event_map[12, 10:12, 10:13] = 2  # a one-frame event: no mask measures
    data[event_map > 0] += 40.0
    events = pd.DataFrame(characterize(event_map, data, "slice1")).transpose()
    events = events.sort_index()
    events["v_area_norm"] = events.v_area / events.dz
    events["cx"] = events.x0 + events.dx * events["v_fp_centroid_local-0"]
    events["cy"] = events.y0 + events.dy * events["v_fp_centroid_local-1"]
    events["file_name"] = "slice1"
    events["group"] = "baclofen"
    events["subject_id"] = "mouse3"
    return events


def test_the_event_table_writes_as_rows_without_mapping_and_reads_as_calcium_events(
    tmp_path: Path, astrocast_table: pd.DataFrame
) -> None:
    assert set(astrocast_table.dtypes.astype(str)) == {"object"} or "object" in set(
        astrocast_table.dtypes.astype(str)
    )
    url = _shards(tmp_path, "ev", AstroCastEvent, df=astrocast_table, index_as="event_id")
    rows = list(atdata.Dataset[AstroCastEvent](url))
    assert [r.event_id for r in rows] == ["slice1_1", "slice1_2"]
    big, single = rows
    assert (big.z0, big.z1, big.dz, big.v_area) == (3, 9, 6, 6 * 4 * 3)
    assert big.footprint.shape == (4 * 3,) and big.mask.shape == (6 * 4 * 3,)
    assert big.v_mask_centroid_local_0 == pytest.approx(
        astrocast_table.loc["slice1_1", "v_mask_centroid_local-0"]
    )
    assert big.v_max_height == pytest.approx(float(big.trace.max() - big.trace.min()))
    assert len(big.noise_mask_trace) == len(big.trace) == 6
    assert big.contours is not None and big.contours[0].shape == (3, 3)
    assert np.isnan(single.v_mask_centroid_local_0) and np.isnan(
        single.v_max_gradient
    )  # NaN, as astroCAST has it
    events = list(atdata.Dataset[AstroCastEvent](url).as_type(CalciumEvent, lenses=CATALOG))
    assert (events[0].frame_start, events[0].frame_end, events[0].area) == (3, 9, 12.0)
    assert events[0].amplitude == big.v_max_height
    assert events[0].x == pytest.approx(float(astrocast_table.loc["slice1_1", "cx"]))
    assert (events[1].group, events[1].subject_id) == ("baclofen", "mouse3")


# --- MICrONS -----------------------------------------------------------------------------------


def synapse_query_frame() -> pd.DataFrame:
    """``client.materialize.synapse_query(pre_ids=864691135808473885)`` as the tutorial prints it:
    voxel positions (lists of ints), tz-aware ``created``, NaN ``superceded_id``, ``valid == 't'``."""
    rows = [
        (158405512, "2020-11-04 06:48:59.403833+00:00", 420, 89385416926790697, 89385416926797494,
         864691135546540484, [179076, 188248, 20233], [179156, 188220, 20239], [179140, 188230, 20239]),
        (185549462, "2020-11-04 06:49:10.903020+00:00", 4832, 91356016507479890, 91356016507470163,
         864691135884799088, [193168, 190452, 19262], [193142, 190404, 19257], [193180, 190432, 19254]),
        (138110803, "2020-11-04 06:49:46.758528+00:00", 3176, 87263084540201919, 87263084540199587,
         864691135884799088, [163440, 104292, 19808], [163498, 104348, 19806], [163460, 104356, 19804]),
    ]  # fmt: skip
    df = pd.DataFrame(
        rows,
        columns=["id", "created", "size", "pre_pt_supervoxel_id", "post_pt_supervoxel_id", "post_pt_root_id",
                 "pre_pt_position", "post_pt_position", "ctr_pt_position"],
    )  # fmt: skip
    df["created"] = pd.to_datetime(df["created"])
    df["superceded_id"] = np.nan
    df["valid"] = "t"
    df["pre_pt_root_id"] = np.int64(864691135808473885)
    return df


def test_a_synapse_query_reads_in_voxels_and_converts_to_nm_with_its_resolution(tmp_path: Path) -> None:
    df = synapse_query_frame()
    assert df["superceded_id"].dtype == np.float64 and str(df["created"].dtype).startswith("datetime64")
    url = _shards(tmp_path, "syn", MicronsSynapseVoxels, df=df)
    rows = list(atdata.Dataset[MicronsSynapseVoxels](url))
    assert rows[0].created == dt.datetime(2020, 11, 4, 6, 48, 59, 403833, tzinfo=dt.UTC)
    assert (rows[0].valid, rows[0].superceded_id) == ("t", None)
    assert rows[0].ctr_pt_position.tolist() == [179140, 188230, 20239]
    synapses = list(atdata.Dataset[MicronsSynapseVoxels](url).as_type(Synapse, lenses=CATALOG))
    assert synapses[0].position.tolist() == [179140 * 4.0, 188230 * 4.0, 20239 * 40.0]
    assert (synapses[0].pre_id, synapses[0].size) == ("864691135808473885", 420.0)
    nm = list(atdata.Dataset[MicronsSynapseVoxels](url).as_type(MicronsSynapse, lenses=CATALOG))
    assert nm[2].created == rows[2].created
    connections = aggregate_connections(synapses)
    assert [(c.post_id, c.syn_count) for c in connections] == [
        ("864691135884799088", 2),
        ("864691135546540484", 1),
    ]


def test_a_voxel_row_is_never_read_as_nanometres(tmp_path: Path) -> None:
    url = _shards(tmp_path, "syn", MicronsSynapseVoxels, df=synapse_query_frame())
    with pytest.raises(atdata.errors.DatasetError, match=r"MicronsSynapseVoxels.*MicronsSynapse"):
        atdata.Dataset[MicronsSynapse](url)


def split_query_frame() -> pd.DataFrame:
    """``query_table(synapse_table, limit=3, desired_resolution=[1, 1, 1], split_positions=True)``."""
    rows = [
        (4456, "2020-11-04 13:02:08.388988+00:00", 211448.0, 409744.0, 801440.0, 211448.0, 409744.0, 801440.0,
         211612.0, 410172.0, 801400.0, 2956, 72063160986635724, 864691135533713769, 72063160986635724,
         864691135533713769),
        (4503, "2020-11-04 12:09:33.286834+00:00", 212456.0, 408032.0, 800360.0, 212456.0, 408032.0, 800360.0,
         212168.0, 408088.0, 800400.0, 344, 72063092267156962, 864691135087527094, 72063092267156962,
         864691135087527094),
    ]  # fmt: skip
    cols = ["id", "created"] + [f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz"]
    cols += ["size", "pre_pt_supervoxel_id", "pre_pt_root_id", "post_pt_supervoxel_id", "post_pt_root_id"]
    df = pd.DataFrame(rows, columns=cols)
    df.insert(2, "superceded_id", np.nan)
    df.insert(3, "valid", "t")
    df["created"] = pd.to_datetime(df["created"])
    return df


def test_split_position_columns_read_and_join_into_positions(tmp_path: Path) -> None:
    url = _shards(tmp_path, "split", MicronsSynapseSplit, df=split_query_frame())
    got = list(atdata.Dataset[MicronsSynapseSplit](url).as_type(Connection, lenses=CATALOG))
    assert [(c.pre_id, c.post_id, c.total_size) for c in got] == [
        ("864691135533713769", "864691135533713769", 2956.0),
        ("864691135087527094", "864691135087527094", 344.0),
    ]
    nm = list(atdata.Dataset[MicronsSynapseSplit](url).as_type(MicronsSynapse, lenses=CATALOG))
    assert nm[0].ctr_pt_position.tolist() == [211612.0, 410172.0, 801400.0]


# --- Allen Brain Observatory -------------------------------------------------------------------

EXPERIMENT = {
    "id": 512124564,
    "imaging_depth": 275,
    "targeted_structure": "VISp",
    "cre_line": "Rorb-IRES2-Cre",
    "reporter_line": "Ai93(TITL-GCaMP6f)",
    "acquisition_age_days": 80,
    "experiment_container_id": 512124562,
    "session_type": "three_session_B",
    "donor_name": "234831",
    "specimen_name": "Rorb-IRES2-Cre;Camk2a-tTA;Ai93-234831",
    "fail_eye_tracking": False,
}


def test_allensdk_outputs_become_cell_traces_without_renaming(tmp_path: Path) -> None:
    ts = 9.0 + np.arange(400, dtype=np.float64) / 30.0  # get_dff_traces(): timestamps (s), float64
    dff = np.random.default_rng(2).normal(0, 0.05, size=(3, 400)).astype(np.float32)  # (cells, time)
    ids = np.array([517474020, 517474033, 517474051], dtype=np.int64)  # get_cell_specimen_ids()
    traces = list(cell_traces(EXPERIMENT, ts, dff, ids))
    assert [t.ophys_experiment_id for t in traces] == [512124564] * 3
    assert traces[1].fail_eye_tracking is False and traces[1].cell_specimen_id == 517474033
    url = _shards(tmp_path, "abo", BrainObservatoryCellTrace, traces)
    got = list(atdata.Dataset[BrainObservatoryCellTrace](url).as_type(CellTrace, lenses=CATALOG))
    assert [g.trace_id for g in got] == ["517474020", "517474033", "517474051"]
    assert np.array_equal(got[2].values, dff[2].astype(np.float64))
    assert (got[0].session_id, got[0].structure, got[0].depth, got[0].subject_id) == (
        "512124564",
        "VISp",
        275.0,
        "234831",
    )


def test_traces_and_ids_that_disagree_are_refused() -> None:
    with pytest.raises(ValueError, match="one row per cell"):
        list(cell_traces(EXPERIMENT, np.zeros(4), np.zeros((2, 4)), np.array([1, 2, 3])))


# --- Allen Visual Behavior ---------------------------------------------------------------------


def tidy_table() -> pd.DataFrame:
    """``build_tidy_cell_df(experiment)`` plus the tutorial's eight metadata columns, concatenated."""
    frames = []
    for roi, specimen, dff in [(1080852071, 1086550481, [0.400583, 0.126125, -0.083087]),
                               (1080855724, 1086557208, [0.218961, 0.232865, -0.050186])]:  # fmt: skip
        part = pd.DataFrame(
            {"timestamps": [10.52216, 10.61538, 10.70860], "dff": dff, "events": [0.0, 0.9, 0.0],
             "filtered_events": [0.0, 0.9, 0.3], "cell_roi_id": roi, "cell_specimen_id": specimen}
        )  # fmt: skip
        metadata = {"ophys_experiment_id": 854759890, "ophys_session_id": 854060305,
                    "targeted_structure": "VISp", "imaging_depth": 275, "equipment_name": "MESO.1",
                    "cre_line": "Sst-IRES-Cre", "mouse_id": 440631, "sex": "M"}  # fmt: skip
        for key, value in metadata.items():
            part[key] = value
        frames.append(part)
    return pd.concat(frames)


def test_tidy_rows_write_as_rows_and_read_as_cell_traces(tmp_path: Path) -> None:
    url = _shards(tmp_path, "vb", VisualBehaviorTraceRow, df=tidy_table())
    got = list(atdata.Dataset[VisualBehaviorTraceRow](url).as_type(CellTrace, lenses=CATALOG))
    assert len(got) == 6
    assert (got[0].trace_id, got[0].timestamps.tolist(), got[0].values.tolist()) == (
        "1086550481",
        [10.52216],
        [0.400583],
    )
    assert (got[4].subject_id, got[4].session_id, got[4].depth) == ("440631", "854759890", 275.0)


def test_every_system_reaches_the_shared_types() -> None:
    reg = catalog_registry()
    pairs = [(MicronsSynapseVoxels, Connection), (MicronsSynapseSplit, Synapse), (AstroCastEvent, CellTrace),
             (PatchEmbeddingTrace, CalciumEvent), (BrainObservatoryCellTrace, AstroCastEvent),
             (VisualBehaviorTraceRow, CellTrace)]  # fmt: skip
    for source, target in pairs:
        reg.path(source, target)
