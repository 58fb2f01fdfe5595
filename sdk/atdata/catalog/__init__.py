"""The starter catalog: sample types and lenses for real neuroscience data systems.

One module per system, written from that system's own documentation, plus the shared types
the systems' lenses converge on:

- :mod:`~atdata.catalog.openastrocytes`: astrocyte two-photon movies (generic ``Frame``, the
  bath-application and uncaging experiments) and their DINOv3 patch embeddings;
- :mod:`~atdata.catalog.astrocast`: astroCAST's event table;
- :mod:`~atdata.catalog.allen_visual_behavior`: Visual Behavior tidy trace rows and per-cell traces;
- :mod:`~atdata.catalog.microns`: the MICrONS synapse table served by CAVE;
- :mod:`~atdata.catalog.allen_brain_observatory`: Brain Observatory dF/F traces and movie frames;
- :mod:`~atdata.catalog.shared`: ``ImagingFrame``, ``CellTrace``, ``CalciumEvent``, ``Synapse``,
  ``Connection``.

Importing the package registers nothing: its lenses are made with ``@atdata.lens(register=False)``.
:func:`catalog_registry` builds a lens registry holding them (optionally without the shortcuts), to
pass as ``Dataset.as_type(T, lenses=...)``; :func:`register` adds them to a registry you name, the
process-wide one that ``as_type`` searches by default if you ask for it.

Paths worth knowing (``atdata catalog list`` prints the whole graph; ``--svg`` draws it):

- Frame -> ImagingFrame -> AstrocyteRecordingFrame -> BathApplicationFrame (3 hops; also
  UncagingFrame). Each hop does one job: parse generic acquisition metadata, parse the
  OpenAstrocytes recording identity from the file name, choose the experiment's type.
- Frame -> BathApplicationFrame and Frame -> UncagingFrame directly: the *shortcuts*
  (:data:`SHORTCUT_LENSES`), which give the same samples as the 3-hop path (a test checks it).
- BrainObservatoryCellTrace -> CellTrace -> CalciumEvent -> AstroCastEvent (3 hops across
  systems: each neuron's largest transient as an astroCAST event row); the same from
  VisualBehaviorCellTrace and from PatchEmbeddingTrace.
- AstroCastEvent -> CalciumEvent -> CellTrace, MicronsSynapse -> Synapse -> Connection (2 hops;
  MicronsSynapseVoxels and MicronsSynapseSplit join through MicronsSynapse).

How the demo shows a three-hop path being chosen: the trusted author publishes the catalog
*without* the shortcuts (``atdata catalog publish --without-shortcuts``), and a second, untrusted
author publishes ``frame_to_bath_application`` (the direct lens, e.g. with
``atdata catalog publish --only frame_to_bath_application``). With no trust policy the appview's
shortest path from Frame to BathApplicationFrame is that single untrusted hop; with the first
author trusted the only allowed path is Frame -> ImagingFrame -> AstrocyteRecordingFrame ->
BathApplicationFrame, and ``as_type`` runs those three lenses. No two-hop path exists between
Frame and BathApplicationFrame, so the trusted answer is exactly three hops. Both paths yield
equal samples, which the demo can print side by side (``atdata catalog list --path Frame
BathApplicationFrame --without-shortcuts --svg path.svg`` draws the chain). The second author's
lens competes only if the graph puts it on the same nodes: the publisher writes its Frame and
BathApplicationFrame schemas into that author's repository too, with the same content (so the
same CIDs) but other at-uris, so the appview must key schema nodes by content, or the competing
lens must reference the first author's schema records. ``examples.bath_application_frames()``
makes generic frames in the layout the lenses read, for the demo's shards.
"""

from collections.abc import Iterable
from typing import Any

from atdata.catalog import (
    allen_brain_observatory,
    allen_visual_behavior,
    astrocast,
    microns,
    openastrocytes,
    shared,
)
from atdata.catalog.allen_brain_observatory import BrainObservatoryCellTrace, BrainObservatoryFrame
from atdata.catalog.allen_visual_behavior import VisualBehaviorCellTrace, VisualBehaviorTraceRow
from atdata.catalog.astrocast import AstroCastEvent
from atdata.catalog.microns import MicronsSynapse, MicronsSynapseSplit, MicronsSynapseVoxels
from atdata.catalog.openastrocytes import (
    AstrocyteRecordingFrame,
    BathApplicationFrame,
    EmbeddingPCResult,
    EmbeddingResult,
    Frame,
    PatchEmbeddingTrace,
    UncagingFrame,
)
from atdata.catalog.shared import CalciumEvent, CellTrace, Connection, ImagingFrame, Synapse
from atdata.errors import LensError
from atdata.lenses import Lens, LensRegistry, default_registry

