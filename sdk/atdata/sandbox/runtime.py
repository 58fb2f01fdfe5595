"""Running validated lens code: compile once, minimal builtins, module proxies, guarded attributes.

The same :class:`Engine` runs lenses inline (in the caller's process) and inside the worker
process. Compilation instruments the checked tree (never a re-read of the text): every attribute
read goes through :func:`_guarded_getattr`, which knows the object's type; ``**``, ``<<`` and ``*``
go through size guards; loops, comprehensions and calls tick a wall-clock budget. The tree is
checked once more on the way, so code that libcst and CPython read differently cannot slip past.
"""

from __future__ import annotations

import ast
import builtins
import math
import reprlib
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np

from atdata.errors import AtdataError, LensValidationError, Violation
from atdata.sandbox import dialect as d
from atdata.sandbox.records import (
    _PLAIN_KINDS,
    NotPlainData,
    Record,
    RecordFactory,
    RecordShape,
    as_record,
    output_fields,
    plain_dtype_ok,
    to_plain,
    to_record,
)
from atdata.sandbox.validator import check_source

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


class LensTimeout(BaseException):
    """Raised inside lens code when the batch's wall-clock budget is spent.

    A BaseException so that ``except Exception`` in lens code cannot swallow it.
    """


class StepFailure(AtdataError):
    """A lens step failed on one item: which step, which item, and why (already worded)."""

    def __init__(self, step: int, item: int | None, reason: str, *, limit: bool = False) -> None:
        super().__init__(reason)
        self.step = step
        self.item = item
        self.reason = reason
        self.limit = limit  # a resource limit stopped it (time, memory), not the code's own error


# --- guards -----------------------------------------------------------------------------------


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


def _guarded_getattr(obj: Any, name: str) -> Any:
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


