"""The lens sandbox: the dialect check, and running lens code inline or in a worker process.

::

    from atdata.sandbox import LensStep, Limits, check_source, load_program, validate_source

    violations = validate_source(code)             # [] when clean; never raises on bad code
    check_source(code, filename="lens.py")         # raises LensValidationError(where, violations)
    steps = [LensStep(code_a, "a", "Frame", "Mid"), LensStep(code_b, "b", "Mid", "Out")]
    with load_program(steps, isolation="process", limits=Limits(cpu_seconds=5)) as program:
        outs = program.run(items, keys)            # plain field dicts in, plain field dicts out
        srcs = put_program.run_put(views, sources, keys)

``run`` applies the program's ``get`` steps in order to each item. ``run_put`` applies one
``put`` step (``step=`` its index, needed only when there are several) to ``(view, source)`` pairs:
``LensStep(code, name, S, V, direction="put")`` calls ``put(view: V record, source: S record)``
and returns the new ``S`` fields. Items are plain field dicts: None, bool, int, float, str, bytes,
numpy arrays of plain dtypes, lists, str-keyed dicts, nested sample types as nested dicts (say
which with ``LensStep(source_shape=RecordShape.of(spec))`` to have them seen as records).

Process isolation sends items in batches (at most a few thousand items or tens of MiB each, no
pickles; arrays through shared memory the worker maps read-only) to fresh, locked-down worker
processes, reused for every batch; a run of several batches is spread over up to ``workers`` of
them, and ``program.submit(items, keys)`` sends a batch and returns, its ``.result()`` read later
(:mod:`atdata.sandbox.process`). A program is not meant to be shared between threads.

Any failure inside lens code or a broken limit raises
:class:`~atdata.errors.LensExecutionError` naming the lens, the sample key and the reason; the
caller's process keeps working, and a killed worker is replaced on the next call. Code outside
the dialect (:mod:`atdata.sandbox.dialect`) raises :class:`~atdata.errors.LensValidationError`
when the program is loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from atdata.sandbox.dialect_check import check_source, validate_source
    from atdata.sandbox.inline import InlineProgram
    from atdata.sandbox.lens_records import RecordShape
    from atdata.sandbox.process import ProcessProgram
    from atdata.sandbox.spec import LensStep, Limits

    Program: TypeAlias = InlineProgram | ProcessProgram

# Imported on first use (PEP 562): the dialect check's child and the lens workers import modules of
# this package, and must not pay for libcst or the process machinery they do not run; a parent
# that is about to check code starts that child before it imports libcst itself.
_EXPORTS = {
    "check_source": "atdata.sandbox.dialect_check",
    "validate_source": "atdata.sandbox.dialect_check",
    "InlineProgram": "atdata.sandbox.inline",
    "RecordShape": "atdata.sandbox.lens_records",
    "ProcessProgram": "atdata.sandbox.process",
    "LensStep": "atdata.sandbox.spec",
    "Limits": "atdata.sandbox.spec",
}


def __getattr__(name: str) -> Any:
    if name == "Program":
        from atdata.sandbox.inline import InlineProgram
        from atdata.sandbox.process import ProcessProgram

        return InlineProgram | ProcessProgram
    home = _EXPORTS.get(name)
    if home is None:
        raise AttributeError(f"module 'atdata.sandbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def load_program(
    steps: Sequence[LensStep],
    *,
    isolation: Literal["inline", "process"],
    limits: Limits | None = None,
    workers: int | None = None,
) -> Program:
    """Validate and compile ``steps`` once, ready to ``run`` batches (also a context manager).

    ``workers`` (process isolation, default 1) is how many worker processes a run may spread its
    batches over; a run of one big batch is split between the running ones.
    """
    from atdata.sandbox.inline import InlineProgram
    from atdata.sandbox.process import ProcessProgram
    from atdata.sandbox.spec import Limits

    if not steps:
        raise ValueError("a lens program needs at least one step")
    limits = limits or Limits()
    if isolation == "inline":
        return InlineProgram(steps, limits)
    if isolation == "process":
        return ProcessProgram(steps, limits, workers=workers or 1)
    raise ValueError(f"isolation must be 'inline' or 'process', not {isolation!r}")


__all__ = [
    "InlineProgram",
    "LensStep",
    "Limits",
    "ProcessProgram",
    "Program",
    "RecordShape",
    "check_source",
    "load_program",
    "validate_source",
]
