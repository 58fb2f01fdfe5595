"""Allen Visual Behavior 2-photon: neural traces of mice performing a visual change-detection task.

The tutorial loads every imaging plane of a session into one *tidy* table, one row per cell per
timestamp, with a subset of the experiment's metadata on each row (``build_tidy_cell_df`` plus
``ophys_experiment_id``, ``ophys_session_id``, ``targeted_structure``, ``imaging_depth``,
``equipment_name``, ``cre_line``, ``mouse_id``, ``sex``). :class:`VisualBehaviorTraceRow` is one
such row; :class:`VisualBehaviorCellTrace` is the same columns gathered per cell (one
experiment's full traces of one ROI), which is how the traces are stored before being made tidy.

``cell_roi_id`` is unique per ROI in one experiment; ``cell_specimen_id`` identifies a cell
matched across sessions (so one cell has several ROI ids but one specimen id).
"""

from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray

import atdata
from atdata.catalog.shared import CellTrace


@atdata.packable
class VisualBehaviorTraceRow:
    """One row of the tidy neural-data table: one cell's signals at one timestamp, with metadata."""

    timestamps: Annotated[float, atdata.Unit("s")]
    """Time of the 2-photon frame."""
    dff: float
    """Calcium fluorescence normalized to background fluorescence (dF/F)."""
    events: float
    """Events deconvolved from the dF/F trace, approximating the neuron's firing rate."""
    filtered_events: float
    """Events smoothed with a half-Gaussian kernel."""
    cell_roi_id: int
    """ROI of the cell in this experiment; ROI ids do not repeat across sessions."""
    cell_specimen_id: int
    """The cell, matched across sessions."""
    ophys_experiment_id: int
    """The experiment: one imaging plane of one session."""
    ophys_session_id: int
    """The imaging session."""
    targeted_structure: str
    """Targeted cortical area, e.g. ``"VISp"``."""
    imaging_depth: Annotated[int, atdata.Unit("um")]
    """Depth of the imaging plane."""
    equipment_name: str
    """The microscope, e.g. ``"MESO.1"``."""
    cre_line: str
    """Cre driver line defining the imaged cell class, e.g. ``"Sst-IRES-Cre"``."""
    mouse_id: int
    """The mouse."""
    sex: str
    """Sex of the mouse (``"M"`` or ``"F"``)."""


@atdata.packable
class VisualBehaviorCellTrace:
    """One ROI's full traces in one experiment, with the experiment metadata of the tidy table."""

    timestamps: Annotated[NDArray[Any], atdata.Array(shape=(None,), dims=("time",)), atdata.Unit("s")]
    """Time of each 2-photon frame."""
    dff: Annotated[NDArray[Any], atdata.Array(shape=(None,), dims=("time",))]
    """Calcium fluorescence normalized to background fluorescence (dF/F), one value per timestamp."""
    events: Annotated[NDArray[Any], atdata.Array(shape=(None,), dims=("time",))]
    """Events deconvolved from the dF/F trace, approximating the neuron's firing rate."""
    filtered_events: Annotated[NDArray[Any], atdata.Array(shape=(None,), dims=("time",))]
    """Events smoothed with a half-Gaussian kernel."""
    cell_roi_id: int
    """ROI of the cell in this experiment."""
    cell_specimen_id: int
    """The cell, matched across sessions."""
    ophys_experiment_id: int
    """The experiment: one imaging plane of one session."""
    ophys_session_id: int
    """The imaging session."""
    targeted_structure: str
    """Targeted cortical area, e.g. ``"VISp"``."""
    imaging_depth: Annotated[int, atdata.Unit("um")]
    """Depth of the imaging plane."""
    equipment_name: str
    """The microscope, e.g. ``"MESO.1"``."""
    cre_line: str
    """Cre driver line defining the imaged cell class."""
    mouse_id: int
    """The mouse."""
    sex: str
    """Sex of the mouse (``"M"`` or ``"F"``)."""


# --- lenses -------------------------------------------------------------------------------


@atdata.lens(register=False)
def visual_behavior_to_cell_trace(s: VisualBehaviorCellTrace) -> CellTrace:
    """A Visual Behavior ROI's dF/F trace as a cell trace; the deconvolved events stay in the source type."""
    return CellTrace(
        trace_id=str(s.cell_specimen_id),
        timestamps=np.asarray(s.timestamps, dtype=np.float64),
        values=np.asarray(s.dff, dtype=np.float64),
        quantity="dff",
        roi_kind="neuron",
        source_system="allen_visual_behavior",
        subject_id=str(s.mouse_id),
        session_id=str(s.ophys_experiment_id),
        structure=s.targeted_structure,
        depth=float(s.imaging_depth),
        cell_class=s.cre_line,
        metadata={
            "cell_roi_id": s.cell_roi_id,
            "ophys_session_id": s.ophys_session_id,
            "equipment_name": s.equipment_name,
            "sex": s.sex,
        },
    )


@atdata.lens(register=False)
def visual_behavior_row_to_cell_trace(s: VisualBehaviorTraceRow) -> CellTrace:
    """One tidy row as a one-sample cell trace, so tidy tables enter the same graph as whole traces."""
    return CellTrace(
        trace_id=str(s.cell_specimen_id),
        timestamps=np.array([s.timestamps], dtype=np.float64),
        values=np.array([s.dff], dtype=np.float64),
        quantity="dff",
        roi_kind="neuron",
        source_system="allen_visual_behavior",
        subject_id=str(s.mouse_id),
        session_id=str(s.ophys_experiment_id),
        structure=s.targeted_structure,
        depth=float(s.imaging_depth),
        cell_class=s.cre_line,
        metadata={
            "cell_roi_id": s.cell_roi_id,
            "ophys_session_id": s.ophys_session_id,
            "equipment_name": s.equipment_name,
            "sex": s.sex,
        },
    )
