"""OpenAstrocytes: two-photon calcium imaging of mouse astrocytes in cortical slices, and its embeddings.

Two experiments: *bath application* (baclofen or t-ACPD added to the bath after a baseline;
the compound enters the bath 300 s after recording onset) and *two-photon uncaging*
(RuBi-GABA or RuBi-glutamate freed by a laser pulse, or the laser alone as control).

Frames arrive as the generic :class:`Frame` (toile's ``Frame``: a 2-D image plus a metadata dict),
in the layout the toolkit's own lenses read (``forecast-bio/open-astrocytes``,
``src/astrocytes/_datasets/_bath_application.py`` and ``_uncaging.py``)::

    {"_source_filename": "2019-03-14_mouse3_slice2_fov1_bath_bacloffen_50uM.tif",
     "uuid": "d22f6a65-...", "date_acquired": "2019-03-14",
     "frame": {"t_index": 12, "t": 11.6}, "scale_x": 1.2, "scale_y": 1.2}

(an older nested ``"scale": {"x": .., "y": ..}`` is read too) plus optional explicit overrides
(``compound``, ``protocol``, ``mouse_id``, ``slice_id``, ``fov_id``, ``is_test``,
``t_intervention``) that win over what the file name says. From the file name the lenses read, as
the toolkit does: the compound by the toolkit's aliases (``bacloffen``, ``tcapd``, ``rubigaba``,
``rubiglutamate``, ``norubi`` = laser only, ...), the protocol (``bath``, ``uncag``/``rubi``),
``mouse<N>``, ``slice<N>``, ``fov<N>`` (or the number as the next token), and ``TEST`` (upper case)
marking held-out movies. Experiment frames keep the toolkit's 2-D ``(y, x)`` image.

The embedding types are the toolkit's own (``src/astrocytes/_datasets/_embeddings.py``, written by
``src/astrocytes/backend/embed.py``): a DINOv3 ViT-7B/16 run gives each frame a CLS embedding,
register tokens and a 14 x 14 grid of 4096-dimensional patch embeddings; a 64-component PCA basis
fitted over the corpus projects the patches (``components @ patch``, no centring, as the toolkit's
``patch_pc_projector`` does); and each patch's projections over a movie form a
:class:`PatchEmbeddingTrace` of shape (time, component).
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

    image: NDArray[Any]
    """Pixel intensities: 2-D ``(y, x)`` as toile exports OpenAstrocytes movies (``(1, y, x)`` also read)."""
    metadata: dict[str, Any] | None = None
    """Acquisition metadata as written by the microscope export (layout in the module docstring)."""


_FRAME_IMAGE = atdata.Array(shape=(None, None), dims=("y", "x"))


@atdata.packable
class AstrocyteRecordingFrame:
    """An OpenAstrocytes frame whose recording identity (protocol, compound, mouse, slice, field of
    view) has been parsed from the source file name, before choosing an experiment's type."""

    image: Annotated[NDArray[Any], _FRAME_IMAGE]
    """Pixel intensities, ``(y, x)``."""
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
    is_test: bool | None = None
    """Whether the movie is held out as test data (None: not known)."""
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
    image: Annotated[NDArray[Any], _FRAME_IMAGE]
    """Pixel intensities, ``(y, x)``, as the toolkit's frames hold them."""
    t_index: int
    """Index of the frame within its movie, from 0."""
    t: Annotated[float, atdata.Unit("s")]
    """Acquisition time relative to recording onset."""
    t_intervention: Annotated[float | None, atdata.Unit("s")] = None
    """When the compound began to enter the bath, relative to recording onset (300 s in this data)."""
    is_test: bool | None = None
    """Whether the movie is held out as test data (None: not known)."""
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
    image: Annotated[NDArray[Any], _FRAME_IMAGE]
    """Pixel intensities, ``(y, x)``, as the toolkit's frames hold them."""
    t_index: int
    """Index of the frame within its movie, from 0."""
    t: Annotated[float, atdata.Unit("s")]
    """Acquisition time relative to recording onset."""
    t_intervention: Annotated[float | None, atdata.Unit("s")] = None
    """When the uncaging pulse was delivered, relative to recording onset."""
    is_test: bool | None = None
    """Whether the movie is held out as test data (None: not known)."""
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
class EmbeddingResult:
    """Vision-transformer outputs for one frame: CLS token, register tokens and patch embeddings."""

    cls_embedding: Annotated[NDArray[Any], atdata.Array(shape=(None,), dims=("feature",))]
    """Global image embedding from the CLS token, ``(hidden_size,)``."""
    registers: (
        Annotated[NDArray[Any], atdata.Array(shape=(None, None), dims=("register", "feature"))] | None
    ) = None
    """Register token embeddings, ``(num_registers, hidden_size)``."""
    patches: (
        Annotated[
            NDArray[Any], atdata.Array(shape=(None, None, None), dims=("patch_y", "patch_x", "feature"))
        ]
        | None
    ) = None
    """Per-patch embeddings, ``(patches_y, patches_x, hidden_size)`` (14 x 14 x 4096 for ViT-7B/16)."""
    metadata: dict[str, Any] | None = None
    """Metadata carried from the source frame (``applied_compound``, ``t_index``, ``movie_uuid``, ...)."""


