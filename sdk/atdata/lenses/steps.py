"""The three kinds of lens step, and running one of them on one sample.

* :class:`NativeStep`: Python functions in the caller's own process (``@atdata.lens``; trusted,
  run on sample instances);
* :class:`CodeStep`: a published lens module in the restricted dialect (or someone else's op
  list), run through :mod:`atdata.sandbox` inline or in a worker process, on plain field dicts;
* :class:`DeclarativeStep`: an operation list (:mod:`atdata.lenses.declarative`) interpreted here.

Each has an ``ident`` (a content hash for code and op lists, the qualified name for functions).
Outputs are validated into their sample class by :func:`instances`; failures name the lens, the
sample key and the reason.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from atdata.errors import LensExecutionError, SampleValidationError
from atdata.lenses.declarative import OpError, Ops
from atdata.types.packable import as_plain, is_packable, restore_datetimes, spec_of

Isolation = Literal["inline", "process"]


@dataclass(frozen=True, eq=False)
class NativeStep:
    name: str
    source: type
    target: type
    fget: Callable[[Any], Any]
    fput: Callable[[Any, Any], Any] | None = None

    @property
    def ident(self) -> str:
        return f"{self.fget.__module__}.{self.fget.__qualname__}"

    def __reduce__(self) -> tuple[Any, ...]:
        # The function of an @atdata.lens lens is not its module's attribute (the lens is): refer
        # to the lens, whose step this is, instead of to the function.
        where = (self.fget.__module__, self.fget.__qualname__)
        owner = named_object(*where)
        if getattr(owner, "_steps", None) == (self,):
            return (_native_step_of, where)
        return (NativeStep, (self.name, self.source, self.target, self.fget, self.fput))


def named_object(module: str, qualname: str) -> Any:
    """The object ``module`` holds under ``qualname`` (importing the module), or None."""
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return found


def _native_step_of(module: str, qualname: str) -> NativeStep:
    step: NativeStep = named_object(module, qualname)._steps[0]
    return step


@dataclass(frozen=True, eq=False)
class CodeStep:
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
            return ops_ident(self.ops)
        return "sha256:" + hashlib.sha256(self.code.encode()).hexdigest()


def ops_ident(ops: Ops) -> str:
    text = json.dumps(ops.to_plain(), sort_keys=True, default=repr)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class DeclarativeStep:
    name: str
    source: type
    target: type
    ops: Ops

    @property
    def ident(self) -> str:
        return ops_ident(self.ops)


Step = NativeStep | CodeStep | DeclarativeStep


def has_put(step: Step) -> bool:
    if isinstance(step, NativeStep):
        return step.fput is not None
    if isinstance(step, CodeStep):
        return step.has_put
    return True


def sandbox_step(step: CodeStep, direction: Literal["get", "put"]) -> Any:
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


def call_native(step: NativeStep, value: Any, key: str | None) -> Any:
    try:
        out = step.fget(value)
    except Exception as e:
        raise LensExecutionError(step.name, f"{type(e).__name__}: {e}", key=key) from e
    return coerce_instance(step.target, out, key, f"lens {step.name}")


def call_ops(step: DeclarativeStep, value: dict[str, Any], key: str | None) -> dict[str, Any]:
    try:
        return step.ops.get(value)
    except OpError as e:
        raise LensExecutionError(step.name, str(e), key=key) from None


def coerce_instance(cls: type, out: Any, key: str | None, made_by: str) -> Any:
    if type(out) is cls:
        return out
    if isinstance(out, dict) or is_packable(type(out)):
        return instances(cls, [as_plain(out)], [key], made_by)[0]
    raise LensExecutionError(
        made_by.removeprefix("lens "),
        f"returned {type(out).__name__}, expected {cls.__name__} or a dict of its fields",
        key=key,
    )


def instances(cls: type, values: list[Any], keys: list[str | None], made_by: str) -> list[Any]:
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
