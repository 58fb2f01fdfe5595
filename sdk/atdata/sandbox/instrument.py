"""Compiling lens code: the checked tree, instrumented so the runtime sees what it must.

Compilation instruments the checked tree (never a re-read of the text): every attribute read goes
through :func:`atdata.sandbox.guards.guarded_getattr`, which knows the object's type; ``**``, ``<<``
and ``*`` go through size guards; loops, comprehensions and calls tick the wall-clock budget. The
tree is checked once more on the way (:class:`_Instrument` refuses what the dialect refuses), so
code that libcst and CPython read differently cannot slip past.
"""

from __future__ import annotations

import ast
import types

from atdata.errors import LensValidationError, Violation
from atdata.sandbox import dialect as d
from atdata.sandbox.dialect_check import check_source

GA, POW, LSHIFT, MUL, TICK, MODULE = (
    f"{d.RESERVED_PREFIX}_{n}" for n in ("getattr", "pow", "lshift", "mul", "tick", "module")
)
_BINOP_GUARDS = {ast.Pow: POW, ast.LShift: LSHIFT, ast.Mult: MUL}
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
        return ast.copy_location(ast.Expr(self._call(TICK, node, [])), node)

    def visit_Import(self, node: ast.Import) -> ast.AST:
        if self._function_depth:
            raise self._refuse(node, "imports are allowed only at the top level")
        assigns: list[ast.stmt] = []
        for alias in node.names:
            bound = alias.asname or alias.name
            if d.ALLOWED_IMPORTS.get(alias.name) != bound:
                raise self._refuse(node, f"import of {alias.name!r} as {bound!r} is not allowed")
            call = self._call(MODULE, node, [ast.Constant(alias.name)])
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

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        if node.arg is not None and node.arg.startswith("_"):
            raise self._refuse(node, f"keyword {node.arg!r} starts with an underscore")
        return self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if node.attr.startswith("_") or not isinstance(node.ctx, ast.Load):
            raise self._refuse(node, f"attribute {node.attr!r} can't be used this way")
        value = self.visit(node.value)
        return self._call(GA, node, [value, ast.Constant(node.attr)])

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
        node.body = ast.copy_location(ast.BoolOp(ast.And(), [self._call(TICK, node, []), node.body]), node)
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
        node.ifs.insert(0, self._call(TICK, node.iter, []))
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
    return instrument(source, filename)


def instrument(source: str, filename: str) -> types.CodeType:
    """Compile ``source`` instrumented, refusing on the way what the compiler itself checks.

    This is the runtime's own compile-time check (statement kinds, names, attributes, imports,
    decorators, bare excepts), independent of the libcst check that :func:`compile_lens` runs
    first; ``tests/sandbox/test_sandbox_check_parity.py`` keeps the two in agreement.
    Raises LensValidationError.
    """
    try:
        tree = ast.parse(source, filename)
        named = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        tree = _Instrument(filename, frozenset({"get", "put"} - named)).visit(tree)
        ast.fix_missing_locations(tree)
        return compile(tree, filename, "exec", dont_inherit=True)
    except (SyntaxError, RecursionError, MemoryError, ValueError) as e:
        raise LensValidationError(filename, [Violation(1, 0, f"could not compile: {e}")]) from None
