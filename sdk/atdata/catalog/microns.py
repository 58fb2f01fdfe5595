"""MICrONS via CAVE: the synapse table of the minnie65 electron-microscopy volume.

CAVE (Connectome Annotation Versioning Engine) serves the synapse table (``synapses_pni_2``,
over 337 million rows) through ``client.materialize`` (tutorial: MICrONS "Synaptic Connectivity",
the seed ``003``). Rows come in three layouts, each its own type here, so that none is read as
another:

- :class:`MicronsSynapseVoxels`: ``synapse_query(...)`` without ``desired_resolution``: positions
  are ``[x, y, z]`` *voxel* indices at the volume's resolution (4 x 4 x 40 nm for minnie65), which
  the row carries in ``resolution_*``; the lens :func:`voxels_to_nm` multiplies it in.
- :class:`MicronsSynapse`: ``desired_resolution=[1, 1, 1]``: positions ``[x, y, z]`` in nanometres.
- :class:`MicronsSynapseSplit`: ``desired_resolution=[1, 1, 1], split_positions=True``: each
  position as three float columns ``<point>_position_x/_y/_z`` in nanometres.

Every layout keeps CAVE's own column values: ``created`` a UTC timestamp, ``valid`` the text
boolean ``'t'``/``'f'``, ``superceded_id`` NaN (None) unless superseded. Write a query's DataFrame
with ``ShardWriter(..., sample_type=<layout>).write_dataframe(df)``. Connections between neuron
pairs are the rows grouped by (pre, post) root id, as the tutorial does with ``groupby``: read rows
as :class:`~atdata.catalog.shared.Synapse` and use :func:`~atdata.catalog.shared.aggregate_connections`.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray

import atdata
from atdata.catalog.shared import Synapse

_POSITION = atdata.Array(shape=(3,), dims=("xyz",))

MINNIE65_RESOLUTION_NM = (4.0, 4.0, 40.0)
"""Voxel size of the minnie65 volume in nanometres (x, y, z): what voxel positions are counted in."""


@atdata.packable
class MicronsSynapse:
    """One row of the MICrONS synapse table, positions in nanometres (``desired_resolution=[1, 1, 1]``)."""

    id: int
    """Annotation id of the synapse."""
    size: Annotated[int, atdata.Unit("voxel")]
    """Size of the synaptic cleft as detected."""
    pre_pt_supervoxel_id: int
    """Supervoxel at the presynaptic point."""
    pre_pt_root_id: int
    """Root id of the presynaptic segment (the sending neuron)."""
    post_pt_supervoxel_id: int
    """Supervoxel at the postsynaptic point."""
    post_pt_root_id: int
    """Root id of the postsynaptic segment (the receiving neuron)."""
    pre_pt_position: Annotated[NDArray[Any], _POSITION, atdata.Unit("nm")]
    """Presynaptic point, x, y, z."""
    post_pt_position: Annotated[NDArray[Any], _POSITION, atdata.Unit("nm")]
    """Postsynaptic point, x, y, z."""
    ctr_pt_position: Annotated[NDArray[Any], _POSITION, atdata.Unit("nm")]
    """Centre of the synaptic cleft, x, y, z."""
    created: datetime | None = None
    """When the annotation was created (UTC)."""
    valid: Literal["t", "f"] = "t"
    """Whether the annotation is valid, as CAVE writes it: ``'t'`` or ``'f'``."""
    superceded_id: int | None = None
    """Id of the annotation that replaced this one, if any (CAVE's spelling)."""
    materialization_version: int | None = None
    """CAVE materialization version the root ids refer to (e.g. 1181), when recorded."""


@atdata.packable
class MicronsSynapseVoxels:
    """One row of ``synapse_query`` without ``desired_resolution``: positions in voxels."""

    id: int
    """Annotation id of the synapse."""
    size: Annotated[int, atdata.Unit("voxel")]
    """Size of the synaptic cleft as detected."""
    pre_pt_supervoxel_id: int
    """Supervoxel at the presynaptic point."""
    pre_pt_root_id: int
    """Root id of the presynaptic segment."""
    post_pt_supervoxel_id: int
    """Supervoxel at the postsynaptic point."""
    post_pt_root_id: int
    """Root id of the postsynaptic segment."""
    pre_pt_position: Annotated[NDArray[Any], _POSITION, atdata.Unit("voxel")]
    """Presynaptic point, x, y, z voxel indices."""
    post_pt_position: Annotated[NDArray[Any], _POSITION, atdata.Unit("voxel")]
    """Postsynaptic point, x, y, z voxel indices."""
    ctr_pt_position: Annotated[NDArray[Any], _POSITION, atdata.Unit("voxel")]
    """Centre of the synaptic cleft, x, y, z voxel indices."""
    created: datetime | None = None
    """When the annotation was created (UTC)."""
    valid: Literal["t", "f"] = "t"
    """Whether the annotation is valid: ``'t'`` or ``'f'``."""
    superceded_id: int | None = None
    """Id of the annotation that replaced this one, if any."""
    resolution_x: Annotated[float, atdata.Unit("nm/voxel")] = MINNIE65_RESOLUTION_NM[0]
    """Voxel size along x."""
    resolution_y: Annotated[float, atdata.Unit("nm/voxel")] = MINNIE65_RESOLUTION_NM[1]
    """Voxel size along y."""
    resolution_z: Annotated[float, atdata.Unit("nm/voxel")] = MINNIE65_RESOLUTION_NM[2]
    """Voxel size along z."""
    materialization_version: int | None = None
    """CAVE materialization version the root ids refer to, when recorded."""


@atdata.packable
class MicronsSynapseSplit:
    """One row of ``query_table(..., desired_resolution=[1, 1, 1], split_positions=True)``: nm columns."""

    id: int
    """Annotation id of the synapse."""
    pre_pt_position_x: Annotated[float, atdata.Unit("nm")]
    """Presynaptic point, x."""
    pre_pt_position_y: Annotated[float, atdata.Unit("nm")]
    """Presynaptic point, y."""
    pre_pt_position_z: Annotated[float, atdata.Unit("nm")]
    """Presynaptic point, z."""
    post_pt_position_x: Annotated[float, atdata.Unit("nm")]
    """Postsynaptic point, x."""
    post_pt_position_y: Annotated[float, atdata.Unit("nm")]
    """Postsynaptic point, y."""
    post_pt_position_z: Annotated[float, atdata.Unit("nm")]
    """Postsynaptic point, z."""
    ctr_pt_position_x: Annotated[float, atdata.Unit("nm")]
    """Centre of the synaptic cleft, x."""
    ctr_pt_position_y: Annotated[float, atdata.Unit("nm")]
    """Centre of the synaptic cleft, y."""
    ctr_pt_position_z: Annotated[float, atdata.Unit("nm")]
    """Centre of the synaptic cleft, z."""
    size: Annotated[int, atdata.Unit("voxel")]
    """Size of the synaptic cleft as detected."""
    pre_pt_supervoxel_id: int
    """Supervoxel at the presynaptic point."""
    pre_pt_root_id: int
    """Root id of the presynaptic segment."""
    post_pt_supervoxel_id: int
    """Supervoxel at the postsynaptic point."""
    post_pt_root_id: int
    """Root id of the postsynaptic segment."""
    created: datetime | None = None
    """When the annotation was created (UTC)."""
    valid: Literal["t", "f"] = "t"
    """Whether the annotation is valid: ``'t'`` or ``'f'``."""
    superceded_id: int | None = None
    """Id of the annotation that replaced this one, if any."""


# --- lenses -------------------------------------------------------------------------------


@atdata.lens(register=False)
def microns_to_synapse(s: MicronsSynapse) -> Synapse:
    """A MICrONS synapse row as a synapse between neuron segments, positioned at the cleft centre."""
    return Synapse(
        synapse_id=str(s.id),
        pre_id=str(s.pre_pt_root_id),
        post_id=str(s.post_pt_root_id),
        position=np.asarray(s.ctr_pt_position, dtype=np.float64),
        source_system="microns",
        size=float(s.size),
    )


@microns_to_synapse.putter
def microns_to_synapse_put(view: Synapse, source: MicronsSynapse) -> MicronsSynapse:
    """Write a synapse's ids, centre and size back into its table row (other columns kept)."""
    return MicronsSynapse(
        id=int(view.synapse_id),
        size=source.size if view.size is None else int(view.size),
        pre_pt_supervoxel_id=source.pre_pt_supervoxel_id,
        pre_pt_root_id=int(view.pre_id),
        post_pt_supervoxel_id=source.post_pt_supervoxel_id,
        post_pt_root_id=int(view.post_id),
        pre_pt_position=source.pre_pt_position,
        post_pt_position=source.post_pt_position,
        ctr_pt_position=np.asarray(view.position, dtype=source.ctr_pt_position.dtype),
        created=source.created,
        valid=source.valid,
        superceded_id=source.superceded_id,
        materialization_version=source.materialization_version,
    )


@atdata.lens(register=False)
def voxels_to_nm(s: MicronsSynapseVoxels) -> MicronsSynapse:
    """Voxel positions to nanometres, multiplying by the row's own voxel size."""
    scale = np.array([s.resolution_x, s.resolution_y, s.resolution_z], dtype=np.float64)
    return MicronsSynapse(
        id=s.id,
        size=s.size,
        pre_pt_supervoxel_id=s.pre_pt_supervoxel_id,
        pre_pt_root_id=s.pre_pt_root_id,
        post_pt_supervoxel_id=s.post_pt_supervoxel_id,
        post_pt_root_id=s.post_pt_root_id,
        pre_pt_position=np.asarray(s.pre_pt_position, dtype=np.float64) * scale,
        post_pt_position=np.asarray(s.post_pt_position, dtype=np.float64) * scale,
        ctr_pt_position=np.asarray(s.ctr_pt_position, dtype=np.float64) * scale,
        created=s.created,
        valid=s.valid,
        superceded_id=s.superceded_id,
        materialization_version=s.materialization_version,
    )


@atdata.lens(register=False)
def split_to_synapse(s: MicronsSynapseSplit) -> MicronsSynapse:
    """The split-position columns joined back into ``[x, y, z]`` positions (nanometres both sides)."""
    return MicronsSynapse(
        id=s.id,
        size=s.size,
        pre_pt_supervoxel_id=s.pre_pt_supervoxel_id,
        pre_pt_root_id=s.pre_pt_root_id,
        post_pt_supervoxel_id=s.post_pt_supervoxel_id,
        post_pt_root_id=s.post_pt_root_id,
        pre_pt_position=np.array([s.pre_pt_position_x, s.pre_pt_position_y, s.pre_pt_position_z]),
        post_pt_position=np.array([s.post_pt_position_x, s.post_pt_position_y, s.post_pt_position_z]),
        ctr_pt_position=np.array([s.ctr_pt_position_x, s.ctr_pt_position_y, s.ctr_pt_position_z]),
        created=s.created,
        valid=s.valid,
        superceded_id=s.superceded_id,
    )