@atdata.packable
class EmbeddingPCResult:
    """Patch embeddings of one frame projected onto a corpus PCA basis."""

    patch_pcs: Annotated[
        NDArray[Any], atdata.Array(shape=(None, None, None), dims=("patch_y", "patch_x", "component"))
    ]
    """Coordinates of each patch's embedding along each principal component."""
    metadata: dict[str, Any] | None = None
    """Metadata carried from the source frame."""


@atdata.packable
class PatchEmbeddingTrace:
    """The time course of one image patch's embedding principal components over a whole movie."""

    values: Annotated[NDArray[Any], atdata.Array(shape=(None, None), dims=("time", "component"))]
    """PC coordinates of the patch, one row per frame, one column per component (64 in the article)."""
    ts: Annotated[NDArray[Any], atdata.Array(shape=(None,), dims=("time",)), atdata.Unit("s")]
    """Time of each row relative to recording onset."""
    i_patch: int | None = None
    """Row of the patch in the grid (0..13, top to bottom)."""
    j_patch: int | None = None
    """Column of the patch in the grid (0..13, left to right)."""
    metadata: dict[str, Any] | None = None
    """Movie metadata: ``uuid``, ``compound``, ``concentration`` (uM), ..."""


# --- lenses -------------------------------------------------------------------------------
# Lens bodies are lens-dialect code. Publishing extracts each lens with the helpers and constants
# it uses, so the one-hop shortcuts and the three-hop path share their parsing by construction.

COMPOUND_ALIASES = (
    ("baclofen", ("baclofen", "bacloffen")),
    ("tacpd", ("tacpd", "tcapd", "transacpd")),
    ("gaba", ("gaba", "rubigaba")),
    ("glu", ("glu", "glutamate", "rubiglu", "rubiglutamate")),
    ("laser_only", ("norubi", "laseronly", "laseralone", "nocage")),
)
"""Canonical compound label and the spellings (lower case, separators removed) that mean it: the
toolkit's ``_COMPOUND_ALIASES`` of both experiments (``tcapd`` and ``norubi`` included)."""

BATH_COMPOUNDS = ("baclofen", "tacpd")
UNCAGING_COMPOUNDS = ("gaba", "glu", "laser_only")


def _acquisition(image: NDArray[Any], md: dict[str, Any]) -> dict[str, Any]:
    """Frame timing, movie, date and pixel scale from a generic frame's metadata."""
    frame = md["frame"]
    scale = md.get("scale") or {}
    sx = md.get("scale_x", scale.get("x"))
    sy = md.get("scale_y", scale.get("y"))
    return {
        "image": image,
        "t_index": int(frame["t_index"]),
        "t": float(frame["t"]),
        "movie": md.get("uuid"),
        "date_acquired": md.get("date_acquired"),
        "scale_x": None if sx is None else float(sx),
        "scale_y": None if sy is None else float(sy),
    }


def _channel_first(image: NDArray[Any]) -> NDArray[Any]:
    """A 2-D ``(y, x)`` frame as ``(1, y, x)``; channel-first frames unchanged."""
    if image.ndim == 2:
        return np.expand_dims(image, 0)
    return image


