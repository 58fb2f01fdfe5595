"""OpenAstrocytes: two-photon calcium imaging of mouse astrocytes in cortical slices, and its embeddings.

Two experiments: *bath application* (baclofen or t-ACPD added to the bath after a baseline;
the compound enters the bath 300 s after recording onset) and *two-photon uncaging*
(RuBi-GABA or RuBi-glutamate freed by a laser pulse, or the laser alone as control).

Frames arrive as the generic :class:`Frame` (an image plus a metadata dict). The metadata
layout the lenses read is::

    {"_source_filename": "2019-03-14_mouse3_slice2_fov1_bath_bacloffen_50uM.tif",
     "uuid": "d22f6a65-...", "date_acquired": "2019-03-14",
     "frame": {"t_index": 12, "t": 11.6}, "scale": {"x": 1.2, "y": 1.2}}

plus optional explicit overrides (``compound``, ``protocol``, ``mouse_id``, ``slice_id``,
``fov_id``, ``is_test``, ``t_intervention``) that win over what the file name says. From the
file name (lower-cased, separators ignored) the lenses read: the protocol (``bath``,
``uncag``/``rubi``), the compound with the spelling aliases seen in the data (``bacloffen``,
``t-ACPD``, ``RuBi-GABA``, ``glutamate``, ...), ``mouse<N>``, ``slice<N>``, ``fov<N>`` (or the
number as the next token) and a ``test`` token marking held-out movies.

The embedding types follow the article's DINOv3 analysis: each frame is cut into a 14 x 14 grid
of ~60 um patches, each patch gets a 4096-dimensional embedding, and a 64-component PCA basis
fitted over the corpus projects those onto the subspace the astrocyte images occupy.
"""

from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray

import atdata
from atdata.catalog.shared import CellTrace, ImagingFrame

BATH_INTERVENTION_S = 300.0
"""When the applied compound begins to enter the bath, seconds after recording onset."""


@atdata.packable
class Frame:
    """A generic microscope frame: an image and whatever metadata the acquisition software wrote."""

    image: NDArray
    """Pixel intensities (OpenAstrocytes frames are channel-first, ``(1, H, W)``)."""
    metadata: dict[str, Any] | None = None
    """Acquisition metadata as written by the microscope export (layout in the module docstring)."""


_FRAME_IMAGE = atdata.Array(shape=(None, None, None), dims=("channel", "y", "x"))


@atdata.packable
class AstrocyteRecordingFrame:
    """An OpenAstrocytes frame whose recording identity (protocol, compound, mouse, slice, field of
    view) has been parsed from the source file name, before choosing an experiment's type."""

    image: Annotated[NDArray, _FRAME_IMAGE]
    """Pixel intensities, channel first."""
    t_index: int
    """Index of the frame within its movie, from 0."""
    t: Annotated[float, atdata.Unit("s")]
    """Acquisition time relative to recording onset."""
    protocol: Literal["bath_application", "uncaging", "unknown"]
    """Which OpenAstrocytes experiment the movie belongs to."""
    compound: str | None = None
    """Canonical compound label: ``baclofen``, ``tacpd``, ``gaba``, ``glu`` or ``laser_only``."""
    t_intervention: Annotated[float | None, atdata.Unit("s")] = None
    """When the intervention (bath application or uncaging pulse) began, relative to recording onset."""
    is_test: bool = False
    """Whether the movie is held out as test data."""
    date_acquired: str | None = None
    """Date the movie was acquired, ISO 8601."""
    mouse_id: str | None = None
    """The mouse the slice came from."""
    slice_id: str | None = None
    """The slice within that mouse."""
    fov_id: str | None = None
    """The imaged field of view within that slice."""
    movie_uuid: str | None = None
    """Microscope-supplied UUID of the movie."""
    scale_x: Annotated[float | None, atdata.Unit("um/px")] = None
    """Width of one pixel."""
    scale_y: Annotated[float | None, atdata.Unit("um/px")] = None
    """Height of one pixel."""
    source_filename: str | None = None
    """Name of the file the movie was read from."""


