"""``Lens``: a getter and optional putter between two sample types, composable with ``|``.

A lens is a chain of steps of three kinds, freely mixed:

* native: Python functions in the caller's own process (``@atdata.lens``; trusted, run on
  sample instances);
* code: published lens modules in the restricted dialect, run through :mod:`atdata.sandbox`
  inline or in a worker process (run on plain field dicts);
* declarative: an operation list (:mod:`atdata.lenses.declarative`), interpreted here.

A chain is compiled once: consecutive code steps become one sandbox program, so samples cross
into a worker and back once per batch however many code steps the chain has. Outputs are
validated into the target class at the end of the chain and wherever a native step needs an
instance; failures name the lens, the sample key and the reason.
"""

from __future__ import annotations

import ast
import hashlib
import json
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from atdata.errors import (
    LensCompositionError,
    LensError,
    LensExecutionError,
    SampleValidationError,
)
from atdata.lenses.declarative import OpError, Ops
from atdata.types.packable import as_plain, is_packable, restore_datetimes, spec_of

S = TypeVar("S")
T = TypeVar("T")
U = TypeVar("U")

Isolation = Literal["inline", "process"]

_PROCESS_WORKERS = 2
"""Worker processes per run of process-isolated code steps (see :class:`_Chain`)."""
_SPLIT_MIN = 16
"""Smallest batch worth splitting between two workers."""


@dataclass(frozen=True, eq=False)
class _Native:
    name: str
    source: type
    target: type
    fget: Callable[[Any], Any]
    fput: Callable[[Any, Any], Any] | None = None

    @property
    def ident(self) -> str:
        return f"{self.fget.__module__}.{self.fget.__qualname__}"


@dataclass(frozen=True, eq=False)
class _Code:
    name: str
    source: type
    target: type
    code: str
    isolation: Isolation
    has_put: bool
    limits: Any = None
    ops: Ops | None = None  # a declarative lens run in the sandbox (someone else's op list)

    @property
    def ident(self) -> str:
        if self.ops is not None:
            return _ops_ident(self.ops)
        return "sha256:" + hashlib.sha256(self.code.encode()).hexdigest()


def _ops_ident(ops: Ops) -> str:
    text = json.dumps(ops.to_plain(), sort_keys=True, default=repr)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class _Declarative:
    name: str
    source: type
    target: type
    ops: Ops

    @property
    def ident(self) -> str:
        return _ops_ident(self.ops)


_Step = _Native | _Code | _Declarative


def _same_type(a: type, b: type) -> bool:
    return a is b or spec_of(a) == spec_of(b)