def _plane(image: NDArray[Any]) -> NDArray[Any]:
    """A single-channel frame as the toolkit's 2-D ``(y, x)`` image; other shapes are an error."""
    if image.ndim == 3 and image.shape[0] == 1:
        return image.reshape(image.shape[1:])
    if image.ndim != 2:
        raise ValueError(
            "expected a 2-D (y, x) or single-channel (1, y, x) frame, got shape " + str(image.shape)
        )
    return image


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
        is_test = "TEST" in (filename or "")
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


@atdata.lens(register=False)
def frame_to_imaging_frame(s: Frame) -> ImagingFrame:
    """Parse a generic frame's acquisition metadata (time, movie, scale, file name) into fields."""
    md = s.metadata or {}
    acq = _acquisition(s.image, md)
    interpreted = (
        "frame",
        "scale",
        "scale_x",
        "scale_y",
        "uuid",
        "date_acquired",
        "_source_filename",
        "source_system",
    )
    rest = {}
    for key in md:
        if key not in interpreted:
            rest[key] = md[key]
    return ImagingFrame(
        image=_channel_first(acq["image"]),
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
    md.pop("scale", None)
    for key, scale in (("scale_x", view.scale_x), ("scale_y", view.scale_y)):
        if scale is None:
            md.pop(key, None)
        else:
            md[key] = scale
    if view.source_system == "unknown":
        md.pop("source_system", None)
    else:
        md["source_system"] = view.source_system
    image = view.image
    if source.image.ndim == 2 and image.shape[0] == 1:
        image = image[0]
    return Frame(image=image, metadata=md)


@atdata.lens(register=False)
def imaging_to_recording_frame(s: ImagingFrame) -> AstrocyteRecordingFrame:
    """Read the OpenAstrocytes recording identity from the file name, with explicit metadata winning."""
    ident = _recording_identity(s.source_filename, s.metadata or {})
    return AstrocyteRecordingFrame(
        image=_plane(s.image),
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


def _experiment_fields(s: AstrocyteRecordingFrame) -> dict[str, Any]:
    """The fields both experiments' frames take from the recording frame as they are."""
    return {
        "image": s.image,
        "t_index": s.t_index,
        "t": s.t,
        "t_intervention": s.t_intervention,
        "is_test": s.is_test,
        "date_acquired": s.date_acquired,
        "mouse_id": s.mouse_id,
        "slice_id": s.slice_id,
        "fov_id": s.fov_id,
        "movie_uuid": s.movie_uuid,
        "scale_x": s.scale_x,
        "scale_y": s.scale_y,
    }


def _frame_experiment(s: Frame) -> tuple[str, dict[str, Any]]:
    """A generic frame's compound, and the fields both experiments' frames share, read in one hop
    exactly as the three-hop path reads them."""
    md = s.metadata or {}
    acq = _acquisition(s.image, md)
    ident = _recording_identity(md.get("_source_filename"), md)
    return ident["compound"], {
        "image": _plane(acq["image"]),
        "t_index": acq["t_index"],
        "t": acq["t"],
        "t_intervention": ident["t_intervention"],
        "is_test": ident["is_test"],
        "date_acquired": acq["date_acquired"],
        "mouse_id": ident["mouse_id"],
        "slice_id": ident["slice_id"],
        "fov_id": ident["fov_id"],
        "movie_uuid": acq["movie"],
        "scale_x": acq["scale_x"],
        "scale_y": acq["scale_y"],
    }


@atdata.lens(register=False)
def recording_to_bath_application(s: AstrocyteRecordingFrame) -> BathApplicationFrame:
    """A recording frame as a bath-application frame; compounds other than baclofen and t-ACPD: unknown."""
    return BathApplicationFrame(
        # One of the literals: the test above checks it, and pydantic again.
        applied_compound=s.compound if s.compound in BATH_COMPOUNDS else "unknown",  # type: ignore[arg-type]
        **_experiment_fields(s),
    )


@atdata.lens(register=False)
def recording_to_uncaging(s: AstrocyteRecordingFrame) -> UncagingFrame:
    """A recording frame as an uncaging frame; compounds other than GABA, glutamate, laser: unknown."""
    return UncagingFrame(
        # One of the literals: the test above checks it, and pydantic again.
        uncaged_compound=s.compound if s.compound in UNCAGING_COMPOUNDS else "unknown",  # type: ignore[arg-type]
        **_experiment_fields(s),
    )


@atdata.lens(register=False)
def frame_to_bath_application(s: Frame) -> BathApplicationFrame:
    """The one-hop shortcut: a generic frame straight to a bath-application frame.

    Gives the same result as the three-hop path through ImagingFrame and AstrocyteRecordingFrame.
    """
    compound, fields = _frame_experiment(s)
    return BathApplicationFrame(
        # One of the literals: the test above checks it, and pydantic again.
        applied_compound=compound if compound in BATH_COMPOUNDS else "unknown",  # type: ignore[arg-type]
        **fields,
    )


@atdata.lens(register=False)
def frame_to_uncaging(s: Frame) -> UncagingFrame:
    """The one-hop shortcut: a generic frame straight to an uncaging frame."""
    compound, fields = _frame_experiment(s)
    return UncagingFrame(
        # One of the literals: the test above checks it, and pydantic again.
        uncaged_compound=compound if compound in UNCAGING_COMPOUNDS else "unknown",  # type: ignore[arg-type]
        **fields,
    )


@atdata.lens(register=False)
def bath_application_to_imaging_frame(s: BathApplicationFrame) -> ImagingFrame:
    """Forget the experiment: a bath-application frame as a plain imaging frame.

    The experiment's labels travel in ``metadata`` under the override keys the recording lens
    reads, so the way back to BathApplicationFrame recovers them.
    """
    return ImagingFrame(
        image=_channel_first(s.image),
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


@atdata.lens(register=False)
def uncaging_to_imaging_frame(s: UncagingFrame) -> ImagingFrame:
    """Forget the experiment: an uncaging frame as a plain imaging frame (labels kept in metadata)."""
    return ImagingFrame(
        image=_channel_first(s.image),
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


def patch_pc_projector(components: NDArray[Any]) -> atdata.Lens[EmbeddingResult, EmbeddingPCResult]:
    """A local lens projecting each patch embedding onto ``components`` (``(n_components, hidden)``).

    As the toolkit's ``patch_pc_projector``: ``components @ patch`` for every patch, without
    centring. The basis is this process's data, so the lens is made here and not published.
    """
    basis = np.asarray(components)

    @atdata.lens(register=False)
    def project_patches(s: EmbeddingResult) -> EmbeddingPCResult:
        if s.patches is None:
            raise ValueError("EmbeddingResult has no patch embeddings to project")
        if s.patches.shape[-1] != basis.shape[-1]:
            raise ValueError(
                f"patch embeddings have {s.patches.shape[-1]} features but the basis has {basis.shape[-1]}"
            )
        return EmbeddingPCResult(patch_pcs=np.einsum("kd,yxd->yxk", basis, s.patches), metadata=s.metadata)

    return project_patches


@atdata.lens(register=False)
def patch_trace_to_cell_trace(s: PatchEmbeddingTrace) -> CellTrace:
    """A patch's first embedding principal component over time, as the trace of an image-patch ROI."""
    if s.values.ndim != 2 or s.values.shape[0] != len(s.ts):
        raise ValueError(
            "values must be (time, component) with one row per timestamp; got shape "
            + str(s.values.shape)
            + " against "
            + str(len(s.ts))
            + " timestamps"
        )
    md = s.metadata or {}
    uuid = str(md.get("uuid") or "unknown")
    extra = {"i_patch": s.i_patch, "j_patch": s.j_patch, "component": 0}
    for key in md:
        extra[key] = md[key]
    return CellTrace(
        trace_id=uuid + "/patch/" + str(s.i_patch) + "," + str(s.j_patch),
        timestamps=np.asarray(s.ts, dtype=np.float64),
        values=np.asarray(s.values[:, 0], dtype=np.float64),
        quantity="embedding_pc",
        roi_kind="image_patch",
        source_system="openastrocytes",
        subject_id=None if md.get("mouse_id") is None else str(md.get("mouse_id")),
        session_id=uuid,
        metadata=extra,
    )