@atdata.packable
class BathApplicationFrame:
    """A frame from a bath-application experiment: baclofen (GABA-B agonist) or t-ACPD (mGluR
    agonist) added to the solution bathing the whole slice after a baseline period."""

    applied_compound: Literal["baclofen", "tacpd", "unknown"]
    """The compound applied to the bath."""
    image: Annotated[NDArray, _FRAME_IMAGE]
    """Pixel intensities, channel first, ``(1, H, W)``."""
    t_index: int
    """Index of the frame within its movie, from 0."""
    t: Annotated[float, atdata.Unit("s")]
    """Acquisition time relative to recording onset."""
    t_intervention: Annotated[float | None, atdata.Unit("s")] = None
    """When the compound began to enter the bath, relative to recording onset (300 s in this data)."""
    is_test: bool = False
    """Whether the movie is held out as test data."""
    date_acquired: str | None = None
    """Date the movie was acquired, ISO 8601."""
    mouse_id: str | None = None
    """The mouse the slice came from."""
    slice_id: str | None = None
    """The slice within that mouse."""
    fov_id: str | None = None
    """The imaged field of view within that slice."""
    movie_uuid: str | None = None
    """Microscope-supplied UUID of the movie."""
    scale_x: Annotated[float | None, atdata.Unit("um/px")] = None
    """Width of one pixel."""
    scale_y: Annotated[float | None, atdata.Unit("um/px")] = None
    """Height of one pixel."""


@atdata.packable
class UncagingFrame:
    """A frame from a two-photon uncaging experiment: RuBi-GABA or RuBi-glutamate freed within a
    ~10 um locus by a laser pulse after a baseline period, or the laser alone as control."""

    uncaged_compound: Literal["gaba", "glu", "laser_only", "unknown"]
    """The neurotransmitter freed from its cage (``laser_only``: the control without a cage)."""
    image: Annotated[NDArray, _FRAME_IMAGE]
    """Pixel intensities, channel first, ``(1, H, W)``."""
    t_index: int
    """Index of the frame within its movie, from 0."""
    t: Annotated[float, atdata.Unit("s")]
    """Acquisition time relative to recording onset."""
    t_intervention: Annotated[float | None, atdata.Unit("s")] = None
    """When the uncaging pulse was delivered, relative to recording onset."""
    is_test: bool = False
    """Whether the movie is held out as test data."""
    date_acquired: str | None = None
    """Date the movie was acquired, ISO 8601."""
    mouse_id: str | None = None
    """The mouse the slice came from."""
    slice_id: str | None = None
    """The slice within that mouse."""
    fov_id: str | None = None
    """The imaged field of view within that slice."""
    movie_uuid: str | None = None
    """Microscope-supplied UUID of the movie."""
    scale_x: Annotated[float | None, atdata.Unit("um/px")] = None
    """Width of one pixel."""
    scale_y: Annotated[float | None, atdata.Unit("um/px")] = None
    """Height of one pixel."""


@atdata.packable
class PCABasis:
    """A principal-component basis fitted over a corpus of embeddings."""

    name: str
    """Name of the basis, e.g. ``"bath_app-dinov3_vit7b16-pca64"``."""
    mean: Annotated[NDArray, atdata.Array("float32", (None,), ("feature",))]
    """Mean embedding subtracted before projecting."""
    components: Annotated[NDArray, atdata.Array("float32", (None, None), ("component", "feature"))]
    """Unit-length principal axes, one row per component, in decreasing order of variance."""


@atdata.packable
class EmbeddingResult:
    """Image-model embeddings of one frame: one feature vector per patch of a grid over the image."""

    patch_embeddings: Annotated[
        NDArray, atdata.Array("float32", (None, None, None), ("patch_y", "patch_x", "feature"))
    ]
    """Embedding of each patch (DINOv3 ViT-7B/16: a 14 x 14 grid of 4096-dimensional vectors)."""
    t_index: int
    """Index of the embedded frame within its movie."""
    t: Annotated[float, atdata.Unit("s")]
    """Acquisition time of the embedded frame relative to recording onset."""
    model: str
    """The embedding model, e.g. ``"dinov3-vit7b16-pretrain-lvd1689m"``."""
    movie_uuid: str | None = None
    """UUID of the movie the frame belongs to."""
    pca: PCABasis | None = None
    """The corpus PCA basis to project onto, carried with the result so the projection needs nothing else."""
    metadata: dict[str, Any] | None = None
    """Metadata of the source frame (compound, concentration, ...)."""


@atdata.packable
class EmbeddingPCResult:
    """Patch embeddings of one frame projected onto a corpus PCA basis."""

    patch_pcs: Annotated[
        NDArray, atdata.Array("float32", (None, None, None), ("patch_y", "patch_x", "component"))
    ]
    """Coordinates of each patch's embedding along each principal component."""
    t_index: int
    """Index of the embedded frame within its movie."""
    t: Annotated[float, atdata.Unit("s")]
    """Acquisition time of the embedded frame relative to recording onset."""
    basis: str
    """Name of the PCA basis projected onto."""
    model: str
    """The embedding model."""
    movie_uuid: str | None = None
    """UUID of the movie the frame belongs to."""
    metadata: dict[str, Any] | None = None
    """Metadata of the source frame."""