class Lens(Generic[S, T]):
    """A view of ``S`` samples as ``T``: ``lens(s)`` or ``lens.get(s)``, and ``lens.put(view, s)``.

    ``a | b`` is ``a`` then ``b``. Make lenses with ``@atdata.lens``, :meth:`from_source`,
    :meth:`from_ops` or :meth:`identity`. A lens that runs code in a worker process holds it
    until :meth:`close` (or garbage collection).
    """

    def __init__(
        self, steps: Sequence[_Step], *, source: type[S], target: type[T], name: str | None = None
    ) -> None:
        for t in (source, target):
            if not is_packable(t):
                raise LensCompositionError(f"{t!r} is not a sample type; decorate it with @atdata.packable")
        self._steps: tuple[_Step, ...] = tuple(steps)
        self.source: type[S] = source
        self.target: type[T] = target
        self.name = name or (
            " | ".join(s.name for s in self._steps) if self._steps else f"identity[{source.__name__}]"
        )
        self.publishable = False
        """Whether this lens was checked to be publishable when made (``@atdata.lens`` does that)."""
        self._compiled: _Chain | None = None
        self._finalizer: weakref.finalize | None = None

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def identity(cls, sample_type: type[S]) -> Lens[S, S]:
        """The lens that changes nothing (the unit of ``|``)."""
        return Lens((), source=sample_type, target=sample_type)

    @classmethod
    def native(
        cls,
        get: Callable[[S], T],
        *,
        source: type[S],
        target: type[T],
        put: Callable[[T, S], S] | None = None,
        name: str | None = None,
    ) -> Lens[S, T]:
        """A lens from Python functions run as they are, in this process (what ``@atdata.lens`` makes)."""
        step = _Native(name or get.__name__, source, target, get, put)
        return Lens((step,), source=source, target=target, name=step.name)

    @classmethod
    def from_source(
        cls,
        code: str,
        *,
        source: type[S],
        target: type[T],
        isolation: Isolation = "process",
        name: str | None = None,
        limits: Any = None,
    ) -> Lens[S, T]:
        """A lens from a module in the restricted lens dialect defining ``get(source)`` [and ``put``].

        The code is validated now (:class:`~atdata.errors.LensValidationError` lists every
        violation; the parse runs in a child process behind a lexical gate) and compiled on first
        use. By default it runs in a sandboxed worker process under ``limits`` (an
        :class:`atdata.sandbox.Limits`; defaults apply when None). ``isolation="inline"`` runs it
        in this process: only for code you trust, since inline bounds less
        (:mod:`atdata.sandbox.inline` lists what).
        """
        from atdata.sandbox import check_source

        if isolation not in ("inline", "process"):
            raise LensError(f"isolation must be 'inline' or 'process', not {isolation!r}")
        lens_name = name or f"{source.__name__}_to_{target.__name__}"
        check_source(code, filename=f"<lens {lens_name}>")
        defined = {n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)}
        if "get" not in defined:
            raise LensError(f"lens {lens_name}: the code defines no get(source) function")
        step = _Code(lens_name, source, target, code, isolation, "put" in defined, limits)
        return Lens((step,), source=source, target=target, name=lens_name)

    @classmethod
    def from_ops(
        cls,
        ops: Sequence[dict[str, Any]] | Ops,
        *,
        source: type[S],
        target: type[T],
        name: str | None = None,
        isolation: Isolation = "inline",
        limits: Any = None,
    ) -> Lens[S, T]:
        """A declarative lens; the operations are checked against both types now.

        Operations are bounded wherever they run (dtypes, output sizes and constants are checked
        before anything is allocated). ``isolation="process"`` runs them in a sandboxed worker
        under ``limits``, as a trust policy asks for an untrusted author's op list.
        """
        parsed = Ops.parse(ops)
        parsed.check_types(spec_of(source), spec_of(target))
        lens_name = name or f"{source.__name__}_to_{target.__name__}"
        if isolation == "process":
            worker_step = _Code(lens_name, source, target, "", "process", True, limits, ops=parsed)
            return Lens((worker_step,), source=source, target=target, name=lens_name)
        if isolation != "inline":
            raise LensError(f"isolation must be 'inline' or 'process', not {isolation!r}")
        step = _Declarative(lens_name, source, target, parsed)
        return Lens((step,), source=source, target=target, name=step.name)

    def putter(self, fput: Callable[[T, S], S]) -> Callable[[T, S], S]:
        """Decorator giving a native lens its putter: ``def f_put(view: T, source: S) -> S``."""
        if len(self._steps) != 1 or not isinstance(self._steps[0], _Native):
            raise LensCompositionError(f"lens {self.name}: only a lens made with @atdata.lens takes a putter")
        step = self._steps[0]
        self._steps = (_Native(step.name, step.source, step.target, step.fget, fput),)
        self._invalidate()
        if self.publishable:
            from atdata.lenses.extract import extract_source

            try:
                extract_source(self)
            except Exception:
                self._steps = (step,)
                raise
        return fput

    # --- what it is -------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        """How many lenses this chain applies."""
        return len(self._steps)

    @property
    def step_names(self) -> tuple[str, ...]:
        """The name of each lens this chain applies, in order."""
        return tuple(s.name for s in self._steps)

    @property
    def has_put(self) -> bool:
        return all(_has_put(s) for s in self._steps)

    @property
    def ident(self) -> str:
        """A stable identifier: a content hash for code and op lists, the qualified name for functions."""
        return "|".join(s.ident for s in self._steps) or f"identity:{self.source.__name__}"

    @property
    def ops(self) -> Ops | None:
        """The operation list of a single declarative lens, else None."""
        if len(self._steps) == 1 and isinstance(self._steps[0], _Declarative | _Code):
            return self._steps[0].ops
        return None

    @property
    def code(self) -> str | None:
        """The lens-dialect source of a single lens made from source, else None."""
        if len(self._steps) == 1 and isinstance(self._steps[0], _Code) and self._steps[0].ops is None:
            return self._steps[0].code
        return None

    def native_functions(self) -> tuple[Callable[..., Any], Callable[..., Any] | None] | None:
        """``(get, put)`` of a single lens made with ``@atdata.lens``, else None."""
        if len(self._steps) == 1 and isinstance(self._steps[0], _Native):
            return self._steps[0].fget, self._steps[0].fput
        return None

    def __repr__(self) -> str:
        return f"Lens[{self.source.__name__} -> {self.target.__name__}]({self.name})"

    # --- composition ------------------------------------------------------------------------

    def __or__(self, other: Lens[T, U]) -> Lens[S, U]:
        if not isinstance(other, Lens):
            return NotImplemented
        if not _same_type(self.target, other.source):
            raise LensCompositionError(
                f"cannot compose {self.name} ({self.source.__name__} -> {self.target.__name__}) with "
                f"{other.name} ({other.source.__name__} -> {other.target.__name__}): "
                f"{self.target.__name__} is not {other.source.__name__}"
            )
        return Lens((*self._steps, *other._steps), source=self.source, target=other.target)

    # --- running ----------------------------------------------------------------------------

    def get(self, source: S, *, key: str | None = None) -> T:
        """The view of one sample."""
        return self.get_many([source], [key])[0]

    __call__ = get

    def get_many(self, samples: Sequence[S], keys: Sequence[str | None] | None = None) -> list[T]:
        """Views of many samples at once (one crossing into the sandbox for the whole list)."""
        keys = list(keys) if keys is not None else [None] * len(samples)
        for sample, key in zip(samples, keys):
            if not isinstance(sample, self.source):
                raise LensCompositionError(
                    f"lens {self.name} reads {self.source.__name__}, got {type(sample).__name__}"
                    + (f" (sample {key!r})" if key is not None else "")
                )
        return self._chain().run(list(samples), keys)

    def put(self, view: T, source: S, *, key: str | None = None) -> S:
        """The source updated so that its view is ``view`` (needs a putter on every step)."""
        missing = [s.name for s in self._steps if not _has_put(s)]
        if missing:
            raise LensError(f"lens {self.name} cannot put: {', '.join(missing)} has no putter")
        for role, value, cls in (("view", view, self.target), ("source", source, self.source)):
            if not isinstance(value, cls):
                raise LensCompositionError(
                    f"lens {self.name}.put: the {role} must be a {cls.__name__}, got {type(value).__name__}"
                )
        return self._chain().put(view, source, key)

    def close(self) -> None:
        """Stop any sandbox worker this lens started (it restarts on next use)."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._compiled = None

    def __enter__(self) -> Lens[S, T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # Loaded sandbox programs (and worker processes) stay with the process that made them.
        state = dict(self.__dict__)
        state["_compiled"] = None
        state["_finalizer"] = None
        return state

    def _invalidate(self) -> None:
        self.close()

    def _chain(self) -> _Chain:
        if self._compiled is None:
            self._compiled = _Chain(self._steps, self.target)
            self._finalizer = weakref.finalize(self, self._compiled.close)
        return self._compiled


def _has_put(step: _Step) -> bool:
    if isinstance(step, _Native):
        return step.fput is not None
    if isinstance(step, _Code):
        return step.has_put
    return True


# --- the compiled chain ---------------------------------------------------------------------


@dataclass
class _Segment:
    """Steps run together: one native or declarative step, or a run of code steps in one program."""

    steps: list[_Step]
    programs: list[Any] = field(default_factory=list)

    @property
    def head(self) -> _Step:
        return self.steps[0]

    @property
    def wants_plain(self) -> bool:
        return not isinstance(self.head, _Native)


class _Chain:
    """A lens chain ready to run: sandbox programs loaded once, reused for every batch.

    A run of code steps in worker processes gets up to :data:`_PROCESS_WORKERS` workers; a
    batch of at least :data:`_SPLIT_MIN` samples is split between them and the halves run at
    once (the host encodes one half while a worker computes the other), which is what keeps
    process isolation near native speed on arrays. Results keep the input order.
    """

    def __init__(self, steps: Sequence[_Step], target: type) -> None:
        self.target = target
        self.segments: list[_Segment] = []
        self._singles: dict[tuple[int, str], Any] = {}
        self._pool: ThreadPoolExecutor | None = None
        for step in steps:
            last = self.segments[-1] if self.segments else None
            if (
                isinstance(step, _Code)
                and last is not None
                and isinstance(last.head, _Code)
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
        code_steps = [s for s in seg.steps if isinstance(s, _Code)]
        isolation = code_steps[0].isolation
        wanted = min(wanted, _PROCESS_WORKERS if isolation == "process" else 1)
        while len(seg.programs) < wanted:
            from atdata.sandbox import load_program

            seg.programs.append(
                load_program(
                    [_sandbox_step(s, "get") for s in code_steps],
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
                values, plain = _instances(head.source, values, keys, made_by), False
            if isinstance(head, _Native):
                values = [_call_native(head, v, k) for v, k in zip(values, keys)]
            elif isinstance(head, _Declarative):
                values = [_call_ops(head, v, k) for v, k in zip(values, keys)]
            else:
                values = self._run_code(seg, values, keys)
            made_by = f"lens {seg.steps[-1].name}"
        if plain:
            values = _instances(self.target, values, keys, made_by)
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

    def _single(self, step: _Code, direction: Literal["get", "put"]) -> Any:
        """A one-step program, for putting back through a chain one step at a time."""
        from atdata.sandbox import load_program

        program = self._singles.get((id(step), direction))
        if program is None:
            program = self._singles[(id(step), direction)] = load_program(
                [_sandbox_step(step, direction)],
                isolation=step.isolation,
                limits=step.limits,
            )
        return program

    def _get_one(self, step: _Step, value: Any, key: str | None) -> Any:
        if isinstance(step, _Native):
            return _call_native(step, value, key)
        if isinstance(step, _Declarative):
            out = _call_ops(step, as_plain(value), key)
        else:
            out = self._single(step, "get").run([as_plain(value)], [key])[0]
        return _instances(step.target, [out], [key], f"lens {step.name}")[0]

    def _put_one(self, step: _Step, view: Any, source: Any, key: str | None) -> Any:
        if isinstance(step, _Native):
            assert step.fput is not None
            try:
                out = step.fput(view, source)
            except Exception as e:
                raise LensExecutionError(f"{step.name}.put", f"{type(e).__name__}: {e}", key=key) from e
            return _coerce_instance(step.source, out, key, f"lens {step.name}.put")
        if isinstance(step, _Declarative):
            try:
                out = step.ops.put(as_plain(view), as_plain(source))
            except OpError as e:
                raise LensExecutionError(f"{step.name}.put", str(e), key=key) from None
        else:
            out = self._single(step, "put").run_put([as_plain(view)], [as_plain(source)], [key])[0]
        return _instances(step.source, [out], [key], f"lens {step.name}.put")[0]


def _sandbox_step(step: _Code, direction: Literal["get", "put"]) -> Any:
    from atdata.sandbox import LensStep, RecordShape

    return LensStep(
        step.code,
        step.name,
        step.source.__name__,
        step.target.__name__,
        direction=direction,
        source_shape=RecordShape.of(spec_of(step.source)),
        target_shape=RecordShape.of(spec_of(step.target)),
        ops=None if step.ops is None else step.ops.to_plain(),
    )


def _call_native(step: _Native, value: Any, key: str | None) -> Any:
    try:
        out = step.fget(value)
    except Exception as e:
        raise LensExecutionError(step.name, f"{type(e).__name__}: {e}", key=key) from e
    return _coerce_instance(step.target, out, key, f"lens {step.name}")


def _call_ops(step: _Declarative, value: dict[str, Any], key: str | None) -> dict[str, Any]:
    try:
        return step.ops.get(value)
    except OpError as e:
        raise LensExecutionError(step.name, str(e), key=key) from None


def _coerce_instance(cls: type, out: Any, key: str | None, made_by: str) -> Any:
    if type(out) is cls:
        return out
    if isinstance(out, dict) or is_packable(type(out)):
        return _instances(cls, [as_plain(out)], [key], made_by)[0]
    raise LensExecutionError(
        made_by.removeprefix("lens "),
        f"returned {type(out).__name__}, expected {cls.__name__} or a dict of its fields",
        key=key,
    )


def _instances(cls: type, values: list[Any], keys: list[str | None], made_by: str) -> list[Any]:
    out = []
    for v, k in zip(values, keys):
        try:
            out.append(cls(**restore_datetimes(cls, v)))
        except SampleValidationError as e:
            raise LensExecutionError(
                made_by.removeprefix("lens "), f"output is not a valid {e}", key=k
            ) from None
        except TypeError as e:
            raise LensExecutionError(
                made_by.removeprefix("lens "), f"output is not a field dict of {cls.__name__}: {e}", key=k
            ) from None
    return out
