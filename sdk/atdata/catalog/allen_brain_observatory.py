"""Allen Brain Observatory (Visual Coding 2-photon): calcium imaging in mouse visual cortex.

An *experiment container* groups the sessions imaged at one location in one mouse; each ophys
experiment in it is one session (``three_session_A``/``B``/``C``) described by a metadata dict
(``id``, ``imaging_depth``, ``targeted_structure``, ``cre_line``, ``reporter_line``,
``acquisition_age_days``, ``experiment_container_id``, ``session_type``, ``donor_name``,
``specimen_name``, ``fail_eye_tracking``; tutorial: "Brain Observatory: What are those cells
doing?", seed ``004``). ``get_dff_traces()`` returns the timestamps (seconds) and one dF/F trace per
cell; :class:`BrainObservatoryCellTrace` is one cell's trace with that experiment metadata, and
:func:`cell_traces` makes them from the AllenSDK's own outputs without renaming anything by hand.
:class:`BrainObservatoryFrame` is one frame of the raw 2-photon movie, the form the
OpenAstrocytes project collates Brain Observatory movies in.
"""

from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray

import atdata
from atdata.catalog.openastrocytes import Frame
from atdata.catalog.shared import CellTrace, ImagingFrame
from atdata.types.packable import spec_of


@atdata.packable
class BrainObservatoryCellTrace:
    """One cell's dF/F trace from one Brain Observatory ophys experiment, with the experiment's metadata."""

    cell_specimen_id: int
    """The cell, matched across the container's sessions."""
    ophys_experiment_id: int
    """The ophys experiment (one session; ``id`` in the experiment metadata)."""
    experiment_container_id: int
    """The container: one imaging location in one mouse across sessions."""
    timestamps: Annotated[NDArray[Any], atdata.Array(shape=(None,), dims=("time",)), atdata.Unit("s")]
    """Time of each frame."""
    dff: Annotated[NDArray[Any], atdata.Array(shape=(None,), dims=("time",))]
    """Change in fluorescence over baseline (dF/F), one value per timestamp."""
    targeted_structure: str
    """Targeted visual area: ``VISal``, ``VISam``, ``VISl``, ``VISp``, ``VISpm`` or ``VISrl``."""
    imaging_depth: Annotated[int, atdata.Unit("um")]
    """Depth of the imaging plane."""
    cre_line: str
    """Cre driver line of the imaged cells, e.g. ``"Rorb-IRES2-Cre"``."""
    session_type: str
    """Stimulus session, e.g. ``"three_session_B"``."""
    reporter_line: str | None = None
    """Reporter line, e.g. ``"Ai93(TITL-GCaMP6f)"``."""
    acquisition_age_days: Annotated[int | None, atdata.Unit("d")] = None
    """Age of the mouse at acquisition."""
    donor_name: str | None = None
    """The mouse (donor) id, e.g. ``"234831"``."""
    specimen_name: str | None = None
    """Full specimen name: genotype and donor."""
    fail_eye_tracking: bool | None = None
    """Whether eye tracking failed in this session (``fail_eye_tracking`` in the experiment dict)."""
    metadata: dict[str, Any] | None = None
    """Keys of the experiment dict that have no field here (kept, never dropped)."""


EXPERIMENT_FIELDS = {"id": "ophys_experiment_id"}
"""Experiment-dict keys whose field here has another name (the dict's ``id`` is the experiment's)."""


def cell_traces(
    experiment: Mapping[str, Any], timestamps: Any, dff: Any, cell_specimen_ids: Any
) -> Iterator[BrainObservatoryCellTrace]:
    """One :class:`BrainObservatoryCellTrace` per cell, from what the AllenSDK hands out as is.

    ``experiment`` is one dict of ``BrainObservatoryCache.get_ophys_experiments(...)``;
    ``timestamps, dff = data.get_dff_traces()`` and ``cell_specimen_ids =
    data.get_cell_specimen_ids()`` come from ``get_ophys_experiment_data(experiment["id"])``. Keys
    without a field go to ``metadata``; numpy ids and values convert as strict construction allows.
    """
    traces = np.asarray(dff)
    ids = np.asarray(cell_specimen_ids)
    if traces.ndim != 2 or traces.shape[0] != len(ids):
        raise ValueError(
            f"dff must be (cells, time) with one row per cell specimen id; got {traces.shape} "
            f"for {len(ids)} ids"
        )
    known = set(spec_of(BrainObservatoryCellTrace).field_index)
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in experiment.items():
        name = EXPERIMENT_FIELDS.get(key, key)
        if name in known and name not in ("metadata", "cell_specimen_id", "timestamps", "dff"):
            fields[name] = value
        else:
            extra[key] = value
    for cell_id, row in zip(ids, traces, strict=True):
        yield BrainObservatoryCellTrace(
            cell_specimen_id=cell_id, timestamps=timestamps, dff=row, metadata=extra or None, **fields
        )