@atdata.packable
class PatchEmbeddingTrace:
    """The time course of one image patch's embedding principal components over a whole movie."""

    values: Annotated[NDArray, atdata.Array(shape=(None, None), dims=("component", "time"))]
    """PC coordinates of the patch, one row per component (64 in the article), one column per frame."""
    ts: Annotated[NDArray, atdata.Array(shape=(None,), dims=("time",)), atdata.Unit("s")]
    """Time of each column relative to recording onset."""
    i_patch: int
    """Row of the patch in the grid (0..13, top to bottom)."""
    j_patch: int
    """Column of the patch in the grid (0..13, left to right)."""
    metadata: dict[str, Any] | None = None
    """Movie metadata: ``uuid``, ``compound``, ``concentration`` (uM), ..."""


# --- lenses -------------------------------------------------------------------------------
# Lens bodies are lens-dialect code. Publishing extracts each lens with the helpers and constants
# it uses, so the one-hop shortcuts and the three-hop path share their parsing by construction.

COMPOUND_ALIASES = (
    ("baclofen", ("baclofen", "bacloffen")),
    ("tacpd", ("tacpd", "transacpd")),
    ("gaba", ("gaba",)),
    ("glu", ("glutamate", "glu")),
    ("laser_only", ("laseronly", "laseralone", "nocage")),
)
"""Canonical compound label and the spellings (lower case, separators removed) that mean it."""

BATH_COMPOUNDS = ("baclofen", "tacpd")
UNCAGING_COMPOUNDS = ("gaba", "glu", "laser_only")


def _acquisition(image: NDArray, md: dict[str, Any]) -> dict[str, Any]:
    """Frame timing, movie, date and pixel scale from a generic frame's metadata."""
    frame = md["frame"]
    scale = md.get("scale") or {}
    sx = scale.get("x")
    sy = scale.get("y")
    if image.ndim == 2:
        image = np.expand_dims(image, 0)
    return {
        "image": image,
        "t_index": int(frame["t_index"]),
        "t": float(frame["t"]),
        "movie": md.get("uuid"),
        "date_acquired": md.get("date_acquired"),
        "scale_x": None if sx is None else float(sx),
        "scale_y": None if sy is None else float(sy),
    }


def _tokens(text: str) -> list[str]:
    """Lower-case words of ``text``, splitting on anything that is not a letter or digit."""
    kept = ""
    for ch in text.lower():
        kept = kept + (ch if ch.isalnum() else " ")
    return kept.split()


def _recording_identity(filename: str | None, md: dict[str, Any]) -> dict[str, Any]:
    """Protocol, compound, mouse/slice/fov ids, test flag and intervention time of a recording.

    Read from the file name; explicit metadata keys of the same names win.
    """
    tokens = _tokens(filename or "")
    squashed = "".join(tokens)
    override = md.get("compound")
    text = squashed if override is None else "".join(_tokens(str(override)))
    compound = None
    for canonical, spellings in COMPOUND_ALIASES:
        for spelling in spellings:
            if compound is None and spelling in text:
                compound = canonical
    protocol = md.get("protocol")
    if protocol is None:
        if "bath" in squashed or compound in BATH_COMPOUNDS:
            protocol = "bath_application"
        elif "uncag" in squashed or "rubi" in squashed or compound in UNCAGING_COMPOUNDS:
            protocol = "uncaging"
        else:
            protocol = "unknown"
    ids: dict[str, str] = {}
    for i, token in enumerate(tokens):
        for prefix in ("mouse", "slice", "fov"):
            number = token[len(prefix) :]
            if token.startswith(prefix) and number.isdigit():
                ids[prefix] = number
            elif token == prefix and i + 1 < len(tokens) and tokens[i + 1].isdigit():
                ids[prefix] = tokens[i + 1]
    t_intervention = md.get("t_intervention")
    if t_intervention is None and protocol == "bath_application":
        t_intervention = BATH_INTERVENTION_S
    is_test = md.get("is_test")
    if is_test is None:
        is_test = "test" in tokens
    identity = {
        "protocol": protocol,
        "compound": compound,
        "t_intervention": None if t_intervention is None else float(t_intervention),
        "is_test": bool(is_test),
    }
    for key in ("mouse", "slice", "fov"):
        value = md.get(key + "_id", ids.get(key))
        identity[key + "_id"] = None if value is None else str(value)
    return identity


