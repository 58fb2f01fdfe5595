"""``Lens``: a getter and optional putter between two sample types, composable with ``|``.

A lens is a chain of steps (:mod:`atdata.lenses.steps`: native functions, published code run in
the sandbox, declarative op lists), compiled on first use into a :class:`~atdata.lenses.chain.Chain`
that loads its sandbox programs once. This module is the public face: making lenses, composing
them, running them and closing what they started.
"""

from __future__ import annotations

import ast
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from atdata.errors import LensCompositionError, LensError, LensExecutionError
from atdata.lenses.chain import Chain
from atdata.lenses.declarative import Ops
from atdata.lenses.steps import (
    CodeStep,
    DeclarativeStep,
    Isolation,
    NativeStep,
    Step,
    has_put,
    named_object,
)
from atdata.types.packable import is_packable, spec_of

S = TypeVar("S")
T = TypeVar("T")
U = TypeVar("U")


def _same_type(a: type, b: type) -> bool:
    return a is b or spec_of(a) == spec_of(b)


class Lens(Generic[S, T]):
    """A view of ``S`` samples as ``T``: ``lens(s)`` or ``lens.get(s)``, and ``lens.put(view, s)``.

    ``a | b`` is ``a`` then ``b``. Make lenses with ``@atdata.lens``, :meth:`from_source`,
    :meth:`from_ops` or :meth:`identity`. A lens that runs code in a worker process holds it
    until :meth:`close` (or garbage collection).
    """

    def __init__(
        self, steps: Sequence[Step], *, source: type[S], target: type[T], name: str | None = None
    ) -> None:
        for t in (source, target):
            if not is_packable(t):
                raise LensCompositionError(f"{t!r} is not a sample type; decorate it with @atdata.packable")
        self._steps: tuple[Step, ...] = tuple(steps)
        self.source: type[S] = source
        self.target: type[T] = target
        self.name = name or (
            " | ".join(s.name for s in self._steps) if self._steps else f"identity[{source.__name__}]"
        )
        self.publishable = False
        self._reference: tuple[str, str] | None = None  # (module, qualname) for @atdata.lens lenses
        """Whether this lens was checked to be publishable when made (``@atdata.lens`` does that)."""
        self._compiled: Chain | None = None
        self._finalizer: weakref.finalize[[], Lens[Any, Any]] | None = None

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
        step = NativeStep(name or get.__name__, source, target, get, put)
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
        step = CodeStep(lens_name, source, target, code, isolation, "put" in defined, limits)
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
            worker_step = CodeStep(lens_name, source, target, "", "process", True, limits, ops=parsed)
            return Lens((worker_step,), source=source, target=target, name=lens_name)
        if isolation != "inline":
            raise LensError(f"isolation must be 'inline' or 'process', not {isolation!r}")
        step = DeclarativeStep(lens_name, source, target, parsed)
        return Lens((step,), source=source, target=target, name=step.name)

    def putter(self, fput: Callable[[T, S], S]) -> Callable[[T, S], S]:
        """Decorator giving a native lens its putter: ``def f_put(view: T, source: S) -> S``."""
        if len(self._steps) != 1 or not isinstance(self._steps[0], NativeStep):
            raise LensCompositionError(f"lens {self.name}: only a lens made with @atdata.lens takes a putter")
        step = self._steps[0]
        self._steps = (NativeStep(step.name, step.source, step.target, step.fget, fput),)
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
        return all(has_put(s) for s in self._steps)

    @property
    def ident(self) -> str:
        """A stable identifier: a content hash for code and op lists, the qualified name for functions."""
        return "|".join(s.ident for s in self._steps) or f"identity:{self.source.__name__}"

    @property
    def ops(self) -> Ops | None:
        """The operation list of a single declarative lens, else None."""
        if len(self._steps) == 1 and isinstance(self._steps[0], DeclarativeStep | CodeStep):
            return self._steps[0].ops
        return None

    @property
    def code(self) -> str | None:
        """The lens-dialect source of a single lens made from source, else None."""
        if len(self._steps) == 1 and isinstance(self._steps[0], CodeStep) and self._steps[0].ops is None:
            return self._steps[0].code
        return None

    def native_functions(self) -> tuple[Callable[..., Any], Callable[..., Any] | None] | None:
        """``(get, put)`` of a single lens made with ``@atdata.lens``, else None."""
        if len(self._steps) == 1 and isinstance(self._steps[0], NativeStep):
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
        keys = self._checked(samples, keys)
        return self._chain().run(list(samples), keys)

    def _checked(self, samples: Sequence[S], keys: Sequence[str | None] | None) -> list[str | None]:
        keys = list(keys) if keys is not None else [None] * len(samples)
        for sample, key in zip(samples, keys):
            if not isinstance(sample, self.source):
                raise LensCompositionError(
                    f"lens {self.name} reads {self.source.__name__}, got {type(sample).__name__}"
                    + (f" (sample {key!r})" if key is not None else "")
                )
        return keys

    def submit_many(
        self, samples: Sequence[S], keys: Sequence[str | None] | None = None
    ) -> Callable[[], list[T]]:
        """Start the views of many samples; call what it returns to get them.

        Steps that run in sandbox worker processes compute while the caller goes on (decoding the
        next batch, say); up to :attr:`pipeline_depth` batches are worth having in flight. Other
        steps run before this returns. Errors are raised by the call that gets the views.
        """
        keys = self._checked(samples, keys)
        try:
            finish: Callable[[], list[T]] = self._chain().submit(list(samples), keys)
        except LensExecutionError as e:
            failure = e

            def fail() -> list[T]:
                raise failure

            return fail
        return finish

    @property
    def pipeline_depth(self) -> int:
        """How many :meth:`submit_many` batches are worth having in flight (0: nothing to overlap)."""
        return self._chain().depth

    def put(self, view: T, source: S, *, key: str | None = None) -> S:
        """The source updated so that its view is ``view`` (needs a putter on every step)."""
        missing = [s.name for s in self._steps if not has_put(s)]
        if missing:
            raise LensError(f"lens {self.name} cannot put: {', '.join(missing)} has no putter")
        for role, value, cls in (("view", view, self.target), ("source", source, self.source)):
            if not isinstance(value, cls):
                raise LensCompositionError(
                    f"lens {self.name}.put: the {role} must be a {cls.__name__}, got {type(value).__name__}"
                )
        result: S = self._chain().put(view, source, key)
        return result

    def close(self) -> None:
        """Give back the sandbox workers this lens holds (it takes them again on next use).

        Workers of process-isolated code are kept for the next lens of the same code and limits
        (:mod:`atdata.sandbox.program_pool`, a few idle at most) and stop when the interpreter exits.
        """
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

    def __reduce__(self) -> tuple[Any, ...]:
        # A lens made by @atdata.lens is what its module holds under the function's name, so the
        # function cannot be pickled by reference: the lens is, as a class would be (spawn
        # workers, DataLoader workers). Any other lens pickles by value, without its workers.
        reference = self.__dict__.get("_reference")
        if reference is not None and named_object(*reference) is self:
            return (named_object, reference)
        return (_unpickled, (type(self), self.__getstate__()))

    def _invalidate(self) -> None:
        self.close()

    def _chain(self) -> Chain:
        if self._compiled is None:
            self._compiled = Chain(self._steps, self.target)
            self._finalizer = weakref.finalize(self, self._compiled.close)
        return self._compiled


def _unpickled(cls: type[Lens[Any, Any]], state: dict[str, Any]) -> Lens[Any, Any]:
    made = cls.__new__(cls)
    made.__dict__.update(state)
    return made
