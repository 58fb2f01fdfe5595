"""Cross-system sample types: the common shapes that every system's lenses converge on.

A lens from a system's own type into one of these is the system's entry into the catalog's
graph; lenses between these shared types are where paths of two and three hops come from
(an Allen Brain Observatory trace becomes a :class:`CellTrace`, its largest transient a
:class:`CalciumEvent`, and that event an astroCAST event row).
"""

from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray

import atdata


@atdata.packable
class ImagingFrame:
    """One frame of a two-photon movie with its acquisition metadata parsed into fields.

    The common form of microscope frames from any system, before any experiment-specific
    interpretation: what was imaged when, at what scale, from which file.
    """

    image: Annotated[NDArray[Any], atdata.Array(shape=(None, None, None), dims=("channel", "y", "x"))]
    """Pixel intensities, channel first (a single-channel movie has one channel)."""
    t_index: int
    """Index of the frame within its movie, from 0."""
    t: Annotated[float, atdata.Unit("s")]
    """Acquisition time of the frame relative to the start of the recording."""
    source_system: str
    """The data system the frame came from, e.g. ``"openastrocytes"``, ``"allen_brain_observatory"``."""
    movie_id: str | None = None
    """Identifier of the movie the frame belongs to (the microscope-supplied UUID where there is one)."""
    date_acquired: str | None = None
    """Date (and time) the movie was acquired, ISO 8601."""
    scale_x: Annotated[float | None, atdata.Unit("um/px")] = None
    """Width of one pixel."""
    scale_y: Annotated[float | None, atdata.Unit("um/px")] = None
    """Height of one pixel."""
    source_filename: str | None = None
    """Name of the file the movie was read from; later lenses parse experiment details from it."""
    metadata: dict[str, Any] | None = None
    """Acquisition metadata not interpreted into fields above, kept for later lenses."""


@atdata.packable
class CellTrace:
    """A time series measured from one region of interest: a neuron, an astrocyte event, an image patch.

    Both Allen systems' per-cell dF/F traces, astroCAST event traces and OpenAstrocytes patch
    embedding traces can be read as this type.
    """

    trace_id: str
    """Identifier of the region of interest, unique within its source system."""
    timestamps: Annotated[NDArray[Any], atdata.Array("float64", (None,), ("time",)), atdata.Unit("s")]
    """Time of each value."""
    values: Annotated[NDArray[Any], atdata.Array("float64", (None,), ("time",))]
    """The measured quantity at each timestamp (see ``quantity``)."""
    quantity: Literal["dff", "fluorescence", "events", "embedding_pc"]
    """What ``values`` holds: dF/F (fluorescence change over baseline, dimensionless), raw
    fluorescence, deconvolved event magnitude, or an image-embedding principal component."""
    roi_kind: Literal["neuron", "astrocyte_event", "image_patch", "unknown"]
    """What the region of interest is."""
    source_system: str
    """The data system the trace came from."""
    subject_id: str | None = None
    """The animal (e.g. Allen ``mouse_id``, OpenAstrocytes mouse)."""
    session_id: str | None = None
    """The recording session or experiment the trace belongs to."""
    structure: str | None = None
    """Targeted brain area, e.g. ``"VISp"``."""
    depth: Annotated[float | None, atdata.Unit("um")] = None
    """Imaging depth below the pia."""
    cell_class: str | None = None
    """Cell class or transgenic line, e.g. ``"Sst-IRES-Cre"``."""
    metadata: dict[str, Any] | None = None
    """Source-specific details that have no field here."""


@atdata.packable
class CalciumEvent:
    """One discrete calcium event: when it happened, where, how large, and its mean signal.

    Frame indices follow astroCAST's convention (``frame_end - frame_start`` frames long).
    """

    event_id: str
    """Identifier of the event, unique within its source system."""
    source_system: str
    """The data system the event came from."""
    frame_start: int
    """Index of the event's first frame."""
    frame_end: int
    """Index one past the event's last frame."""
    t_start: Annotated[float | None, atdata.Unit("s")] = None
    """Time of the first frame, when the frame times are known."""
    t_end: Annotated[float | None, atdata.Unit("s")] = None
    """Time of the last frame, when the frame times are known."""
    x: Annotated[float | None, atdata.Unit("px")] = None
    """Horizontal position of the event's centroid."""
    y: Annotated[float | None, atdata.Unit("px")] = None
    """Vertical position of the event's centroid."""
    x0: Annotated[int | None, atdata.Unit("px")] = None
    """Left edge of the event's bounding box."""
    x1: Annotated[int | None, atdata.Unit("px")] = None
    """Right edge of the event's bounding box."""
    y0: Annotated[int | None, atdata.Unit("px")] = None
    """Top edge of the event's bounding box."""
    y1: Annotated[int | None, atdata.Unit("px")] = None
    """Bottom edge of the event's bounding box."""
    area: Annotated[float | None, atdata.Unit("px")] = None
    """Number of pixels the event covers in its 2-D footprint."""
    amplitude: float | None = None
    """Height of the event's signal: astroCAST's ``v_max_height`` (max - min of its trace); for a
    transient found in a trace, its height above the trace's median."""
    trace: Annotated[NDArray[Any], atdata.Array("float64", (None,), ("time",))] | None = None
    """Mean signal over the event's pixels, one value per frame of the event."""
    subject_id: str | None = None
    """The animal or sample the event was recorded from."""
    group: str | None = None
    """Experimental group or condition of the recording."""
    metadata: dict[str, Any] | None = None
    """Source-specific details that have no field here."""


