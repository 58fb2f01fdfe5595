"""The tree check of lens code against the dialect: libcst's parse, walked by :class:`_Checker`.

It runs only where a parser crash is harmless, in the dialect check's child process (or a lens
worker, already the sandbox): :func:`atdata.sandbox.dialect_check.validate_source` is the entry
point, and only this module imports libcst.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable

import libcst as cst
from libcst.helpers import get_full_name_for_node
from libcst.metadata import MetadataWrapper, PositionProvider

from atdata.errors import Violation
from atdata.sandbox import dialect as d
from atdata.sandbox.gate import error_position

_MODULE_FUNCTIONS = {"get": 1, "put": 2}


def tree_violations_here(source: str) -> list[Violation]:
    """The libcst and CPython check of gated ``source`` in this process: only in a sandbox child."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as e:
        return [Violation(e.raw_line, e.raw_column, f"syntax error: {e.message}")]
    except (RecursionError, MemoryError):
        return [Violation(1, 0, "code is too deeply nested to check")]
    checker = _Checker()
    try:
        MetadataWrapper(module, unsafe_skip_copy=True).visit(checker)
    except (RecursionError, MemoryError):
        return [Violation(1, 0, "code is too deeply nested to check")]
    return checker.violations + _compile_problems(source)


def _compile_problems(source: str) -> list[Violation]:
    # libcst and CPython are separate parsers: code only counts as checked if CPython reads it too.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(source, "<lens>")
    except SyntaxError as e:
        line, col = error_position(e)
        return [Violation(line, col, f"syntax error: {e.msg}")]
    except (RecursionError, MemoryError, ValueError):
        return [Violation(1, 0, "code is too deeply nested to compile")]
    return []


# --- the tree check ---------------------------------------------------------------------------


def _is_literal(node: cst.BaseExpression) -> bool:
    if isinstance(node, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString)):
        return True
    if isinstance(node, cst.Name):
        return node.value in ("None", "True", "False")
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        return isinstance(node.expression, (cst.Integer, cst.Float, cst.Imaginary))
    if isinstance(node, cst.Tuple):
        return all(isinstance(e, cst.Element) and _is_literal(e.value) for e in node.elements)
    return False


def _is_plain_annotation(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Name):
        return True
    if isinstance(node, cst.Attribute):
        return _is_plain_annotation(node.value)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        return _is_plain_annotation(node.left) and _is_plain_annotation(node.right)
    if isinstance(node, cst.Subscript):
        return _is_plain_annotation(node.value) and all(
            isinstance(s.slice, cst.Index) and _is_plain_annotation(s.slice.value) for s in node.slice
        )
    if isinstance(node, (cst.Tuple, cst.List)):
        return all(isinstance(e, cst.Element) and _is_plain_annotation(e.value) for e in node.elements)
    return False