CATALOG_TYPES: tuple[type, ...] = (
    # shared
    ImagingFrame,
    CellTrace,
    CalciumEvent,
    Synapse,
    Connection,
    # OpenAstrocytes
    Frame,
    AstrocyteRecordingFrame,
    BathApplicationFrame,
    UncagingFrame,
    EmbeddingResult,
    EmbeddingPCResult,
    PatchEmbeddingTrace,
    # astroCAST
    AstroCastEvent,
    # Allen Visual Behavior
    VisualBehaviorTraceRow,
    VisualBehaviorCellTrace,
    # MICrONS
    MicronsSynapse,
    MicronsSynapseVoxels,
    MicronsSynapseSplit,
    # Allen Brain Observatory
    BrainObservatoryCellTrace,
    BrainObservatoryFrame,
)
"""Every sample type in the catalog."""

CATALOG_LENSES: tuple[Lens[Any, Any], ...] = (
    openastrocytes.frame_to_imaging_frame,
    openastrocytes.imaging_to_recording_frame,
    openastrocytes.recording_to_bath_application,
    openastrocytes.recording_to_uncaging,
    openastrocytes.frame_to_bath_application,
    openastrocytes.frame_to_uncaging,
    openastrocytes.bath_application_to_imaging_frame,
    openastrocytes.uncaging_to_imaging_frame,
    openastrocytes.patch_trace_to_cell_trace,
    shared.cell_trace_to_largest_transient,
    shared.calcium_event_to_cell_trace,
    shared.synapse_to_connection,
    astrocast.astrocast_to_calcium_event,
    astrocast.calcium_event_to_astrocast,
    allen_visual_behavior.visual_behavior_to_cell_trace,
    allen_visual_behavior.visual_behavior_row_to_cell_trace,
    microns.microns_to_synapse,
    microns.voxels_to_nm,
    microns.split_to_synapse,
    allen_brain_observatory.observatory_to_cell_trace,
    allen_brain_observatory.frame_to_observatory_frame,
    allen_brain_observatory.observatory_to_imaging_frame,
)
"""Every lens in the catalog, the shortcuts included."""

SHORTCUT_LENSES: tuple[Lens[Any, Any], ...] = (
    openastrocytes.frame_to_bath_application,
    openastrocytes.frame_to_uncaging,
)
"""One-hop lenses that duplicate a longer path; left out to make the demo's path three hops."""


def register(registry: LensRegistry = default_registry, *, shortcuts: bool = True) -> LensRegistry:
    """Add the catalog's lenses (without the shortcuts if asked) to ``registry``, by default the
    process-wide one ``Dataset.as_type`` searches; returns ``registry``."""
    for lens in CATALOG_LENSES:
        if shortcuts or lens not in SHORTCUT_LENSES:
            registry.register(lens)
    return registry


def catalog_registry(*, shortcuts: bool = True) -> LensRegistry:
    """A fresh lens registry holding the catalog's lenses (without the shortcuts if asked)."""
    return register(LensRegistry(), shortcuts=shortcuts)


def select(
    *, shortcuts: bool = True, only: Iterable[str] | None = None
) -> tuple[list[type], list[Lens[Any, Any]]]:
    """The types and lenses to publish: everything, without the shortcuts if asked, or ``only``
    the named types and lenses (LensError for a name the catalog does not have)."""
    types = list(CATALOG_TYPES)
    lenses = [lens for lens in CATALOG_LENSES if shortcuts or lens not in SHORTCUT_LENSES]
    if only is None:
        return types, lenses
    names = list(only)
    by_name = {cls.__name__: cls for cls in types}
    return [by_name[n] for n in names if n in by_name], [lens_by_name(n) for n in names if n not in by_name]


def lens_by_name(name: str) -> Lens[Any, Any]:
    """The catalog lens called ``name`` (its function name); LensError lists the names otherwise."""
    for lens in CATALOG_LENSES:
        if lens.name == name:
            return lens
    names = ", ".join(lens.name for lens in CATALOG_LENSES)
    raise LensError(f"no catalog lens named {name!r}; the catalog has: {names}")


__all__ = [
    "CATALOG_LENSES",
    "CATALOG_TYPES",
    "SHORTCUT_LENSES",
    "AstroCastEvent",
    "AstrocyteRecordingFrame",
    "BathApplicationFrame",
    "BrainObservatoryCellTrace",
    "BrainObservatoryFrame",
    "CalciumEvent",
    "CellTrace",
    "Connection",
    "EmbeddingPCResult",
    "EmbeddingResult",
    "Frame",
    "ImagingFrame",
    "MicronsSynapse",
    "MicronsSynapseSplit",
    "MicronsSynapseVoxels",
    "PatchEmbeddingTrace",
    "Synapse",
    "UncagingFrame",
    "VisualBehaviorCellTrace",
    "VisualBehaviorTraceRow",
    "catalog_registry",
    "lens_by_name",
    "register",
    "select",
]
