"""The in-process lens registry: every ``@atdata.lens`` lands here, keyed by source and target type.

``Dataset.as_type`` asks it for a chain between two types; it answers with the same path rules as
the network's lens graph (:mod:`atdata.lenses.graph`), so a local answer is deterministic too.
"""

from __future__ import annotations

import threading
from functools import reduce
from typing import Any

from atdata.errors import LensPathError
from atdata.lenses.graph import LensEdge, LensFilter, LensGraph
from atdata.lenses.lens import Lens


class LensRegistry:
    """Lenses known to this process, at most one per (source type, target type) pair."""

    def __init__(self) -> None:
        self._lenses: dict[tuple[type, type], Lens[Any, Any]] = {}
        self._names: dict[type, str] = {}
        self._graph: LensGraph | None = None
        self._lock = threading.Lock()

    def register(self, lens: Lens[Any, Any]) -> None:
        """Add ``lens``; a later lens between the same two types replaces the earlier one."""
        with self._lock:
            self._lenses[(lens.source, lens.target)] = lens
            self._graph = None

    def lenses(self) -> list[Lens[Any, Any]]:
        return list(self._lenses.values())

    def get(self, source: type, target: type) -> Lens[Any, Any] | None:
        """The lens registered directly from ``source`` to ``target``, if any."""
        return self._lenses.get((source, target))

    def path(self, source: type, target: type, policy: LensFilter | None = None) -> Lens[Any, Any]:
        """The best chain from ``source`` to ``target`` as one composed lens (identity when equal)."""
        if source is target:
            return Lens.identity(source)
        graph, by_id = self._index()
        try:
            edges = graph.path(self._name(source), self._name(target), policy)
        except LensPathError as e:
            raise LensPathError(
                f"no registered lens path from {source.__name__} to {target.__name__}; "
                "define one with @atdata.lens",
                reachable=e.reachable,
            ) from None
        return reduce(lambda a, b: a | b, (by_id[e.cid] for e in edges))

    def _name(self, cls: type) -> str:
        name = self._names.get(cls)
        if name is None:
            base = f"{cls.__module__}.{cls.__qualname__}"
            taken = set(self._names.values())
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}#{n}"
            self._names[cls] = name
        return name

    def _index(self) -> tuple[LensGraph, dict[str, Lens[Any, Any]]]:
        with self._lock:
            lenses = list(self._lenses.values())
            by_id = {f"{lens.ident}@{i}": lens for i, lens in enumerate(lenses)}
            if self._graph is None:
                self._graph = LensGraph(
                    LensEdge(ident, self._name(lens.source), self._name(lens.target))
                    for ident, lens in by_id.items()
                )
            return self._graph, by_id


default_registry = LensRegistry()
"""The process-wide registry that ``@atdata.lens`` registers into."""