@atdata.packable
class Synapse:
    """One chemical synapse between two neuron segments, positioned in nanometres."""

    synapse_id: str
    """Identifier of the synapse within its source system."""
    pre_id: str
    """Identifier of the presynaptic neuron (segment)."""
    post_id: str
    """Identifier of the postsynaptic neuron (segment)."""
    position: Annotated[NDArray[Any], atdata.Array("float64", (3,), ("xyz",)), atdata.Unit("nm")]
    """Centre of the synaptic cleft, x, y, z."""
    source_system: str
    """The data system the synapse came from."""
    size: Annotated[float | None, atdata.Unit("voxel")] = None
    """Size of the synaptic cleft as detected (a voxel count in MICrONS)."""


@atdata.packable
class Connection:
    """All synapses from one neuron onto another, aggregated into one connection."""

    pre_id: str
    """Identifier of the presynaptic neuron."""
    post_id: str
    """Identifier of the postsynaptic neuron."""
    syn_count: int
    """Number of synapses from ``pre_id`` onto ``post_id``."""
    total_size: Annotated[float, atdata.Unit("voxel")]
    """Sum of the synapses' sizes (0 where sizes are unknown)."""
    synapse_ids: list[str]
    """Identifiers of the synapses that make up the connection."""
    source_system: str
    """The data system the synapses came from."""


def aggregate_connections(synapses: list[Synapse]) -> list[Connection]:
    """Group synapses by (pre, post) pair into connections, as a ``groupby`` over a synapse table does.

    Connections come out ordered by descending synapse count, then by ids, so the result is
    deterministic. Autapses (pre equals post) are kept; filter them first if unwanted.
    """
    groups: dict[tuple[str, str, str], list[Synapse]] = {}
    for syn in synapses:
        groups.setdefault((syn.pre_id, syn.post_id, syn.source_system), []).append(syn)
    connections = [
        Connection(
            pre_id=pre,
            post_id=post,
            syn_count=len(members),
            total_size=float(np.sum([m.size or 0.0 for m in members])),
            synapse_ids=[m.synapse_id for m in members],
            source_system=system,
        )
        for (pre, post, system), members in groups.items()
    ]
    connections.sort(key=lambda c: (-c.syn_count, c.pre_id, c.post_id))
    return connections


# --- lenses between shared types ------------------------------------------------------------
# Lens bodies are self-contained lens-dialect code (published and run on their own).


@atdata.lens(register=False)
def cell_trace_to_largest_transient(s: CellTrace) -> CalciumEvent:
    """The trace's largest transient as an event: the span around the maximum where the trace stays
    above half way between its median (the baseline) and that maximum."""
    values = s.values
    n = len(values)
    if n == 0:
        raise ValueError("trace " + s.trace_id + " is empty")
    peak = int(np.argmax(values))
    baseline = float(np.median(values))
    half = baseline + 0.5 * (float(values[peak]) - baseline)
    start = peak
    while start > 0 and values[start - 1] > half:
        start = start - 1
    end = peak + 1
    while end < n and values[end] > half:
        end = end + 1
    return CalciumEvent(
        event_id=s.trace_id + "/peak",
        source_system=s.source_system,
        frame_start=start,
        frame_end=end,
        t_start=float(s.timestamps[start]),
        t_end=float(s.timestamps[end - 1]),
        amplitude=float(values[peak]) - baseline,
        trace=np.array(values[start:end], dtype=np.float64),
        subject_id=s.subject_id,
        group=s.cell_class,
        metadata={
            "trace_id": s.trace_id,
            "quantity": s.quantity,
            "roi_kind": s.roi_kind,
            "session_id": s.session_id,
            "structure": s.structure,
            "depth_um": s.depth,
        },
    )


@atdata.lens(register=False)
def calcium_event_to_cell_trace(s: CalciumEvent) -> CellTrace:
    """An event's mean signal as a trace, timed from the event's first to last frame."""
    if s.trace is None:
        raise ValueError("event " + s.event_id + " has no trace")
    if s.t_start is None or s.t_end is None:
        raise ValueError("event " + s.event_id + " has no frame times (t_start, t_end)")
    n = len(s.trace)
    md = s.metadata or {}
    kind = md.get("roi_kind")
    if kind not in ["neuron", "astrocyte_event", "image_patch"]:
        kind = "astrocyte_event" if s.source_system == "astrocast" else "unknown"
    return CellTrace(
        trace_id=s.event_id,
        timestamps=np.linspace(s.t_start, s.t_end, n),
        values=np.array(s.trace, dtype=np.float64),
        quantity="fluorescence",
        roi_kind=kind,  # type: ignore[arg-type]  # one of the literals: checked above, and by pydantic
        source_system=s.source_system,
        subject_id=s.subject_id,
        metadata={"group": s.group, "frame_start": s.frame_start, "frame_end": s.frame_end},
    )


@atdata.lens(register=False)
def synapse_to_connection(s: Synapse) -> Connection:
    """One synapse as a connection of one synapse (aggregate many with :func:`aggregate_connections`)."""
    return Connection(
        pre_id=s.pre_id,
        post_id=s.post_id,
        syn_count=1,
        total_size=0.0 if s.size is None else float(s.size),
        synapse_ids=[s.synapse_id],
        source_system=s.source_system,
    )