@atdata.packable
class BrainObservatoryFrame:
    """One frame of a Brain Observatory 2-photon movie, with its experiment's metadata."""

    image: Annotated[NDArray[Any], atdata.Array(shape=(None, None), dims=("y", "x"))]
    """Pixel intensities of the frame."""
    frame_index: int
    """Index of the frame within the movie, from 0."""
    t: Annotated[float, atdata.Unit("s")]
    """Time of the frame."""
    ophys_experiment_id: int
    """The ophys experiment (one session)."""
    experiment_container_id: int
    """The container: one imaging location in one mouse across sessions."""
    targeted_structure: str
    """Targeted visual area."""
    imaging_depth: Annotated[int, atdata.Unit("um")]
    """Depth of the imaging plane."""
    cre_line: str
    """Cre driver line of the imaged cells."""
    session_type: str | None = None
    """Stimulus session, e.g. ``"three_session_B"``."""
    donor_name: str | None = None
    """The mouse (donor) id."""


# --- lenses -------------------------------------------------------------------------------


@atdata.lens(register=False)
def observatory_to_cell_trace(s: BrainObservatoryCellTrace) -> CellTrace:
    """A Brain Observatory cell's dF/F trace as a cell trace."""
    return CellTrace(
        trace_id=str(s.cell_specimen_id),
        timestamps=np.asarray(s.timestamps, dtype=np.float64),
        values=np.asarray(s.dff, dtype=np.float64),
        quantity="dff",
        roi_kind="neuron",
        source_system="allen_brain_observatory",
        subject_id=s.donor_name,
        session_id=str(s.ophys_experiment_id),
        structure=s.targeted_structure,
        depth=float(s.imaging_depth),
        cell_class=s.cre_line,
        metadata={
            "experiment_container_id": s.experiment_container_id,
            "session_type": s.session_type,
            "reporter_line": s.reporter_line,
            "acquisition_age_days": s.acquisition_age_days,
            "specimen_name": s.specimen_name,
            "fail_eye_tracking": s.fail_eye_tracking,
        },
    )


@atdata.lens(register=False)
def frame_to_observatory_frame(s: Frame) -> BrainObservatoryFrame:
    """A generic frame exported from a Brain Observatory movie, whose metadata is the experiment's
    metadata dict plus ``frame: {t_index, t}``, as a Brain Observatory frame."""
    md = s.metadata or {}
    frame = md["frame"]
    image = s.image
    if image.ndim == 3:
        image = image[0]
    session_type = md.get("session_type")
    donor = md.get("donor_name")
    return BrainObservatoryFrame(
        image=image,
        frame_index=int(frame["t_index"]),
        t=float(frame["t"]),
        ophys_experiment_id=int(md["id"]),
        experiment_container_id=int(md["experiment_container_id"]),
        targeted_structure=str(md["targeted_structure"]),
        imaging_depth=int(md["imaging_depth"]),
        cre_line=str(md["cre_line"]),
        session_type=None if session_type is None else str(session_type),
        donor_name=None if donor is None else str(donor),
    )


@atdata.lens(register=False)
def observatory_to_imaging_frame(s: BrainObservatoryFrame) -> ImagingFrame:
    """A Brain Observatory frame as a plain imaging frame (single channel), experiment labels in metadata."""
    return ImagingFrame(
        image=np.expand_dims(s.image, 0),
        t_index=s.frame_index,
        t=s.t,
        source_system="allen_brain_observatory",
        movie_id=str(s.ophys_experiment_id),
        metadata={
            "experiment_container_id": s.experiment_container_id,
            "targeted_structure": s.targeted_structure,
            "imaging_depth": s.imaging_depth,
            "cre_line": s.cre_line,
            "session_type": s.session_type,
            "donor_name": s.donor_name,
        },
    )
