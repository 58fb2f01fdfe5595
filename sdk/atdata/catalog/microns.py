"""MICrONS via CAVE: the synapse table of the minnie65 electron-microscopy volume.

CAVE (Connectome Annotation Versioning Engine) serves the synapse table (``synapses_pni_2``,
over 337 million rows) through ``client.materialize``. :class:`MicronsSynapse` is one row as
returned with ``desired_resolution=[1, 1, 1]`` (positions in nanometres) and positions kept as
``[x, y, z]`` vectors. Root ids name segments (neurons, after proofreading) at one
materialization version; supervoxel ids are the atomic pieces the segmentation is built from.
Connections between neuron pairs are the synapse rows grouped by (pre, post) root id, as the
tutorial does with a pandas ``groupby``: read rows as :class:`~atdata.catalog.shared.Synapse`
and use :func:`~atdata.catalog.shared.aggregate_connections`.
"""

from typing import Annotated

import numpy as np
from numpy.typing import NDArray

import atdata
from atdata.catalog.shared import Synapse

_POSITION = atdata.Array(shape=(3,), dims=("xyz",))


@atdata.packable
class MicronsSynapse:
    """One row of the MICrONS synapse table."""

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
    pre_pt_position: Annotated[NDArray, _POSITION, atdata.Unit("nm")]
    """Presynaptic point, x, y, z."""
    post_pt_position: Annotated[NDArray, _POSITION, atdata.Unit("nm")]
    """Postsynaptic point, x, y, z."""
    ctr_pt_position: Annotated[NDArray, _POSITION, atdata.Unit("nm")]
    """Centre of the synaptic cleft, x, y, z."""
    created: str | None = None
    """When the annotation was created, ISO 8601 (UTC)."""
    valid: bool = True
    """Whether the annotation is valid (``t`` in the table)."""
    superceded_id: int | None = None
    """Id of the annotation that replaced this one, if any."""
    materialization_version: int | None = None
    """CAVE materialization version the root ids refer to (e.g. 1181)."""


# --- lenses -------------------------------------------------------------------------------


@atdata.lens
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