def _checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    ndarray = np.ndarray
    kinds = _PLAIN_KINDS

    def call(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if type(result) is ndarray and result.dtype.kind in kinds:
            return result
        return _check_result(result)

    return call


def _guarded_pow(a: Any, b: Any, mod: Any = None) -> Any:
    ints = type(a) is int and type(b) is int
    if mod is None and ints and abs(a) > 1 and b * a.bit_length() > d.MAX_INT_BITS:
        raise OverflowError(f"{a} ** {b} is larger than {d.MAX_INT_BITS} bits")
    if mod is not None and ints and type(mod) is int:
        # Modular powers cost about (exponent bits) x (modulus words)^2: bound that, not the result.
        words = mod.bit_length() // 64 + 1
        if b.bit_length() * words * words > d.MAX_MODPOW_COST:
            raise OverflowError("pow(a, b, m) with such large b and m is not allowed in lens code")
    return pow(a, b) if mod is None else pow(a, b, mod)


def _guarded_round(number: Any, ndigits: Any = None) -> Any:
    # round(int, -n) computes 10 ** n inside one C call.
    if type(ndigits) is int and abs(ndigits) > d.MAX_ROUND_DIGITS:
        raise OverflowError(f"round to {ndigits} digits is beyond {d.MAX_ROUND_DIGITS}")
    return round(number) if ndigits is None else round(number, ndigits)


def _guarded_sum(iterable: Any, /, start: Any = 0) -> Any:
    # sum(lists, []) copies the growing list at every step, in one C call.
    if isinstance(start, list | tuple | str | bytes):
        raise TypeError("sum() of sequences is not allowed in lens code; build a list with a comprehension")
    return sum(iterable, start)


def _guarded_lshift(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int and a and b > 0 and a.bit_length() + b > d.MAX_INT_BITS:
        raise OverflowError(f"{a} << {b} is larger than {d.MAX_INT_BITS} bits")
    return a << b


_SEQUENCES = (str, bytes, list, tuple)


def _guarded_mul(a: Any, b: Any) -> Any:
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


def _guarded_range(*args: int) -> range:
    r = range(*args)
    if len(r) > d.MAX_RANGE:
        raise MemoryError(f"range of {len(r)} steps is longer than {d.MAX_RANGE}")
    return r


class Budget:
    """The wall-clock budget lens code ticks against; checked every few thousand ticks."""

    __slots__ = ("countdown", "deadline")
    EVERY = 2048

    def __init__(self) -> None:
        self.countdown = self.EVERY
        self.deadline = math.inf

    def start(self, seconds: float) -> None:
        self.countdown = self.EVERY
        self.deadline = time.monotonic() + seconds

    def tick(self) -> bool:
        self.countdown -= 1
        if self.countdown <= 0:
            if time.monotonic() > self.deadline:
                # Stays spent: every later tick raises too, so a loop that swallows the exception
                # (``finally: continue``) meets it again at its next iteration and cannot go on.
                self.countdown = 0
                raise LensTimeout("the lens ran past the wall-clock limit for its batch")
            self.countdown = self.EVERY
        return True


# --- module proxies ---------------------------------------------------------------------------


def _pair_cost(a: Any, v: Any, *args: Any, **kwargs: Any) -> int:
    return int(np.size(a)) * int(np.size(v))


def _einsum_cost(*operands: Any, **kwargs: Any) -> int:
    # The naive cost: the product of every index's extent, times the number of operands. Computed
    # by numpy's own path planner, which only reads the shapes.
    arrays: list[Any] = [np.asarray(x) if not isinstance(x, str) else x for x in operands]
    path = np.einsum_path(*arrays, optimize=False)[1]
    for line in path.splitlines():
        if "Naive FLOP count" in line:
            return int(float(line.split(":")[1]))
    return 0


_CALL_COSTS: dict[str, Callable[..., int]] = {
    "convolve": _pair_cost,
    "correlate": _pair_cost,
    "einsum": _einsum_cost,
}


def _costed(name: str, fn: Callable[..., Any], cost: Callable[..., int]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if cost(*args, **kwargs) > d.MAX_CALL_OPS:
            raise MemoryError(f"np.{name} on these shapes would cost more than {d.MAX_CALL_OPS} operations")
        return fn(*args, **kwargs)

    return call


def _numpy_members() -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name in d.NUMPY_FUNCTIONS:
        members[name] = _checked(getattr(np, name))
        if name in _CALL_COSTS:
            members[name] = _costed(name, members[name], _CALL_COSTS[name])
    for name in d.NUMPY_DTYPES:
        members[name] = getattr(np, name)
    for name in d.NUMPY_CONSTANTS:
        members[name] = getattr(np, name)
    for sub, names in d.NUMPY_SUBMODULES.items():
        module = getattr(np, sub)
        members[sub] = ModuleProxy(f"np.{sub}", {n: _checked(getattr(module, n)) for n in names})
    return members


def _math_members() -> dict[str, Any]:
    return {name: getattr(math, name) for name in d.MATH_NAMES}


_MODULES: dict[str, ModuleProxy] = {}


def module_proxy(name: str) -> ModuleProxy:
    """The proxy standing for an allowed module (built once per process)."""
    proxy = _MODULES.get(name)
    if proxy is None:
        members = _numpy_members() if name == "numpy" else _math_members()
        proxy = _MODULES[name] = ModuleProxy("np" if name == "numpy" else name, members)
    return proxy


def _guarded_iter(tick: Callable[[], bool], obj: Any, *sentinel: Any) -> Any:
    # iter(f, sentinel) consumed by any/next/set/fsum loops in C: every call of f ticks the budget.
    if not sentinel:
        return iter(obj)
    if not callable(obj):
        raise TypeError("iter(v, w): v must be callable")
    return iter(lambda: tick() and obj(), *sentinel)


def _builtins(tick: Callable[[], bool]) -> dict[str, Any]:
    table = {name: getattr(builtins, name) for name in d.ALLOWED_BUILTINS}
    table["range"] = _guarded_range
    table["pow"] = _guarded_pow
    table["round"] = _guarded_round
    table["sum"] = _guarded_sum
    table["iter"] = partial(_guarded_iter, tick)
    # C code (numpy's lazy imports) imports through the builtins of the running frame. Lens
    # code itself never reaches this: its import statements are compiled to module_proxy calls
    # and the name is a dunder it cannot spell.
    table["__import__"] = builtins.__import__
    return table


# --- compiling --------------------------------------------------------------------------------

_GA, _POW, _LSHIFT, _MUL, _TICK, _MODULE = (
    f"{d.RESERVED_PREFIX}_{n}" for n in ("getattr", "pow", "lshift", "mul", "tick", "module")
)
_BINOP_GUARDS = {ast.Pow: _POW, ast.LShift: _LSHIFT, ast.Mult: _MUL}
_REFUSED_NODES = (
    ast.ClassDef, ast.Global, ast.Nonlocal, ast.AsyncFunctionDef, ast.Await, ast.Yield, ast.YieldFrom,
    ast.With, ast.AsyncWith, ast.AsyncFor, ast.Match, ast.TryStar, ast.ImportFrom,
)  # fmt: skip


class _Instrument(ast.NodeTransformer):
    """Rewrites the checked tree so the runtime sees every attribute read, power, shift and loop."""

    def __init__(self, filename: str, untimed: frozenset[str] = frozenset()) -> None:
        self.filename = filename
        # Top-level functions the engine calls and lens code never names need no tick on entry:
        # the engine ticks once per item instead.
        self.untimed = untimed
        self._function_depth = 0

    def _refuse(self, node: ast.AST, reason: str) -> LensValidationError:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        return LensValidationError(self.filename, [Violation(line, col, reason)])

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, _REFUSED_NODES):
            raise self._refuse(node, f"{type(node).__name__} is not allowed")
        return super().generic_visit(node)

    def _call(self, helper: str, node: ast.AST, args: list[ast.expr]) -> ast.Call:
        call = ast.Call(func=ast.Name(helper, ast.Load()), args=args, keywords=[])
        return ast.copy_location(call, node)

    def _tick(self, node: ast.AST) -> ast.stmt:
        return ast.copy_location(ast.Expr(self._call(_TICK, node, [])), node)

    def visit_Import(self, node: ast.Import) -> ast.AST:
        if self._function_depth:
            raise self._refuse(node, "imports are allowed only at the top level")
        assigns: list[ast.stmt] = []
        for alias in node.names:
            bound = alias.asname or alias.name
            if d.ALLOWED_IMPORTS.get(alias.name) != bound:
                raise self._refuse(node, f"import of {alias.name!r} as {bound!r} is not allowed")
            call = self._call(_MODULE, node, [ast.Constant(alias.name)])
            assigns.append(
                ast.copy_location(ast.Assign(targets=[ast.Name(bound, ast.Store())], value=call), node)
            )
        return assigns  # type: ignore[return-value]

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if (
            node.id.startswith("__")
            or node.id.startswith(d.RESERVED_PREFIX)
            or node.id in d.FORBIDDEN_BUILTINS
        ):
            raise self._refuse(node, f"name {node.id!r} is not allowed")
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if node.attr.startswith("_") or not isinstance(node.ctx, ast.Load):
            raise self._refuse(node, f"attribute {node.attr!r} can't be used this way")
        value = self.visit(node.value)
        return self._call(_GA, node, [value, ast.Constant(node.attr)])

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.generic_visit(node)  # type: ignore[assignment]
        helper = _BINOP_GUARDS.get(type(node.op))
        return self._call(helper, node, [node.left, node.right]) if helper else node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        helper = _BINOP_GUARDS.get(type(node.op))
        if helper is None:
            return self.generic_visit(node)
        target = self.visit(node.target)
        load = _as_load(target)
        value = self._call(helper, node, [load, self.visit(node.value)])
        return ast.copy_location(ast.Assign(targets=[target], value=value), node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        # Annotations are dropped: evaluating them would run code at definition time for nothing.
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        target = self.visit(node.target)
        return ast.copy_location(ast.Assign(targets=[target], value=self.visit(node.value)), node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        if node.decorator_list:
            raise self._refuse(node, "decorators are not allowed")
        node.returns = None
        self._function_depth += 1
        self.generic_visit(node)
        self._function_depth -= 1
        if self._function_depth or node.name not in self.untimed:
            node.body.insert(0, self._tick(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        if node.args.defaults or any(node.args.kw_defaults):
            raise self._refuse(node, "lambda parameters may not have default values")
        self.generic_visit(node)
        node.body = ast.copy_location(ast.BoolOp(ast.And(), [self._call(_TICK, node, []), node.body]), node)
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_While(self, node: ast.While) -> ast.AST:
        self.generic_visit(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.ifs.insert(0, self._call(_TICK, node.iter, []))
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        if node.type is None:
            raise self._refuse(node, "a bare except: is not allowed")
        return self.generic_visit(node)


def _as_load(target: ast.expr) -> ast.expr:
    if isinstance(target, ast.Name):
        return ast.copy_location(ast.Name(target.id, ast.Load()), target)
    if isinstance(target, ast.Subscript):
        return ast.copy_location(ast.Subscript(target.value, target.slice, ast.Load()), target)
    raise AssertionError(f"unexpected augmented-assignment target {type(target).__name__}")


def compile_lens(source: str, filename: str) -> types.CodeType:
    """Validate ``source`` and compile exactly that text, instrumented. Raises LensValidationError."""
    check_source(source, filename=filename)
    try:
        tree = ast.parse(source, filename)
        named = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        tree = _Instrument(filename, frozenset({"get", "put"} - named)).visit(tree)
        ast.fix_missing_locations(tree)
        return compile(tree, filename, "exec", dont_inherit=True)
    except (SyntaxError, RecursionError, MemoryError, ValueError) as e:
        raise LensValidationError(filename, [Violation(1, 0, f"could not compile: {e}")]) from None


# --- running ----------------------------------------------------------------------------------


@dataclass
class _Loaded:
    step: LensStep
    fn: Callable[..., Any]
    in_shape: RecordShape
    out_shape: RecordShape


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = 200


def _bounded_message(e: BaseException) -> str:
    # str() of an exception holding a value that repeats one list many levels deep never ends:
    # plain text arguments are shown as they are, anything else through a bounded repr.
    args = e.args
    plain = all(
        type(a) in (str, float, bool, type(None)) or (type(a) is int and a.bit_length() < 4096) for a in args
    )
    if plain and sum(len(a) for a in args if type(a) is str) < 4096:
        return str(e)
    return ", ".join(_REPR.repr(a) for a in args[:8])


def describe_exception(e: BaseException, filename: str) -> str:
    """``Type: message (line N)``, with the line in lens code where it was raised when known."""
    line = None
    tb = e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(e, LensTimeout | NotPlainData):
        text = str(e)
    else:
        message = _bounded_message(e)
        text = f"{type(e).__name__}: {message}" if message else type(e).__name__
    if len(text) > 500:
        text = text[:497] + "..."
    return f"{text} (line {line})" if line is not None else text


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
            "__builtins__": _builtins(self.budget.tick),
            "__name__": f"lens {step.name}",
        }
        for shape in step.shapes():
            for type_name, sub in shape.types().items():
                namespace.setdefault(type_name, RecordFactory(sub))
        namespace[_GA] = _guarded_getattr
        namespace[_POW] = _guarded_pow
        namespace[_LSHIFT] = _guarded_lshift
        namespace[_MUL] = _guarded_mul
        namespace[_TICK] = self.budget.tick
        namespace[_MODULE] = module_proxy
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
                raise StepFailure(i, n, why, limit=_is_limit(e)) from None
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
                raise StepFailure(
                    i, n, describe_exception(e, _filename(s.step)), limit=_is_limit(e)
                ) from None
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


def _is_limit(e: BaseException) -> bool:
    return isinstance(e, LensTimeout | MemoryError | RecursionError)


def _filename(step: LensStep) -> str:
    return f"<lens {step.name}>"
