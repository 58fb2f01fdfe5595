"""astroCAST: event detection in astrocyte calcium movies, and its event table.

astroCAST's detector segments a movie into discrete events and characterizes each one; the
``Events`` object holds them as a table with one row per event. Its axes are ``z`` (time, in
frames), ``x`` and ``y`` (pixels). :class:`AstroCastEvent` is one row of that table with the
property columns as astroCAST documents them, plus the ``Events`` object's default custom
columns (``v_area_norm``, ``cx``, ``cy``) and its ``group``/``subject_id`` labels. Measures that
were not computed (or come from another system through a lens) are None.
"""

from typing import Annotated

import numpy as np
from numpy.typing import NDArray

import atdata
from atdata.catalog.shared import CalciumEvent


@atdata.packable
class AstroCastEvent:
    """One row of astroCAST's event table: an event's extent, shape measures and signal trace."""

    event_id: str
    """Index of the event in the table (prefixed when tables from several files are combined)."""
    z0: Annotated[int, atdata.Unit("frame")]
    """Start index of the event in the z (time) dimension."""
    z1: Annotated[int, atdata.Unit("frame")]
    """End index of the event in the z (time) dimension."""
    dz: Annotated[int, atdata.Unit("frame")]
    """Depth of the bounding box: the event's duration."""
    x0: Annotated[int | None, atdata.Unit("px")] = None
    """Bounding box start in x."""
    x1: Annotated[int | None, atdata.Unit("px")] = None
    """Bounding box end in x."""
    y0: Annotated[int | None, atdata.Unit("px")] = None
    """Bounding box start in y."""
    y1: Annotated[int | None, atdata.Unit("px")] = None
    """Bounding box end in y."""
    dx: Annotated[int | None, atdata.Unit("px")] = None
    """Width of the bounding box."""
    dy: Annotated[int | None, atdata.Unit("px")] = None
    """Height of the bounding box."""
    v_length: Annotated[int | None, atdata.Unit("frame")] = None
    """Length of the event in the z dimension."""
    v_diameter: Annotated[float | None, atdata.Unit("px")] = None
    """Diameter of the event."""
    v_area: Annotated[int | None, atdata.Unit("voxel")] = None
    """Total area covered by the event: the number of voxels carrying its id."""
    v_bbox_pix_num: Annotated[int | None, atdata.Unit("voxel")] = None
    """Number of voxels in the bounding box, dz * dx * dy."""
    v_mask_centroid_local: Annotated[NDArray, atdata.Array(shape=(3,), dims=("zxy",))] | None = None
    """Centroid of the event mask in z, x, y, each normalized by the bounding box size."""
    v_mask_axis_major_length: Annotated[float | None, atdata.Unit("px")] = None
    """Major axis of the ellipse with the same normalized second central moments as the region."""
    v_mask_axis_minor_length: Annotated[float | None, atdata.Unit("px")] = None
    """Minor axis of the ellipse with the same normalized second central moments as the region."""
    v_mask_extent: float | None = None
    """Ratio of pixels in the region to pixels in its bounding box."""
    v_mask_solidity: float | None = None
    """Proportion of the pixels in the convex hull that are also in the region."""
    v_mask_area: Annotated[int | None, atdata.Unit("px")] = None
    """Number of pixels in the region."""
    v_mask_equivalent_diameter_area: Annotated[float | None, atdata.Unit("px")] = None
    """Diameter of a circle with the same area as the region."""
    footprint: Annotated[NDArray, atdata.Array(shape=(None, None), dims=("x", "y"))] | None = None
    """The event's 2-D footprint: its extent in the x-y plane within the bounding box."""
    trace: Annotated[NDArray, atdata.Array(shape=(None,), dims=("z",))] | None = None
    """Average signal intensity of the event in each frame of its z span."""
    v_max_height: float | None = None
    """Peak signal intensity in the trace."""
    v_max_gradient: float | None = None
    """Steepest gradient in the trace."""
    v_noise_mask_mean: float | None = None
    """Mean of the trace of the surrounding noise mask."""
    v_noise_mask_std: float | None = None
    """Standard deviation of the noise mask trace."""
    v_signal_to_noise_ratio: float | None = None
    """Ratio of signal intensity to noise."""
    v_signal_to_noise_ratio_fold: float | None = None
    """Signal-to-noise ratio adjusted for the noise standard deviation."""
    error: int = 0
    """1 when a property calculation failed for this event, 0 otherwise."""
    cx: Annotated[float | None, atdata.Unit("px")] = None
    """Centroid of the event in x (custom column)."""
    cy: Annotated[float | None, atdata.Unit("px")] = None
    """Centroid of the event in y (custom column)."""
    v_area_norm: float | None = None
    """Event area normalized (custom column)."""
    t0: Annotated[float | None, atdata.Unit("s")] = None
    """Time of the event's first frame, from the Events object's frame-to-time mapping if it had one."""
    t1: Annotated[float | None, atdata.Unit("s")] = None
    """Time of the event's last frame, from the Events object's frame-to-time mapping if it had one."""
    group: str | None = None
    """Group or condition the events belong to."""
    subject_id: str | None = None
    """Subject the events were recorded from."""


# --- lenses -------------------------------------------------------------------------------


@atdata.lens
def astrocast_to_calcium_event(s: AstroCastEvent) -> CalciumEvent:
    """An astroCAST event row as a calcium event: extent, centroid, footprint area and trace."""
    x = s.cx
    y = s.cy
    if x is None and s.x0 is not None and s.x1 is not None:
        x = (s.x0 + s.x1) / 2.0
    if y is None and s.y0 is not None and s.y1 is not None:
        y = (s.y0 + s.y1) / 2.0
    area = s.v_mask_area
    if area is None and s.footprint is not None:
        area = int(np.count_nonzero(s.footprint))
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
        trace=None if s.trace is None else np.array(s.trace, dtype=np.float64),
        subject_id=s.subject_id,
        group=s.group,
        metadata={"v_area": s.v_area, "v_signal_to_noise_ratio": s.v_signal_to_noise_ratio, "error": s.error},
    )


@atdata.lens
def calcium_event_to_astrocast(s: CalciumEvent) -> AstroCastEvent:
    """A calcium event as an astroCAST event row, so astroCAST's event analyses can run on it.

    Extent, centroid, trace height and gradient are filled in; mask shape measures that need
    the event's voxels stay None.
    """
    dx = None
    dy = None
    if s.x0 is not None and s.x1 is not None:
        dx = s.x1 - s.x0
    if s.y0 is not None and s.y1 is not None:
        dy = s.y1 - s.y0
    height = s.amplitude
    gradient = None
    if s.trace is not None and len(s.trace) > 0:
        if height is None:
            height = float(np.max(s.trace))
        if len(s.trace) > 1:
            gradient = float(np.max(np.diff(s.trace)))
    return AstroCastEvent(
        event_id=s.event_id,
        z0=s.frame_start,
        z1=s.frame_end,
        dz=s.frame_end - s.frame_start,
        x0=s.x0,
        x1=s.x1,
        y0=s.y0,
        y1=s.y1,
        dx=dx,
        dy=dy,
        v_length=s.frame_end - s.frame_start,
        v_mask_area=None if s.area is None else int(s.area),
        trace=s.trace,
        v_max_height=height,
        v_max_gradient=gradient,
        cx=s.x,
        cy=s.y,
        t0=s.t_start,
        t1=s.t_end,
        group=s.group,
        subject_id=s.subject_id,
    )
