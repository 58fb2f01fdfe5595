"""The engine: compiled lens steps and the namespace they run in, inline and in the worker.

:class:`Engine` loads each step's module once (compiled by :mod:`atdata.sandbox.instrument`,
run with the guards of :mod:`atdata.sandbox.guards`), then applies the ``get`` steps in order to
each item of a batch, or one ``put`` step to (view, source) pairs. Records pass between steps as
they are; only what leaves the last step is made plain.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from atdata.errors import LensValidationError, Violation
from atdata.sandbox.budget import Budget
from atdata.sandbox.failures import StepFailure, describe_exception, is_limit
from atdata.sandbox.guards import (
    guarded_getattr,
    guarded_lshift,
    guarded_mul,
    guarded_pow,
    lens_builtins,
)
from atdata.sandbox.instrument import GA, LSHIFT, MODULE, MUL, POW, TICK, compile_lens
from atdata.sandbox.lens_records import (
    Record,
    RecordFactory,
    RecordShape,
    as_record,
    output_fields,
    to_plain,
    to_record,
)
from atdata.sandbox.module_proxies import module_proxy
from atdata.sandbox.spec import LensStep


@dataclass
class _Loaded:
    step: LensStep
    fn: Callable[..., Any]
    in_shape: RecordShape
    out_shape: RecordShape


class Engine:
    """Compiled lens steps and the namespace they run in; used inline and inside the worker."""

    def __init__(self, steps: Sequence[LensStep], *, private_inputs: bool) -> None:
        self.steps = list(steps)
        self.private_inputs = private_inputs
        self.budget = Budget()
        self.progress: Callable[[int, int], None] | None = None
        self._loaded: list[_Loaded] = []

    def load(self, wall_seconds: float) -> None:
        """Compile and execute every step's module. Raises LensValidationError or StepFailure."""
        compiled: dict[str, types.CodeType] = {}
        for i, step in enumerate(self.steps):
            filename = _filename(step)
            if step.ops is not None:
                self._loaded.append(_ops_step(step))
                continue
            code = compiled.get(step.source)
            if code is None:
                code = compiled[step.source] = compile_lens(step.source, filename)
            in_shape, out_shape = step.shapes()
            if step.direction == "put":
                in_shape, out_shape = out_shape, in_shape
            namespace = self._namespace(step)
            self.budget.start(wall_seconds)
            try:
                exec(code, namespace)
            except BaseException as e:
                raise StepFailure(
                    i, None, f"lens module failed to load: {describe_exception(e, filename)}"
                ) from None
            fn = namespace.get(step.direction)
            if not callable(fn):
                why = "get(source)" if step.direction == "get" else "put(view, source)"
                raise LensValidationError(filename, [Violation(1, 0, f"lens code defines no {why}")])
            self._loaded.append(_Loaded(step, fn, in_shape, out_shape))

    def _namespace(self, step: LensStep) -> dict[str, Any]:
        namespace: dict[str, Any] = {
            "__builtins__": lens_builtins(self.budget.tick),
            "__name__": f"lens {step.name}",
        }
        for shape in step.shapes():
            for type_name, sub in shape.types().items():
                namespace.setdefault(type_name, RecordFactory(sub))
        namespace[GA] = guarded_getattr
        namespace[POW] = guarded_pow
        namespace[LSHIFT] = guarded_lshift
        namespace[MUL] = guarded_mul
        namespace[TICK] = self.budget.tick
        namespace[MODULE] = module_proxy
        return namespace

    def run(self, items: Sequence[dict[str, Any]], wall_seconds: float) -> list[dict[str, Any]]:
        """Apply every ``get`` step in order to each item. Raises StepFailure.

        Between steps a record passes as it is: only what leaves the last step is made plain.
        """
        steps = [(i, s) for i, s in enumerate(self._loaded) if s.step.direction == "get"]
        if not steps:
            raise ValueError("the program has no get steps")
        private = self.private_inputs
        progress = self.progress
        first_shape = steps[0][1].in_shape
        tick = self.budget.tick
        last = steps[-1][0]
        out: list[dict[str, Any]] = []
        self.budget.start(wall_seconds)
        for n, item in enumerate(items):
            i = steps[0][0]
            try:
                tick()
                value = to_record(item, first_shape, private=private)
                for i, s in steps:
                    if progress is not None:
                        progress(i, n)
                    value = as_record(s.fn(value), s.out_shape)
                i = last
                out.append(to_plain(value))
            except BaseException as e:
                if isinstance(e, KeyboardInterrupt) and private:
                    raise  # a real Ctrl-C in the caller's own process, not lens code
                why = describe_exception(e, _filename(self._loaded[i].step))
                raise StepFailure(i, n, why, limit=is_limit(e)) from None
        return out

    def run_put(
        self,
        views: Sequence[dict[str, Any]],
        sources: Sequence[dict[str, Any]],
        step: int | None,
        wall_seconds: float,
    ) -> list[dict[str, Any]]:
        """Apply one ``put`` step to each (view, source) pair. Raises StepFailure."""
        i, s = self._put_step(step)
        private = self.private_inputs
        progress = self.progress
        out: list[dict[str, Any]] = []
        self.budget.start(wall_seconds)
        for n, (view, source) in enumerate(zip(views, sources, strict=True)):
            if progress is not None:
                progress(i, n)
            try:
                self.budget.tick()
                view_rec = to_record(view, s.in_shape, private=private)
                source_rec = to_record(source, s.out_shape, private=private)
                out.append(output_fields(s.fn(view_rec, source_rec), s.out_shape.name))
            except BaseException as e:
                if isinstance(e, KeyboardInterrupt) and private:
                    raise
                raise StepFailure(i, n, describe_exception(e, _filename(s.step)), limit=is_limit(e)) from None
        return out

    def _put_step(self, step: int | None) -> tuple[int, _Loaded]:
        puts = [(i, s) for i, s in enumerate(self._loaded) if s.step.direction == "put"]
        if step is None:
            if len(puts) != 1:
                raise ValueError(f"the program has {len(puts)} put steps; pass step= to choose one")
            return puts[0]
        if not 0 <= step < len(self._loaded) or self._loaded[step].step.direction != "put":
            raise ValueError(f"step {step} is not a put step of this program")
        return step, self._loaded[step]


def _ops_step(step: LensStep) -> _Loaded:
    """A declarative op list as a loaded step: plain fields in, plain fields out."""
    from atdata.lenses.declarative import Ops

    try:
        ops = Ops.parse(step.ops)
    except LensValidationError as e:
        raise LensValidationError(_filename(step), e.violations) from None
    in_shape, out_shape = step.shapes()
    if step.direction == "put":
        in_shape, out_shape = out_shape, in_shape

        def put(view: Record, source: Record) -> dict[str, Any]:
            return ops.put(to_plain(view), to_plain(source))

        return _Loaded(step, put, in_shape, out_shape)

    def get(source: Record) -> dict[str, Any]:
        return ops.get(to_plain(source))

    return _Loaded(step, get, in_shape, out_shape)


def _filename(step: LensStep) -> str:
    return f"<lens {step.name}>"