@atdata.lens
def frame_to_imaging_frame(s: Frame) -> ImagingFrame:
    """Parse a generic frame's acquisition metadata (time, movie, scale, file name) into fields."""
    md = s.metadata or {}
    acq = _acquisition(s.image, md)
    interpreted = ("frame", "scale", "uuid", "date_acquired", "_source_filename", "source_system")
    rest = {}
    for key in md:
        if key not in interpreted:
            rest[key] = md[key]
    return ImagingFrame(
        image=acq["image"],
        t_index=acq["t_index"],
        t=acq["t"],
        source_system=str(md.get("source_system") or "unknown"),
        movie_id=acq["movie"],
        date_acquired=acq["date_acquired"],
        scale_x=acq["scale_x"],
        scale_y=acq["scale_y"],
        source_filename=md.get("_source_filename"),
        metadata=rest or None,
    )


@frame_to_imaging_frame.putter
def frame_to_imaging_frame_put(view: ImagingFrame, source: Frame) -> Frame:
    """Write an imaging frame's fields back into the generic frame's metadata layout."""
    md = dict(view.metadata or {})
    md["frame"] = {"t_index": view.t_index, "t": view.t}
    for key, value in (
        ("uuid", view.movie_id),
        ("date_acquired", view.date_acquired),
        ("_source_filename", view.source_filename),
    ):
        if value is None:
            md.pop(key, None)
        else:
            md[key] = value
    if view.scale_x is None and view.scale_y is None:
        md.pop("scale", None)
    else:
        md["scale"] = {"x": view.scale_x, "y": view.scale_y}
    if view.source_system == "unknown":
        md.pop("source_system", None)
    else:
        md["source_system"] = view.source_system
    image = view.image
    if source.image.ndim == 2 and image.shape[0] == 1:
        image = image[0]
    return Frame(image=image, metadata=md)


@atdata.lens
def imaging_to_recording_frame(s: ImagingFrame) -> AstrocyteRecordingFrame:
    """Read the OpenAstrocytes recording identity from the file name, with explicit metadata winning."""
    ident = _recording_identity(s.source_filename, s.metadata or {})
    return AstrocyteRecordingFrame(
        image=s.image,
        t_index=s.t_index,
        t=s.t,
        protocol=ident["protocol"],
        compound=ident["compound"],
        t_intervention=ident["t_intervention"],
        is_test=ident["is_test"],
        date_acquired=s.date_acquired,
        mouse_id=ident["mouse_id"],
        slice_id=ident["slice_id"],
        fov_id=ident["fov_id"],
        movie_uuid=s.movie_id,
        scale_x=s.scale_x,
        scale_y=s.scale_y,
        source_filename=s.source_filename,
    )


@atdata.lens
def recording_to_bath_application(s: AstrocyteRecordingFrame) -> BathApplicationFrame:
    """A recording frame as a bath-application frame; compounds other than baclofen and t-ACPD: unknown."""
    return BathApplicationFrame(
        applied_compound=s.compound if s.compound in BATH_COMPOUNDS else "unknown",
        image=s.image,
        t_index=s.t_index,
        t=s.t,
        t_intervention=s.t_intervention,
        is_test=s.is_test,
        date_acquired=s.date_acquired,
        mouse_id=s.mouse_id,
        slice_id=s.slice_id,
        fov_id=s.fov_id,
        movie_uuid=s.movie_uuid,
        scale_x=s.scale_x,
        scale_y=s.scale_y,
    )


@atdata.lens
def recording_to_uncaging(s: AstrocyteRecordingFrame) -> UncagingFrame:
    """A recording frame as an uncaging frame; compounds other than GABA, glutamate, laser: unknown."""
    return UncagingFrame(
        uncaged_compound=s.compound if s.compound in UNCAGING_COMPOUNDS else "unknown",
        image=s.image,
        t_index=s.t_index,
        t=s.t,
        t_intervention=s.t_intervention,
        is_test=s.is_test,
        date_acquired=s.date_acquired,
        mouse_id=s.mouse_id,
        slice_id=s.slice_id,
        fov_id=s.fov_id,
        movie_uuid=s.movie_uuid,
        scale_x=s.scale_x,
        scale_y=s.scale_y,
    )


@atdata.lens
def frame_to_bath_application(s: Frame) -> BathApplicationFrame:
    """The one-hop shortcut: a generic frame straight to a bath-application frame.

    Gives the same result as the three-hop path through ImagingFrame and AstrocyteRecordingFrame.
    """
    md = s.metadata or {}
    acq = _acquisition(s.image, md)
    ident = _recording_identity(md.get("_source_filename"), md)
    return BathApplicationFrame(
        applied_compound=ident["compound"] if ident["compound"] in BATH_COMPOUNDS else "unknown",
        image=acq["image"],
        t_index=acq["t_index"],
        t=acq["t"],
        t_intervention=ident["t_intervention"],
        is_test=ident["is_test"],
        date_acquired=acq["date_acquired"],
        mouse_id=ident["mouse_id"],
        slice_id=ident["slice_id"],
        fov_id=ident["fov_id"],
        movie_uuid=acq["movie"],
        scale_x=acq["scale_x"],
        scale_y=acq["scale_y"],
    )


