"""astroCAST: event detection in astrocyte calcium movies, and its event table.

astroCAST's detector (``astrocast.detection.Detector``, ``_characterize_event``) writes one dict of
properties per event to ``events.npy``; ``astrocast.analysis.Events`` loads it as
``pd.DataFrame(events).transpose()`` (every column of dtype object, holding numpy scalars and
arrays), sorts it by event key and adds its custom columns (``v_area_norm``, ``cx``, ``cy``) and the
``file_name``, ``group`` and ``subject_id`` labels. :class:`AstroCastEvent` is one row of that table
with the columns and shapes that code produces (spatial columns are optional only so that events
found in other systems' traces can be rows too): ``mask`` and ``footprint`` are *flattened* boolean
arrays (of the ``(dz, dx, dy)`` bounding box and its ``(dx, dy)`` plane), ``contours`` a list of
``(n, 3)`` arrays, regionprops results split into ``-0``/``-1``/``-2`` columns
(``v_mask_centroid_local-0`` is the field ``v_mask_centroid_local_0``), and ``v_max_height`` is
``max(trace) - min(trace)``. Mask measures exist only for events longer than one frame (NaN
otherwise, kept as NaN). Write the table with ``ShardWriter.write_dataframe(events,
index_as="event_id")``: no column needs mapping by hand.
"""

from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray

import atdata
from atdata.catalog.shared import CalciumEvent

_FLAT = atdata.Array(shape=(None,))


