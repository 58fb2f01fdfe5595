"""``Dataset.as_type``: read a dataset as another sample type through a lens chain."""

from __future__ import annotations

from typing import Any

from atdata.errors import LensCompositionError
from atdata.lenses.graph import TrustPolicy
from atdata.lenses.lens import Lens
from atdata.lenses.registry import LensRegistry, default_registry


def coerce(
    dataset: Any,
    target: type[Any],
    *,
    lens: Lens[Any, Any] | None = None,
    policy: TrustPolicy | None = None,
    lenses: LensRegistry | None = None,
    chunk: int = 64,
) -> Any:
    """``dataset`` as a dataset of ``target``.

    The chain is ``lens`` when given, else the best path in the lens registry (the process-wide
    one unless ``lenses=`` names another) under ``policy``. It is compiled once and applied to
    ``chunk`` samples at a time; each output is validated into ``target``, and batching then
    stacks the new samples as usual. Raises :class:`~atdata.errors.LensPathError` when no chain
    exists, listing the types that are reachable.
    """
    source = dataset.sample_type
    if lens is None:
        lens = (lenses or default_registry).path(source, target, policy)
    elif lens.source is not source or lens.target is not target:
        raise LensCompositionError(
            f"lens {lens.name} maps {lens.source.__name__} -> {lens.target.__name__}, "
            f"but the dataset holds {source.__name__} and {target.__name__} was asked for"
        )
    if lens.steps == 0:
        return dataset
    return dataset._transformed(target, lens.get_many, chunk=chunk)
