"""Inline isolation: lens steps run in the caller's own process, through the same runtime.

Inline is for lenses whose authors you trust (:class:`atdata.trust.TrustPolicy` gives it to
trusted authors and attested lenses only; :meth:`atdata.Lens.from_source` runs code inline only
when asked by name). It keeps what process isolation keeps about *data and reach*: lens code
cannot reach files, sockets, processes, module state or the caller's objects (inputs are private
copies: arrays read-only, every mapping copied, masked arrays refused); outputs and exceptions
are converted within fixed bounds; Python-level loops, calls, comprehensions and sentinel
iterators stop at the batch's wall-clock limit, and the listed expensive builtins and numpy calls
are refused beyond their bounds before they start.

What inline does **not** bound, precisely:

- **Memory.** There is no address-space limit in the caller's process. Allocations the runtime
  does not size-check (numpy creation such as ``np.ones((n, n))``, ``np.tile``, ``np.repeat``,
  ``np.kron``, ``np.outer``, string methods such as ``str.replace`` or ``str.ljust`` with large
  results) can exhaust the caller's memory.
- **Time inside one C-level call** other than those estimated up front (``einsum``, ``convolve``,
  ``correlate``, ``pow``, ``round``, ``sum``): e.g. ``np.matmul``/``np.dot``/``np.linalg`` on large
  matrices, sorting a large array, ``sorted`` of a long list. The wall-clock budget is checked
  between Python-level steps (every few thousand), so such a call runs to its end, however long.
- **CPU** beyond the wall clock, and the process's other threads (a long C call holds the GIL).
- Nothing outside Python: no seccomp, no resource limits.

Process isolation bounds all of these (CPU and address-space limits, a wall-clock kill).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from atdata.errors import LensExecutionError, LensLimitError
from atdata.sandbox.engine import Engine
from atdata.sandbox.failures import StepFailure
from atdata.sandbox.spec import LensStep, Limits


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