@atdata.packable
class AstroCastEvent:
    """One row of astroCAST's event table: an event's extent, shape measures and signal traces."""

    event_id: str
    """Key of the event in the table (``<event dir>_<n>``, with ``index_prefix`` when tables are combined)."""
    z0: Annotated[int, atdata.Unit("frame")]
    """Start index of the event in the z (time) dimension."""
    z1: Annotated[int, atdata.Unit("frame")]
    """End index (exclusive) of the event in the z (time) dimension."""
    x0: Annotated[int | None, atdata.Unit("px")] = None
    """Bounding box start in x."""
    x1: Annotated[int | None, atdata.Unit("px")] = None
    """Bounding box end (exclusive) in x."""
    y0: Annotated[int | None, atdata.Unit("px")] = None
    """Bounding box start in y."""
    y1: Annotated[int | None, atdata.Unit("px")] = None
    """Bounding box end (exclusive) in y."""
    dz: Annotated[int, atdata.Unit("frame")]
    """Depth of the bounding box: the event's duration, z1 - z0."""
    dx: Annotated[int | None, atdata.Unit("px")] = None
    """Width of the bounding box, x1 - x0."""
    dy: Annotated[int | None, atdata.Unit("px")] = None
    """Height of the bounding box, y1 - y0."""
    v_length: Annotated[int, atdata.Unit("frame")]
    """Length of the event in the z dimension (equals dz)."""
    v_diameter: Annotated[float | None, atdata.Unit("px")] = None
    """Diagonal of the bounding box in the x-y plane, sqrt(dx^2 + dy^2)."""
    v_area: Annotated[int | None, atdata.Unit("voxel")] = None
    """Number of voxels carrying the event's id."""
    v_bbox_pix_num: Annotated[int | None, atdata.Unit("voxel")] = None
    """Number of voxels in the bounding box, dz * dx * dy."""
    mask: Annotated[NDArray[Any], _FLAT] | None = None
    """The event's voxels in its bounding box, flattened from ``(dz, dx, dy)`` (True inside)."""
    footprint: Annotated[NDArray[Any], _FLAT] | None = None
    """The event's 2-D footprint (any frame), flattened from ``(dx, dy)``."""
    trace: Annotated[NDArray[Any], atdata.Array(shape=(None,), dims=("z",))]
    """Mean signal over the event's pixels in each frame of its z span."""
    v_max_height: float
    """Height of the trace: max(trace) - min(trace)."""
    contours: list[Annotated[NDArray[Any], atdata.Array(shape=(None, 3), dims=("point", "zxy"))]] | None = (
        None
    )
    """Contours of the event in each of its frames, each an ``(n, 3)`` array of (z, x, y) points."""
    noise_mask_trace: Annotated[NDArray[Any], atdata.Array(shape=(None,), dims=("z",))] | None = None
    """Mean signal over the bounding box's pixels outside the event, per frame."""
    v_max_gradient: float | None = None
    """Steepest rise of the trace, max(diff(trace)) (NaN/None for one-frame events)."""
    v_noise_mask_mean: float | None = None
    """Mean of the noise mask trace."""
    v_noise_mask_std: float | None = None
    """Standard deviation of the noise mask trace."""
    v_signal_to_noise_ratio: float | None = None
    """|v_max_height / v_noise_mask_mean| (None when the noise mean is 0)."""
    v_signal_to_noise_ratio_fold: float | None = None
    """|signal-to-noise ratio / v_noise_mask_std|."""
    error: int = 0
    """1 when a property calculation failed for this event, 0 otherwise."""
    v_mask_centroid_local_0: float | None = None
    """Centroid of the event mask in z, normalized by dz (column ``v_mask_centroid_local-0``)."""
    v_mask_centroid_local_1: float | None = None
    """Centroid of the event mask in x, normalized by dx (column ``v_mask_centroid_local-1``)."""
    v_mask_centroid_local_2: float | None = None
    """Centroid of the event mask in y, normalized by dy (column ``v_mask_centroid_local-2``)."""
    v_mask_axis_major_length: Annotated[float | None, atdata.Unit("px")] = None
    """Major axis of the ellipse with the region's normalized second central moments."""
    v_mask_axis_minor_length: Annotated[float | None, atdata.Unit("px")] = None
    """Minor axis of that ellipse."""
    v_mask_extent: float | None = None
    """Ratio of the region's voxels to its bounding box's."""
    v_mask_solidity: float | None = None
    """Proportion of the convex hull's voxels that are in the region."""
    v_mask_area: Annotated[float | None, atdata.Unit("voxel")] = None
    """Number of voxels in the region (regionprops ``area``)."""
    v_mask_equivalent_diameter_area: Annotated[float | None, atdata.Unit("px")] = None
    """Diameter of a sphere with the region's volume."""
    v_fp_centroid_local_0: float | None = None
    """Footprint centroid in x, normalized by dx (column ``v_fp_centroid_local-0``)."""
    v_fp_centroid_local_1: float | None = None
    """Footprint centroid in y, normalized by dy (column ``v_fp_centroid_local-1``)."""
    v_fp_axis_major_length: Annotated[float | None, atdata.Unit("px")] = None
    """Footprint: major axis length."""
    v_fp_axis_minor_length: Annotated[float | None, atdata.Unit("px")] = None
    """Footprint: minor axis length."""
    v_fp_eccentricity: float | None = None
    """Footprint: eccentricity of its ellipse."""
    v_fp_equivalent_diameter_area: Annotated[float | None, atdata.Unit("px")] = None
    """Footprint: diameter of a circle of the same area."""
    v_fp_extent: float | None = None
    """Footprint: ratio of its pixels to its bounding box's."""
    v_fp_feret_diameter_max: Annotated[float | None, atdata.Unit("px")] = None
    """Footprint: maximum Feret diameter."""
    v_fp_orientation: Annotated[float | None, atdata.Unit("rad")] = None
    """Footprint: angle of the major axis."""
    v_fp_perimeter: Annotated[float | None, atdata.Unit("px")] = None
    """Footprint: perimeter."""
    v_fp_solidity: float | None = None
    """Footprint: proportion of its convex hull it fills."""
    v_fp_area: Annotated[float | None, atdata.Unit("px")] = None
    """Footprint: number of pixels."""
    v_fp_area_convex: Annotated[float | None, atdata.Unit("px")] = None
    """Footprint: pixels of its convex hull."""
    v_fp_cx: Annotated[float | None, atdata.Unit("px")] = None
    """Footprint centroid in global x (x0 + local centroid)."""
    v_fp_cy: Annotated[float | None, atdata.Unit("px")] = None
    """Footprint centroid in global y (y0 + local centroid)."""
    v_area_norm: float | None = None
    """Custom column: v_area / dz."""
    cx: Annotated[float | None, atdata.Unit("px")] = None
    """Custom column: x0 + dx * v_fp_centroid_local-0."""
    cy: Annotated[float | None, atdata.Unit("px")] = None
    """Custom column: y0 + dy * v_fp_centroid_local-1."""
    t0: Annotated[float | None, atdata.Unit("s")] = None
    """Time of the event's first frame, when a frame-to-time mapping is known."""
    t1: Annotated[float | None, atdata.Unit("s")] = None
    """Time of the event's last frame, when a frame-to-time mapping is known."""
    file_name: str | None = None
    """The event directory the row was loaded from."""
    group: str | None = None
    """Group or condition the events belong to."""
    subject_id: str | None = None
    """Subject the events were recorded from."""


