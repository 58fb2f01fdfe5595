"""Each system's lenses into the shared types, and the lenses between shared types."""

from __future__ import annotations

import numpy as np
import pytest
from catalog_samples import ABO_EXPERIMENT

from atdata.catalog import CalciumEvent, CellTrace, Connection, Synapse
from atdata.catalog.allen_brain_observatory import (
    frame_to_observatory_frame,
    observatory_to_cell_trace,
    observatory_to_imaging_frame,
)
from atdata.catalog.allen_visual_behavior import (
    visual_behavior_row_to_cell_trace,
    visual_behavior_to_cell_trace,
)
from atdata.catalog.astrocast import astrocast_to_calcium_event, calcium_event_to_astrocast
from atdata.catalog.microns import microns_to_synapse
from atdata.catalog.openastrocytes import Frame
from atdata.catalog.shared import (
    aggregate_connections,
    calcium_event_to_cell_trace,
    cell_trace_to_largest_transient,
    synapse_to_connection,
)
from atdata.errors import LensExecutionError

# --- Allen Visual Behavior -------------------------------------------------------------------


def test_a_visual_behavior_trace_becomes_a_neuron_dff_trace(vb_trace) -> None:
    trace = visual_behavior_to_cell_trace(vb_trace)
    assert isinstance(trace, CellTrace)
    assert (trace.trace_id, trace.session_id, trace.subject_id) == ("1086550481", "854759890", "440631")
    assert (trace.structure, trace.depth, trace.cell_class) == ("VISp", 275.0, "Sst-IRES-Cre")
    assert (trace.quantity, trace.roi_kind) == ("dff", "neuron")
    assert np.array_equal(trace.values, vb_trace.dff)
    assert trace.metadata["cell_roi_id"] == 1080852071


def test_a_tidy_row_becomes_a_one_sample_trace(vb_rows) -> None:
    trace = visual_behavior_row_to_cell_trace(vb_rows[2])
    assert trace.timestamps.tolist() == [10.7086]
    assert trace.values.tolist() == [-0.050186]
    assert trace.trace_id == "1086557208"


# --- Allen Brain Observatory -----------------------------------------------------------------


def test_a_brain_observatory_trace_becomes_a_neuron_dff_trace(abo_cell) -> None:
    trace = observatory_to_cell_trace(abo_cell)
    assert (trace.trace_id, trace.session_id, trace.subject_id) == ("517474020", "512124564", "234831")
    assert trace.values.dtype == np.float64
    assert np.allclose(trace.values, abo_cell.dff)
    assert trace.metadata["session_type"] == "three_session_B"


def test_a_generic_frame_with_the_experiment_dict_becomes_an_observatory_frame() -> None:
    metadata = dict(ABO_EXPERIMENT, frame={"t_index": 3, "t": 9.1})
    frame = Frame(image=np.zeros((1, 8, 8), dtype=np.uint16), metadata=metadata)
    view = frame_to_observatory_frame(frame)
    assert (view.ophys_experiment_id, view.experiment_container_id) == (512124564, 512124562)
    assert (view.frame_index, view.t, view.image.shape) == (3, 9.1, (8, 8))


def test_an_observatory_frame_becomes_a_single_channel_imaging_frame() -> None:
    metadata = dict(ABO_EXPERIMENT, frame={"t_index": 0, "t": 0.0})
    frame = Frame(image=np.zeros((8, 8), dtype=np.uint16), metadata=metadata)
    imaging = observatory_to_imaging_frame(frame_to_observatory_frame(frame))
    assert imaging.image.shape == (1, 8, 8)
    assert (imaging.source_system, imaging.movie_id) == ("allen_brain_observatory", "512124564")


def test_a_frame_from_another_system_fails_the_observatory_lens(bath_frame) -> None:
    with pytest.raises(LensExecutionError):
        frame_to_observatory_frame(bath_frame)


# --- MICrONS ---------------------------------------------------------------------------------


def test_a_synapse_row_becomes_a_synapse_at_the_cleft_centre(microns_rows) -> None:
    syn = microns_to_synapse(microns_rows[0])
    assert isinstance(syn, Synapse)
    assert syn.synapse_id == "158405512"
    assert (syn.pre_id, syn.post_id) == ("864691135808473885", "864691135546540484")
    assert syn.position.tolist() == [179140.0 * 4, 188230.0 * 4, 20239.0 * 40]  # voxels at 4 x 4 x 40 nm
    assert syn.size == 420.0


def test_a_synapse_is_a_connection_of_one(microns_rows) -> None:
    conn = synapse_to_connection(microns_to_synapse(microns_rows[1]))
    assert isinstance(conn, Connection)
    assert (conn.syn_count, conn.total_size, conn.synapse_ids) == (1, 4832.0, ["185549462"])