class _Checker(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self) -> None:
        super().__init__()
        self.violations: list[Violation] = []
        self._not_references: set[int] = set()  # Name nodes that are attribute or keyword labels
        self._depth = 0  # function nesting
        self._top_functions: dict[str, cst.FunctionDef] = {}
        self._top_lines: set[int] = set()
        self._line_is_top = False

    def _flag(self, node: cst.CSTNode, reason: str) -> None:
        pos = self.get_metadata(PositionProvider, node).start
        self.violations.append(Violation(pos.line, pos.column, reason))

    # module shape

    def visit_Module(self, node: cst.Module) -> None:
        for stmt in node.body:
            if isinstance(stmt, cst.FunctionDef):
                self._top_functions[stmt.name.value] = stmt
        self._top_lines = {id(stmt) for stmt in node.body}

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._line_is_top = id(node) in self._top_lines

    def leave_Module(self, original_node: cst.Module) -> None:
        if not any(name in self._top_functions for name in _MODULE_FUNCTIONS):
            self.violations.append(
                Violation(1, 0, "lens code must define get(source) and/or put(view, source)")
            )
        for name, arity in _MODULE_FUNCTIONS.items():
            fn = self._top_functions.get(name)
            if fn is None:
                continue
            params = fn.params
            positional = len(params.posonly_params) + len(params.params)
            required_kwonly = [p for p in params.kwonly_params if p.default is None]
            if positional != arity or required_kwonly or isinstance(params.star_arg, cst.Param):
                args = "source" if arity == 1 else "view, source"
                self._flag(fn, f"{name} must take exactly {arity} positional parameter(s): {name}({args})")

    # statements the dialect leaves out

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._flag(node, "class definitions are not allowed")

    def visit_Global(self, node: cst.Global) -> None:
        self._flag(node, "global statements are not allowed")

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self._flag(node, "nonlocal statements are not allowed")

    def visit_With(self, node: cst.With) -> None:
        self._flag(node, "with statements are not allowed")

    def visit_Match(self, node: cst.Match) -> None:
        self._flag(node, "match statements are not allowed (class patterns read attributes)")

    def visit_TryStar(self, node: cst.TryStar) -> None:
        self._flag(node, "except* is not allowed")

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.type is None:
            self._flag(node, "a bare except: is not allowed; name the exception types")
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self._check_binding(node.name.name)

    def visit_Yield(self, node: cst.Yield) -> None:
        self._flag(node, "yield (generator functions) is not allowed")

    def visit_Await(self, node: cst.Await) -> None:
        self._flag(node, "await is not allowed")

    def visit_For(self, node: cst.For) -> None:
        if node.asynchronous is not None:
            self._flag(node, "async for is not allowed")
        self._check_target(node.target)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        if node.asynchronous is not None:
            self._flag(node, "async comprehensions are not allowed")
        self._check_target(node.target)

    def visit_Decorator(self, node: cst.Decorator) -> None:
        self._flag(node, "decorators are not allowed")

    def visit_Import(self, node: cst.Import) -> None:
        if not self._line_is_top:
            self._flag(node, "imports are allowed only at the top level of the module")
        for alias in node.names:
            module = get_full_name_for_node(alias.name) or ""
            bound = (
                alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else None
            )
            expected = d.ALLOWED_IMPORTS.get(module)
            if expected is None:
                allowed = ", ".join(self._import_forms())
                self._flag(alias, f"import of {module!r} is not allowed; allowed: {allowed}")
            elif (bound or module) != expected:
                self._flag(alias, f"import {module} must be written {self._import_form(module)}")
            for n in _names_in(alias.name):
                self._not_references.add(id(n))
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._not_references.add(id(alias.asname.name))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        allowed = ", ".join(self._import_forms())
        self._flag(node, f"from-imports are not allowed; allowed imports: {allowed}")

    @staticmethod
    def _import_form(module: str) -> str:
        alias = d.ALLOWED_IMPORTS[module]
        return f"`import {module}`" if alias == module else f"`import {module} as {alias}`"

    def _import_forms(self) -> list[str]:
        return [self._import_form(m) for m in d.ALLOWED_IMPORTS]

    # functions

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.asynchronous is not None:
            self._flag(node, "async functions are not allowed")
        self._check_binding(node.name)
        if node.returns is not None:
            self._check_annotation(node.returns)
        self._depth += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._depth -= 1

    def visit_Lambda(self, node: cst.Lambda) -> None:
        for p in _all_params(node.params):
            if p.default is not None:
                self._flag(p, "lambda parameters may not have default values")

    def visit_Param(self, node: cst.Param) -> None:
        self._check_binding(node.name)
        if node.default is not None and not _is_literal(node.default):
            self._flag(node.default, "parameter defaults must be literal constants")
        if node.annotation is not None:
            self._check_annotation(node.annotation)

    def _check_annotation(self, ann: cst.Annotation) -> None:
        if not _is_plain_annotation(ann.annotation):
            self._flag(ann.annotation, "annotations must be plain (dotted) names or subscripts of them")

    # assignments

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._check_target(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._check_target(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._check_target(node.target)
        self._check_annotation(node.annotation)

    def visit_Del(self, node: cst.Del) -> None:
        self._check_target(node.target)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._check_target(node.target)

    def _check_target(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Attribute):
            self._flag(target, "assigning or deleting attributes is not allowed")
        elif isinstance(target, cst.Name):
            self._check_binding(target)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                self._check_target(el.value)
        elif isinstance(target, cst.StarredElement):
            self._check_target(target.value)

    def _check_binding(self, name: cst.Name) -> None:
        if name.value in d.ALLOWED_IMPORTS.values():
            self._flag(name, f"{name.value!r} names an imported module and can't be rebound")

    # names and attributes

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._not_references.add(id(node.keyword))
            if node.keyword.value.startswith("_"):
                self._flag(node.keyword, f"keyword {node.keyword.value!r} starts with an underscore")

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._not_references.add(id(node.attr))
        attr = node.attr.value
        if attr.startswith("_"):
            self._flag(node.attr, f"attribute {attr!r} starts with an underscore")
            return
        if attr in d.FORBIDDEN_ATTRIBUTES:
            self._flag(node.attr, f"attribute {attr!r} is not allowed")
            return
        if attr in d.FORBIDDEN_STRING_METHODS and isinstance(
            node.value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)
        ):
            self._flag(node.attr, f"str.{attr} is not allowed; use f-strings or % formatting")
            return
        base = node.value
        if isinstance(base, cst.Name) and base.value == "math" and attr not in d.MATH_NAMES:
            self._flag(node.attr, f"math.{attr} is not in the dialect's math whitelist")
        elif isinstance(base, cst.Name) and base.value == "np":
            if not (
                attr in d.NUMPY_FUNCTIONS
                or attr in d.NUMPY_DTYPES
                or attr in d.NUMPY_CONSTANTS
                or attr in d.NUMPY_SUBMODULES
            ):
                self._flag(node.attr, f"np.{attr} is not in the dialect's numpy whitelist")
        elif (
            isinstance(base, cst.Attribute)
            and isinstance(base.value, cst.Name)
            and base.value.value == "np"
            and base.attr.value in d.NUMPY_SUBMODULES
            and attr not in d.NUMPY_SUBMODULES[base.attr.value]
        ):
            self._flag(node.attr, f"np.{base.attr.value}.{attr} is not in the dialect's numpy whitelist")

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) in self._not_references:
            return
        name = node.value
        if name.startswith("__"):
            self._flag(node, f"name {name!r}: dunder names are not allowed")
        elif name.startswith(d.RESERVED_PREFIX):
            self._flag(node, f"name {name!r} is reserved for the lens runtime")
        elif name in d.FORBIDDEN_BUILTINS:
            self._flag(node, f"{name!r} is not available in lens code")


def _all_params(params: cst.Parameters) -> Iterable[cst.Param]:
    yield from params.posonly_params
    yield from params.params
    yield from params.kwonly_params
    if isinstance(params.star_arg, cst.Param):
        yield params.star_arg
    if params.star_kwarg is not None:
        yield params.star_kwarg


def _names_in(node: cst.BaseExpression) -> Iterable[cst.Name]:
    if isinstance(node, cst.Name):
        yield node
    elif isinstance(node, cst.Attribute):
        yield from _names_in(node.value)
        yield node.attr
