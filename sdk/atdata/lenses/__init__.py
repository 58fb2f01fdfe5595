"""Lenses: views of one sample type as another, their composition, registry, graph and laws."""

from atdata.lenses.decorators import lens
from atdata.lenses.graph import LensEdge, LensGraph, TrustPolicy
from atdata.lenses.lens import Lens
from atdata.lenses.registry import LensRegistry, default_registry

__all__ = ["Lens", "LensEdge", "LensGraph", "LensRegistry", "TrustPolicy", "default_registry", "lens"]