@atdata.lens
def frame_to_uncaging(s: Frame) -> UncagingFrame:
    """The one-hop shortcut: a generic frame straight to an uncaging frame."""
    md = s.metadata or {}
    acq = _acquisition(s.image, md)
    ident = _recording_identity(md.get("_source_filename"), md)
    return UncagingFrame(
        uncaged_compound=ident["compound"] if ident["compound"] in UNCAGING_COMPOUNDS else "unknown",
        image=acq["image"],
        t_index=acq["t_index"],
        t=acq["t"],
        t_intervention=ident["t_intervention"],
        is_test=ident["is_test"],
        date_acquired=acq["date_acquired"],
        mouse_id=ident["mouse_id"],
        slice_id=ident["slice_id"],
        fov_id=ident["fov_id"],
        movie_uuid=acq["movie"],
        scale_x=acq["scale_x"],
        scale_y=acq["scale_y"],
    )


@atdata.lens
def bath_application_to_imaging_frame(s: BathApplicationFrame) -> ImagingFrame:
    """Forget the experiment: a bath-application frame as a plain imaging frame.

    The experiment's labels travel in ``metadata`` under the override keys the recording lens
    reads, so the way back to BathApplicationFrame recovers them.
    """
    return ImagingFrame(
        image=s.image,
        t_index=s.t_index,
        t=s.t,
        source_system="openastrocytes",
        movie_id=s.movie_uuid,
        date_acquired=s.date_acquired,
        scale_x=s.scale_x,
        scale_y=s.scale_y,
        metadata={
            "protocol": "bath_application",
            "compound": s.applied_compound,
            "t_intervention": s.t_intervention,
            "is_test": s.is_test,
            "mouse_id": s.mouse_id,
            "slice_id": s.slice_id,
            "fov_id": s.fov_id,
        },
    )


@atdata.lens
def uncaging_to_imaging_frame(s: UncagingFrame) -> ImagingFrame:
    """Forget the experiment: an uncaging frame as a plain imaging frame (labels kept in metadata)."""
    return ImagingFrame(
        image=s.image,
        t_index=s.t_index,
        t=s.t,
        source_system="openastrocytes",
        movie_id=s.movie_uuid,
        date_acquired=s.date_acquired,
        scale_x=s.scale_x,
        scale_y=s.scale_y,
        metadata={
            "protocol": "uncaging",
            "compound": s.uncaged_compound,
            "t_intervention": s.t_intervention,
            "is_test": s.is_test,
            "mouse_id": s.mouse_id,
            "slice_id": s.slice_id,
            "fov_id": s.fov_id,
        },
    )


@atdata.lens
def patch_pc_projection(s: EmbeddingResult) -> EmbeddingPCResult:
    """Project every patch embedding onto the corpus PCA basis carried with the result."""
    if s.pca is None:
        raise ValueError("EmbeddingResult has no pca basis to project onto")
    centered = s.patch_embeddings - s.pca.mean
    pcs = np.matmul(centered, np.transpose(s.pca.components))
    return EmbeddingPCResult(
        patch_pcs=pcs.astype(np.float32),
        t_index=s.t_index,
        t=s.t,
        basis=s.pca.name,
        model=s.model,
        movie_uuid=s.movie_uuid,
        metadata=s.metadata,
    )


@atdata.lens
def patch_trace_to_cell_trace(s: PatchEmbeddingTrace) -> CellTrace:
    """A patch's first embedding principal component over time, as the trace of an image-patch ROI."""
    md = s.metadata or {}
    uuid = str(md.get("uuid") or "unknown")
    extra = {"i_patch": s.i_patch, "j_patch": s.j_patch, "component": 0}
    for key in md:
        extra[key] = md[key]
    return CellTrace(
        trace_id=uuid + "/patch/" + str(s.i_patch) + "," + str(s.j_patch),
        timestamps=np.asarray(s.ts, dtype=np.float64),
        values=np.asarray(s.values[0], dtype=np.float64),
        quantity="embedding_pc",
        roi_kind="image_patch",
        source_system="openastrocytes",
        subject_id=None if md.get("mouse_id") is None else str(md.get("mouse_id")),
        session_id=uuid,
        metadata=extra,
    )
