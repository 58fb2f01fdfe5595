"""The compiled lens chain: segments of steps, sandbox programs loaded once, get and put.

A chain is compiled once: consecutive code steps with the same isolation and limits become one
sandbox program, so samples cross into a worker and back once per batch however many code steps
the chain has. Outputs are validated into the target class at the end of the chain and wherever
a native step needs an instance. Putting back replays the gets over the source, then puts through
each step in reverse, one step at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
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
from atdata.types.packable import as_plain

_PROCESS_WORKERS = 2
"""Worker processes per run of process-isolated code steps (see :class:`Chain`)."""
_SPLIT_MIN = 16
"""Smallest batch worth splitting between two workers."""


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


class Chain:
    """A lens chain ready to run: sandbox programs loaded once, reused for every batch.

    A run of code steps in worker processes gets up to :data:`_PROCESS_WORKERS` workers; a
    batch of at least :data:`_SPLIT_MIN` samples is split between them and the halves run at
    once (the host encodes one half while a worker computes the other), which is what keeps
    process isolation near native speed on arrays. Results keep the input order.
    """

    def __init__(self, steps: Sequence[Step], target: type) -> None:
        self.target = target
        self.segments: list[_Segment] = []
        self._singles: dict[tuple[int, str], Any] = {}
        self._pool: ThreadPoolExecutor | None = None
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

    def close(self) -> None:
        programs = [p for seg in self.segments for p in seg.programs]
        programs.extend(self._singles.values())
        for seg in self.segments:
            seg.programs = []
        self._singles.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for program in programs:
            program.close()

    def _programs(self, seg: _Segment, wanted: int) -> list[Any]:
        code_steps = [s for s in seg.steps if isinstance(s, CodeStep)]
        isolation = code_steps[0].isolation
        wanted = min(wanted, _PROCESS_WORKERS if isolation == "process" else 1)
        while len(seg.programs) < wanted:
            from atdata.sandbox import load_program

            seg.programs.append(
                load_program(
                    [sandbox_step(s, "get") for s in code_steps],
                    isolation=isolation,
                    limits=code_steps[0].limits,
                )
            )
        return seg.programs[:wanted]

    def _run_code(self, seg: _Segment, values: list[Any], keys: list[str | None]) -> list[Any]:
        programs = self._programs(seg, 2 if len(values) >= _SPLIT_MIN else 1)
        if len(programs) == 1:
            return list(programs[0].run(values, keys))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atdata-lens-chain")
        half = (len(values) + 1) // 2
        second = self._pool.submit(programs[1].run, values[half:], keys[half:])
        try:
            first = list(programs[0].run(values[:half], keys[:half]))
        finally:
            # Never leave a worker mid-batch; the first half's error (the earlier key) wins.
            wait([second])
        return first + list(second.result())

    def run(self, samples: list[Any], keys: list[str | None]) -> list[Any]:
        values = samples
        plain = False
        made_by = "the input"
        for seg in self.segments:
            head = seg.head
            if seg.wants_plain and not plain:
                values, plain = [as_plain(v) for v in values], True
            elif not seg.wants_plain and plain:
                values, plain = instances(head.source, values, keys, made_by), False
            if isinstance(head, NativeStep):
                values = [call_native(head, v, k) for v, k in zip(values, keys)]
            elif isinstance(head, DeclarativeStep):
                values = [call_ops(head, v, k) for v, k in zip(values, keys)]
            else:
                values = self._run_code(seg, values, keys)
            made_by = f"lens {seg.steps[-1].name}"
        if plain:
            values = instances(self.target, values, keys, made_by)
        return values

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
