"""``@atdata.lens``: a typed Python function becomes a registered :class:`Lens`.

A decorated function is the author's own code running in the author's own process, so it may be any
Python (imports, closures, scipy, ...). The restricted lens dialect applies only where code travels:
``atdata publish lens``, ``atdata lens check`` and running another author's lens.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar, overload

from atdata.errors import LensCompositionError
from atdata.lenses.lens import Lens
from atdata.lenses.registry import default_registry
from atdata.types.packable import is_packable

S = TypeVar("S")
T = TypeVar("T")


@overload
def lens(fn: Callable[[S], T], /) -> Lens[S, T]: ...
@overload
def lens(
    *,
    source: type[Any] | None = None,
    target: type[Any] | None = None,
    register: bool = True,
    publishable: bool = False,
) -> Callable[[Callable[[S], T]], Lens[S, T]]: ...
def lens(
    fn: Callable[[Any], Any] | None = None,
    /,
    *,
    source: type[Any] | None = None,
    target: type[Any] | None = None,
    register: bool = True,
    publishable: bool = False,
) -> Any:
    """Make ``def f(s: Source) -> Target`` a lens, registered so ``Dataset.as_type(Target)`` finds it.

    The types come from the annotations (or ``source=`` / ``target=``). Give it a putter with
    ``@f.putter`` on ``def f_put(view: Target, source: Source) -> Source``. The function runs as
    written in this process, and may be any Python: imports, closures, any library.

    Only lenses inside the lens dialect (documented in :mod:`atdata.sandbox.dialect`) can be
    published: ``atdata publish lens`` and ``atdata lens check`` refuse others, listing every
    violation at its line in your file. ``publishable=True`` runs that check right here, so a lens
    meant for publishing fails at import instead of at publish time.
    """

    def wrap(func: Callable[[Any], Any]) -> Lens[Any, Any]:
        src, tgt = _types_of(func, source, target)
        made = Lens.native(func, source=src, target=tgt)
        made.__doc__ = func.__doc__
        # Pickled by reference when the module holds it under the function's name (Lens.__reduce__).
        made._reference = (func.__module__, func.__qualname__)
        if publishable and _source_visible(func):
            from atdata.lenses.extract import extract_source

            extract_source(made)
            made.publishable = True
        if register:
            default_registry.register(made)
        return made

    return wrap(fn) if fn is not None else wrap


def _source_visible(func: Callable[..., Any]) -> bool:
    try:
        inspect.getsource(func)
    except (OSError, TypeError):
        return False
    return True


def _types_of(func: Callable[..., Any], source: type | None, target: type | None) -> tuple[type, type]:
    where = f"@atdata.lens {getattr(func, '__qualname__', func)!r}"
    if not callable(func):
        raise LensCompositionError(f"{where}: decorates functions, not {type(func).__name__}")
    params = [
        p
        for p in inspect.signature(func).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if len(params) != 1:
        raise LensCompositionError(f"{where}: a getter takes exactly one argument, the source sample")
    if source is None or target is None:
        try:
            hints = typing.get_type_hints(func)
        except NameError as e:
            raise LensCompositionError(
                f"{where}: cannot resolve its annotations ({e}); pass source= and target= explicitly"
            ) from e
        source = source or hints.get(params[0].name)
        target = target or hints.get("return")
    for role, t in (("source", source), ("target", target)):
        if t is None:
            raise LensCompositionError(
                f"{where}: annotate the {'argument' if role == 'source' else 'return'} type "
                f"(def f(s: Source) -> Target) or pass {role}="
            )
        if not is_packable(t):
            raise LensCompositionError(f"{where}: {role} {t!r} is not an @atdata.packable sample type")
    assert source is not None and target is not None
    return source, target
