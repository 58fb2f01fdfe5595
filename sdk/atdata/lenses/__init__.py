"""Lenses: views of one sample type as another, their composition, registry, graph and laws.

The ``@atdata.lens`` decorator lives in :mod:`atdata.lenses.decorators` (exported as ``atdata.lens``);
it is not re-exported here, where ``lens`` names the module that defines :class:`Lens`.
"""

from atdata.lenses.graph import LensEdge, LensFilter, LensGraph
from atdata.lenses.lens import Lens
from atdata.lenses.registry import LensRegistry, default_registry

__all__ = ["Lens", "LensEdge", "LensFilter", "LensGraph", "LensRegistry", "default_registry"]