# --- lenses -------------------------------------------------------------------------------


@atdata.lens(register=False)
def astrocast_to_calcium_event(s: AstroCastEvent) -> CalciumEvent:
    """An astroCAST event row as a calcium event: extent, centroid, footprint area and trace."""
    x = s.cx
    y = s.cy
    if x is None and s.x0 is not None and s.x1 is not None:
        x = (s.x0 + s.x1) / 2.0
    if y is None and s.y0 is not None and s.y1 is not None:
        y = (s.y0 + s.y1) / 2.0
    area = s.v_fp_area
    if area is None and s.footprint is not None:
        area = float(np.count_nonzero(s.footprint))
    return CalciumEvent(
        event_id=s.event_id,
        source_system="astrocast",
        frame_start=s.z0,
        frame_end=s.z1,
        t_start=s.t0,
        t_end=s.t1,
        x=None if x is None else float(x),
        y=None if y is None else float(y),
        x0=s.x0,
        x1=s.x1,
        y0=s.y0,
        y1=s.y1,
        area=None if area is None else float(area),
        amplitude=s.v_max_height,
        trace=np.array(s.trace, dtype=np.float64),
        subject_id=s.subject_id,
        group=s.group,
        metadata={
            "v_area": s.v_area,
            "v_signal_to_noise_ratio": s.v_signal_to_noise_ratio,
            "error": s.error,
            "file_name": s.file_name,
        },
    )


@atdata.lens(register=False)
def calcium_event_to_astrocast(s: CalciumEvent) -> AstroCastEvent:
    """A calcium event as an astroCAST event row, so astroCAST's event analyses can run on it.

    Needs the event's trace. Trace height and gradient are computed as astroCAST does (max - min,
    max of the differences); the bounding box comes along when the event has one, while the voxel
    mask and the measures made from it are unknown and stay None.
    """
    if s.trace is None or len(s.trace) == 0:
        raise ValueError("event " + s.event_id + " has no trace")
    dz = s.frame_end - s.frame_start
    dx = None
    dy = None
    if s.x0 is not None and s.x1 is not None:
        dx = s.x1 - s.x0
    if s.y0 is not None and s.y1 is not None:
        dy = s.y1 - s.y0
    diameter = None
    pixels = None
    if dx is not None and dy is not None:
        diameter = float(np.sqrt(dx * dx + dy * dy))
        pixels = dz * dx * dy
    trace = np.array(s.trace, dtype=np.float64)
    gradient = None
    if len(trace) > 1:
        gradient = float(np.max(np.diff(trace)))
    return AstroCastEvent(
        event_id=s.event_id,
        z0=s.frame_start,
        z1=s.frame_end,
        x0=s.x0,
        x1=s.x1,
        y0=s.y0,
        y1=s.y1,
        dz=dz,
        dx=dx,
        dy=dy,
        v_length=dz,
        v_diameter=diameter,
        v_bbox_pix_num=pixels,
        trace=trace,
        v_max_height=float(np.max(trace) - np.min(trace)),
        v_max_gradient=gradient,
        v_fp_area=s.area,
        cx=s.x,
        cy=s.y,
        t0=s.t_start,
        t1=s.t_end,
        group=s.group,
        subject_id=s.subject_id,
    )
