"""Inline isolation: lens steps run in the caller's own process, through the same runtime.

Inline runs keep lens code away from files, sockets, processes and the caller's objects (the
runtime's guards), and stop Python-level loops at the batch's wall-clock limit; they cannot bound
CPU or memory spent inside one C call. Use process isolation for code you have not reviewed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from atdata.errors import LensExecutionError, LensLimitError
from atdata.sandbox.runtime import Engine, LensStep, Limits, StepFailure


class InlineProgram:
    """Lens steps compiled into this process; see :func:`atdata.sandbox.load_program`."""

    def __init__(self, steps: Sequence[LensStep], limits: Limits) -> None:
        self._steps = list(steps)
        self._limits = limits
        self._engine = Engine(self._steps, private_inputs=True)
        try:
            self._engine.load(limits.wall_seconds_per_batch)
        except StepFailure as e:
            raise LensExecutionError(self._steps[e.step].name, e.reason) from None

    def __enter__(self) -> InlineProgram:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release inline; present so both isolations share one interface."""

    def run(self, items: Sequence[dict[str, Any]], keys: Sequence[str | None]) -> list[dict[str, Any]]:
        if len(items) != len(keys):
            raise ValueError(f"{len(items)} items but {len(keys)} keys")
        try:
            return self._engine.run(items, self._limits.wall_seconds_per_batch)
        except StepFailure as e:
            raise self._error(e, keys) from None

    def run_put(
        self,
        views: Sequence[dict[str, Any]],
        sources: Sequence[dict[str, Any]],
        keys: Sequence[str | None],
        *,
        step: int | None = None,
    ) -> list[dict[str, Any]]:
        if not len(views) == len(sources) == len(keys):
            raise ValueError(f"{len(views)} views, {len(sources)} sources and {len(keys)} keys")
        try:
            return self._engine.run_put(views, sources, step, self._limits.wall_seconds_per_batch)
        except StepFailure as e:
            raise self._error(e, keys) from None

    def _error(self, e: StepFailure, keys: Sequence[str | None]) -> LensExecutionError:
        key = keys[e.item] if e.item is not None else None
        kind = LensLimitError if e.limit else LensExecutionError
        return kind(self._steps[e.step].name, e.reason, key=key)