def test_synapses_aggregate_into_connections_per_neuron_pair(microns_rows) -> None:
    synapses = [microns_to_synapse(r) for r in microns_rows]
    synapses.append(synapses[1].model_copy(update={"synapse_id": "1"}))
    connections = aggregate_connections(synapses)
    assert [(c.post_id, c.syn_count, c.total_size) for c in connections] == [
        ("864691135884799088", 2, 9664.0),
        ("864691135546540484", 1, 420.0),
        ("864691135759983182", 1, 3176.0),
    ]


# --- astroCAST -------------------------------------------------------------------------------


def test_an_astrocast_row_becomes_a_calcium_event(astrocast_row) -> None:
    event = astrocast_to_calcium_event(astrocast_row)
    assert isinstance(event, CalciumEvent)
    assert (event.frame_start, event.frame_end, event.t_start, event.t_end) == (120, 127, 115.2, 120.96)
    assert (event.x, event.y, event.area, event.amplitude) == (32.5, 51.5, 8.0, 6.0)
    assert (event.group, event.subject_id) == ("baclofen", "mouse3")


def test_without_a_centroid_column_the_bounding_box_centre_is_used(astrocast_row) -> None:
    astrocast_row.cx = None
    astrocast_row.cy = None
    event = astrocast_to_calcium_event(astrocast_row)
    assert (event.x, event.y) == (33.0, 52.0)


def test_an_astrocast_row_survives_the_round_trip_through_a_calcium_event(astrocast_row) -> None:
    back = calcium_event_to_astrocast(astrocast_to_calcium_event(astrocast_row))
    for field in [
        "event_id",
        "z0",
        "z1",
        "dz",
        "x0",
        "x1",
        "y0",
        "y1",
        "dx",
        "dy",
        "v_fp_area",
        "v_max_height",
        "v_max_gradient",
        "cx",
        "cy",
        "t0",
        "t1",
        "group",
        "subject_id",
    ]:
        assert getattr(back, field) == getattr(astrocast_row, field), field


# --- shared: traces and events ---------------------------------------------------------------


def test_the_largest_transient_spans_the_peak_above_half_height(abo_cell) -> None:
    event = cell_trace_to_largest_transient(observatory_to_cell_trace(abo_cell))
    assert event.frame_start <= 120 < event.frame_end
    assert 120 - event.frame_start <= 2  # the transient rises within a frame or two
    assert 3 <= event.frame_end - 120 <= 8  # and decays below half height in ~ln(2)*8 frames
    assert event.amplitude == pytest.approx(1.5, abs=0.1)
    assert event.t_start == pytest.approx(9.0 + event.frame_start / 30.0)
    assert len(event.trace) == event.frame_end - event.frame_start


def test_an_empty_trace_has_no_transient(abo_cell) -> None:
    trace = observatory_to_cell_trace(abo_cell)
    trace.timestamps = np.zeros(0)
    trace.values = np.zeros(0)
    with pytest.raises(LensExecutionError, match="empty"):
        cell_trace_to_largest_transient(trace)


def test_an_event_trace_is_timed_across_the_event(astrocast_row) -> None:
    trace = calcium_event_to_cell_trace(astrocast_to_calcium_event(astrocast_row))
    assert trace.roi_kind == "astrocyte_event"
    assert trace.timestamps[0] == 115.2 and trace.timestamps[-1] == pytest.approx(120.96)
    assert np.array_equal(trace.values, astrocast_row.trace)


def test_an_event_without_frame_times_has_no_timed_trace(astrocast_row) -> None:
    astrocast_row.t0 = None
    with pytest.raises(LensExecutionError, match="frame times"):
        calcium_event_to_cell_trace(astrocast_to_calcium_event(astrocast_row))


def test_a_neurons_transient_keeps_its_roi_kind_as_a_trace(abo_cell) -> None:
    event = cell_trace_to_largest_transient(observatory_to_cell_trace(abo_cell))
    assert calcium_event_to_cell_trace(event).roi_kind == "neuron"


def test_putting_an_unchanged_synapse_back_gives_the_row(microns_rows) -> None:
    row = microns_rows[2]
    assert microns_to_synapse.put(microns_to_synapse(row), row) == row


def test_a_moved_synapse_put_back_changes_only_its_row_s_centre(microns_rows) -> None:
    row = microns_rows[2]
    view = microns_to_synapse(row)
    view.position = view.position + 4.0
    moved = microns_to_synapse.put(view, row)
    assert moved.ctr_pt_position.tolist() == [163460.0 * 4 + 4, 104356.0 * 4 + 4, 19804.0 * 40 + 4]
    assert moved.pre_pt_position.tolist() == row.pre_pt_position.tolist()
    assert microns_to_synapse(moved) == view
