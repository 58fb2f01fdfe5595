"""What a lens program runs and under which limits: :class:`LensStep` and :class:`Limits`.

Both are plain, frozen data: the host builds them, the worker receives them over the wire, and
inline and process isolation read the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from atdata.sandbox.lens_records import RecordShape

Direction = Literal["get", "put"]


@dataclass(frozen=True)
class LensStep:
    """One lens function to run: the module ``source``, its name (for errors) and its types.

    ``direction="get"`` calls ``get(source)``: input ``source_type``, output ``target_type``.
    ``direction="put"`` calls ``put(view, source)``: ``view`` is a ``target_type`` record,
    ``source`` the original ``source_type`` record, and the result a ``source_type``.
    ``source_shape``/``target_shape`` describe nested types and field names when known
    (:meth:`RecordShape.of`); without them, records carry whatever fields they are given.
    """

    source: str
    name: str
    source_type: str
    target_type: str
    direction: Direction = "get"
    source_shape: RecordShape | None = None
    target_shape: RecordShape | None = None
    ops: Any = None  # a declarative op list (plain data) to run instead of ``source`` code

    def shapes(self) -> tuple[RecordShape, RecordShape]:
        return (
            self.source_shape or RecordShape(self.source_type),
            self.target_shape or RecordShape(self.target_type),
        )


@dataclass(frozen=True)
class Limits:
    """Resource limits of a lens run.

    - ``cpu_seconds``: CPU time one batch may use in a worker (a worker whose lifetime CPU limit
      could cut the next batch short is replaced before that batch; the limit kills with SIGXCPU).
    - ``memory_bytes``: address space lens code may add to the worker's baseline, batch included.
    - ``open_files``, ``file_size``: RLIMIT_NOFILE and RLIMIT_FSIZE of the worker (0: no writes).
    - ``wall_seconds_per_batch``: Python-level loops stop themselves at this limit; the host kills
      a worker that has not answered shortly after it.

    Inline runs enforce only the wall-clock limit, and only between Python-level steps.
    """

    cpu_seconds: float = 10
    memory_bytes: int = 1 << 30
    open_files: int = 64
    file_size: int = 0
    wall_seconds_per_batch: float = 30
