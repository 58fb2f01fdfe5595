"""What lens code's attribute reads, operators and builtins go through at run time.

The compiled lens (:mod:`atdata.sandbox.instrument`) calls :func:`guarded_getattr` for every
attribute read (it knows the object's type: records give fields, module proxies their whitelisted
members, builtins and numpy objects only the attributes :mod:`atdata.sandbox.dialect` lists), and
the size guards for ``**``, ``<<`` and ``*``. Results of numpy calls are checked to be plain
dtypes. :func:`lens_builtins` is the builtins table lens code runs with.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from atdata.sandbox import dialect as d
from atdata.sandbox.lens_records import _PLAIN_KINDS, Record, plain_dtype_ok


class ModuleProxy:
    """What ``import numpy as np`` / ``import math`` bind: only whitelisted members, read-only."""

    __slots__ = ("_members", "_name")
    _members: dict[str, Any]
    _name: str

    def __init__(self, name: str, members: dict[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_members", members)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._name} is read-only in lens code")

    def __repr__(self) -> str:
        return f"<lens module {self._name}>"


_BUILTIN_ATTRS: dict[type, frozenset[str]] = {
    getattr(builtins, name): attrs for name, attrs in d.BUILTIN_TYPE_ATTRIBUTES.items()
}
_BUILTIN_ATTRS[np.ndarray] = d.NDARRAY_ATTRIBUTES
# ndarray/scalar methods whose results must be checked (they take dtype= or can change dtype).
_CHECKED_METHODS = frozenset({"astype", "sum", "prod", "mean", "std", "var", "cumsum", "cumprod", "trace",
                              "dot", "tolist", "item", "copy", "repeat", "take", "compress"})  # fmt: skip


def _refuse(obj: Any, name: str) -> AttributeError:
    return AttributeError(f"lens code may not read attribute {name!r} of a {type(obj).__name__}")


def guarded_getattr(obj: Any, name: str) -> Any:
    t = type(obj)
    if t is Record:
        try:
            return obj._fields[name]
        except KeyError:
            raise AttributeError(f"{obj._type} record has no field {name!r}") from None
    if t is ModuleProxy:
        try:
            return obj._members[name]
        except KeyError:
            raise AttributeError(f"{obj._name}.{name} is not available in lens code") from None
    if name[:1] == "_":
        raise _refuse(obj, name)
    allowed = _BUILTIN_ATTRS.get(t)
    if allowed is None:
        if isinstance(obj, np.generic):
            allowed = d.NUMPY_SCALAR_ATTRIBUTES
        elif isinstance(obj, np.dtype):
            allowed = d.DTYPE_ATTRIBUTES
        elif isinstance(obj, BaseException):
            if name not in d.EXCEPTION_ATTRIBUTES:
                raise _refuse(obj, name)
            return _exception_args(obj.args)
        else:
            raise _refuse(obj, name)
    if name not in allowed:
        raise _refuse(obj, name)
    value = getattr(obj, name)
    if name in _CHECKED_METHODS and (t is np.ndarray or isinstance(obj, np.generic)):
        return partial(_call_checked, value)
    if type(value) is np.ndarray and not plain_dtype_ok(value.dtype):
        raise TypeError(f"arrays of dtype {value.dtype} are not allowed in lens code")
    return value


_PLAIN_ARGS = frozenset({type(None), bool, int, float, complex, str, bytes})


def _exception_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    # Exceptions raised by library code carry internals (numpy's loop errors hold the raw ufunc):
    # lens code gets plain values, and the repr of anything else.
    return tuple(
        a if type(a) in _PLAIN_ARGS else _exception_args(a) if type(a) is tuple else repr(a) for a in args
    )


def _check_result(value: Any) -> Any:
    t = type(value)
    if t is np.ndarray:
        if not plain_dtype_ok(value.dtype):
            raise TypeError(f"arrays of dtype {value.dtype} are not allowed in lens code")
        return value
    if isinstance(value, np.dtype):
        if not plain_dtype_ok(value):
            raise TypeError(f"dtype {value} is not allowed in lens code")
        return value
    if isinstance(value, tuple | list):
        # numpy's named result tuples (SVDResult, ...) become plain tuples: no attributes to walk.
        items = [_check_result(v) for v in value]
        return items if t is list else tuple(items)
    if isinstance(value, np.generic) and not plain_dtype_ok(value.dtype):
        raise TypeError(f"values of dtype {value.dtype} are not allowed in lens code")
    return value


def _call_checked(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = fn(*args, **kwargs)
    if type(result) is np.ndarray and result.dtype.kind in _PLAIN_KINDS:
        return result
    return _check_result(result)


def checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    ndarray = np.ndarray
    kinds = _PLAIN_KINDS

    def call(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if type(result) is ndarray and result.dtype.kind in kinds:
            return result
        return _check_result(result)

    return call


def guarded_pow(a: Any, b: Any, mod: Any = None) -> Any:
    ints = type(a) is int and type(b) is int
    if mod is None and ints and abs(a) > 1 and b * a.bit_length() > d.MAX_INT_BITS:
        raise OverflowError(f"{a} ** {b} is larger than {d.MAX_INT_BITS} bits")
    if mod is not None and ints and type(mod) is int:
        # Modular powers cost about (exponent bits) x (modulus words)^2: bound that, not the result.
        words = mod.bit_length() // 64 + 1
        if b.bit_length() * words * words > d.MAX_MODPOW_COST:
            raise OverflowError("pow(a, b, m) with such large b and m is not allowed in lens code")
    return pow(a, b) if mod is None else pow(a, b, mod)


def guarded_round(number: Any, ndigits: Any = None) -> Any:
    # round(int, -n) computes 10 ** n inside one C call.
    if type(ndigits) is int and abs(ndigits) > d.MAX_ROUND_DIGITS:
        raise OverflowError(f"round to {ndigits} digits is beyond {d.MAX_ROUND_DIGITS}")
    return round(number) if ndigits is None else round(number, ndigits)


def guarded_sum(iterable: Any, /, start: Any = 0) -> Any:
    # sum(lists, []) copies the growing list at every step, in one C call.
    if isinstance(start, list | tuple | str | bytes):
        raise TypeError("sum() of sequences is not allowed in lens code; build a list with a comprehension")
    return sum(iterable, start)


def guarded_lshift(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int and a and b > 0 and a.bit_length() + b > d.MAX_INT_BITS:
        raise OverflowError(f"{a} << {b} is larger than {d.MAX_INT_BITS} bits")
    return a << b


_SEQUENCES = (str, bytes, list, tuple)


def guarded_mul(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        if a.bit_length() + b.bit_length() > d.MAX_INT_BITS:
            raise OverflowError(f"an integer product is larger than {d.MAX_INT_BITS} bits")
    elif ta in _SEQUENCES and (tb is int or tb is bool):
        if len(a) * b > d.MAX_SEQUENCE_LENGTH:
            raise MemoryError(f"repeating a {ta.__name__} makes more than {d.MAX_SEQUENCE_LENGTH} items")
    elif tb in _SEQUENCES and (ta is int or ta is bool) and len(b) * a > d.MAX_SEQUENCE_LENGTH:
        raise MemoryError(f"repeating a {tb.__name__} makes more than {d.MAX_SEQUENCE_LENGTH} items")
    return a * b


def guarded_range(*args: int) -> range:
    r = range(*args)
    if len(r) > d.MAX_RANGE:
        raise MemoryError(f"range of {len(r)} steps is longer than {d.MAX_RANGE}")
    return r


def guarded_iter(tick: Callable[[], bool], obj: Any, *sentinel: Any) -> Any:
    # iter(f, sentinel) consumed by any/next/set/fsum loops in C: every call of f ticks the budget.
    if not sentinel:
        return iter(obj)
    if not callable(obj):
        raise TypeError("iter(v, w): v must be callable")
    return iter(lambda: tick() and obj(), *sentinel)


def lens_builtins(tick: Callable[[], bool]) -> dict[str, Any]:
    table = {name: getattr(builtins, name) for name in d.ALLOWED_BUILTINS}
    table["range"] = guarded_range
    table["pow"] = guarded_pow
    table["round"] = guarded_round
    table["sum"] = guarded_sum
    table["iter"] = partial(guarded_iter, tick)
    # C code (numpy's lazy imports) imports through the builtins of the running frame. Lens
    # code itself never reaches this: its import statements are compiled to module_proxy calls
    # and the name is a dunder it cannot spell.
    table["__import__"] = builtins.__import__
    return table
