"""The compiled lens chain: segments of steps, sandbox programs loaded once, get and put.

A chain is compiled once: consecutive code steps with the same isolation and limits become one
sandbox program, so samples cross into a worker and back once per batch however many code steps
the chain has. Outputs are validated into the target class at the end of the chain and wherever
a native step needs an instance. Putting back replays the gets over the source, then puts through
each step in reverse, one step at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from atdata.errors import LensExecutionError
from atdata.lenses.declarative import OpError
from atdata.lenses.steps import (
    CodeStep,
    DeclarativeStep,
    NativeStep,
    Step,
    call_native,
    call_ops,
    coerce_instance,
    instances,
    sandbox_step,
)
from atdata.sandbox.columns import Batch
from atdata.types.packable import as_plain

_PROCESS_WORKERS = 2
"""Worker processes per run of process-isolated code steps (see :class:`Chain`)."""

Finish = Callable[[], list[Any]]
"""What :meth:`Chain.submit` returns: call it for the outputs."""


@dataclass
class _Segment:
    """Steps run together: one native or declarative step, or a run of code steps in one program."""

    steps: list[Step]
    programs: list[Any] = field(default_factory=list)

    @property
    def head(self) -> Step:
        return self.steps[0]

    @property
    def wants_plain(self) -> bool:
        return not isinstance(self.head, NativeStep)

    @property
    def in_process(self) -> bool:
        return isinstance(self.head, CodeStep) and self.head.isolation == "process"


class Chain:
    """A lens chain ready to run: sandbox programs loaded once, reused for every batch.

    A run of code steps in worker processes is one program with up to :data:`_PROCESS_WORKERS`
    workers, taken from the process-wide pool of programs (:mod:`atdata.sandbox.program_pool`)
    and given back on :meth:`close`, so its workers outlive the chain. :meth:`submit` sends a
    batch to the workers and returns; the caller decodes the next batch while they compute.
    Results keep the input order.
    """

    def __init__(self, steps: Sequence[Step], target: type) -> None:
        self.target = target
        self.segments: list[_Segment] = []
        self._singles: dict[tuple[int, str], Any] = {}
        for step in steps:
            last = self.segments[-1] if self.segments else None
            if (
                isinstance(step, CodeStep)
                and last is not None
                and isinstance(last.head, CodeStep)
                and last.head.isolation == step.isolation
                and last.head.limits == step.limits
            ):
                last.steps.append(step)
            else:
                self.segments.append(_Segment([step]))

    @property
    def depth(self) -> int:
        """Batches worth having in flight at once: 0 unless some steps run in worker processes."""
        from atdata.sandbox.worker import SLOTS

        return _PROCESS_WORKERS * SLOTS if any(seg.in_process for seg in self.segments) else 0

    def dispatch(self) -> None:
        """Read the workers' answers that have arrived and send them the batches waiting (never waits)."""
        for seg in self.segments:
            if seg.in_process and seg.programs:
                seg.programs[0].dispatch()

    def close(self) -> None:
        from atdata.sandbox import program_pool

        pooled = [p for seg in self.segments if seg.in_process for p in seg.programs]
        programs = [p for seg in self.segments if not seg.in_process for p in seg.programs]
        programs.extend(self._singles.values())
        for seg in self.segments:
            seg.programs = []
        self._singles.clear()
        for program in programs:
            program.close()
        for program in pooled:
            program_pool.checkin(program)

    def _program(self, seg: _Segment) -> Any:
        if not seg.programs:
            from atdata.sandbox import Limits, load_program, program_pool

            code_steps = [s for s in seg.steps if isinstance(s, CodeStep)]
            steps = [sandbox_step(s, "get") for s in code_steps]
            limits = code_steps[0].limits or Limits()
            if seg.in_process:
                seg.programs.append(program_pool.checkout(steps, limits, workers=_PROCESS_WORKERS))
            else:
                seg.programs.append(load_program(steps, isolation="inline", limits=limits))
        return seg.programs[0]

    def run(self, samples: list[Any], keys: list[str | None]) -> list[Any]:
        return self._run_from(0, samples, False, keys, "the input")

    def submit(self, samples: list[Any], keys: list[str | None]) -> Finish:
        """Run the chain up to its first steps in worker processes, send the batch there and return.

        Calling what it returns reads the workers' answer and runs the rest of the chain.
        """
        values, plain, made_by = samples, False, "the input"
        for n, seg in enumerate(self.segments):
            values, plain = self._prepare(seg, values, plain, keys, made_by)
            if seg.in_process:
                pending = self._program(seg).submit(values, keys)
                after = f"lens {seg.steps[-1].name}"
                return lambda: self._run_from(n + 1, pending.result(), True, keys, after)
            values = self._apply(seg, values, keys)
            made_by = f"lens {seg.steps[-1].name}"
        done = instances(self.target, values, keys, made_by) if plain else values
        return lambda: done

    def _run_from(
        self, start: int, values: list[Any], plain: bool, keys: list[str | None], made_by: str
    ) -> list[Any]:
        for seg in self.segments[start:]:
            values, plain = self._prepare(seg, values, plain, keys, made_by)
            values = self._apply(seg, values, keys)
            made_by = f"lens {seg.steps[-1].name}"
        if plain:
            values = instances(self.target, values, keys, made_by)
        return values

    @staticmethod
    def _prepare(
        seg: _Segment, values: list[Any], plain: bool, keys: list[str | None], made_by: str
    ) -> tuple[list[Any], bool]:
        """``values`` as the segment takes them: plain field dicts, or instances for native code.

        Worker processes take samples as columns read straight from their fields (no dict per
        sample, see :class:`atdata.sandbox.columns.Batch`).
        """
        if seg.wants_plain and not plain:
            if seg.in_process:
                return Batch.of_samples(values), True  # type: ignore[return-value]
            return [as_plain(v) for v in values], True
        if not seg.wants_plain and plain:
            return instances(seg.head.source, values, keys, made_by), False
        return values, plain

    def _apply(self, seg: _Segment, values: list[Any], keys: list[str | None]) -> list[Any]:
        head = seg.head
        if isinstance(head, NativeStep):
            return [call_native(head, v, k) for v, k in zip(values, keys)]
        if isinstance(head, DeclarativeStep):
            return [call_ops(head, v, k) for v, k in zip(values, keys)]
        return list(self._program(seg).run(values, keys))

    def put(self, view: Any, source: Any, key: str | None) -> Any:
        """Put back through every step: replay gets over the source, then puts in reverse."""
        steps = [s for seg in self.segments for s in seg.steps]
        states = [source]
        for step in steps[:-1]:
            states.append(self._get_one(step, states[-1], key))
        result = view
        for step, before in zip(reversed(steps), reversed(states), strict=True):
            result = self._put_one(step, result, before, key)
        return result

    def _single(self, step: CodeStep, direction: Literal["get", "put"]) -> Any:
        """A one-step program, for putting back through a chain one step at a time."""
        from atdata.sandbox import load_program

        program = self._singles.get((id(step), direction))
        if program is None:
            program = self._singles[(id(step), direction)] = load_program(
                [sandbox_step(step, direction)],
                isolation=step.isolation,
                limits=step.limits,
            )
        return program

    def _get_one(self, step: Step, value: Any, key: str | None) -> Any:
        if isinstance(step, NativeStep):
            return call_native(step, value, key)
        if isinstance(step, DeclarativeStep):
            out = call_ops(step, as_plain(value), key)
        else:
            out = self._single(step, "get").run([as_plain(value)], [key])[0]
        return instances(step.target, [out], [key], f"lens {step.name}")[0]

    def _put_one(self, step: Step, view: Any, source: Any, key: str | None) -> Any:
        if isinstance(step, NativeStep):
            assert step.fput is not None
            try:
                out = step.fput(view, source)
            except Exception as e:
                raise LensExecutionError(f"{step.name}.put", f"{type(e).__name__}: {e}", key=key) from e
            return coerce_instance(step.source, out, key, f"lens {step.name}.put")
        if isinstance(step, DeclarativeStep):
            try:
                out = step.ops.put(as_plain(view), as_plain(source))
            except OpError as e:
                raise LensExecutionError(f"{step.name}.put", str(e), key=key) from None
        else:
            out = self._single(step, "put").run_put([as_plain(view)], [as_plain(source)], [key])[0]
        return instances(step.source, [out], [key], f"lens {step.name}.put")[0]
