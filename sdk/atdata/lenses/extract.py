"""Extraction: an ``@atdata.lens`` function in a user's module becomes a publishable lens module.

The module defines ``get(source)`` (and ``put(view, source)`` when the lens has a putter) from
the functions' own source text, with decorators and annotations removed. Names the functions
read from their module come along: modules as imports, plain constants as literals, helper
functions as further definitions; the lens's source and target type names are left for the
sandbox to bind. The result is checked with the sandbox validator, and every violation is
reported at its line and column in the user's file, so a lens outside the dialect fails where it
is written, not at publish or run time.
"""

from __future__ import annotations

import builtins
import inspect
import math
import symtable
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from atdata.errors import LensError, LensValidationError, Violation
from atdata.lenses.lens import Lens

_CONSTANT_TYPES = (type(None), bool, int, float, str, bytes)


@dataclass
class _Section:
    """One emitted function: where its lines start in the module and in the user's file."""

    module_line: int
    lines: int
    file_line: int
    indent: int


@dataclass
class _Module:
    imports: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    functions: list[tuple[str, str, Callable[..., Any]]] = field(default_factory=list)
    problems: list[Violation] = field(default_factory=list)


def extract_source(lens: Lens[Any, Any]) -> str:
    """The lens as published code: a module in the lens dialect defining ``get`` [and ``put``].

    Raises :class:`LensValidationError` (violations at the user's file, line and column) when the
    functions reach outside the dialect, and :class:`LensError` for lenses that are not one
    Python function (compositions, declarative lenses).
    """
    if lens.code is not None:
        return lens.code
    if lens.ops is not None:
        raise LensError(f"lens {lens.name} is declarative; publish its op list (lens.ops.to_plain())")
    fns = lens.native_functions()
    if fns is None:
        raise LensError(
            f"lens {lens.name} is a composition of {lens.steps} lenses; publish each lens on its own"
        )
    fget, fput = fns
    names = {lens.source.__name__: lens.source, lens.target.__name__: lens.target}
    return _build(fget, fput, names)


def _build(fget: Callable[..., Any], fput: Callable[..., Any] | None, bound: dict[str, type]) -> str:
    from atdata.sandbox import check_source

    filename = inspect.getsourcefile(fget) or "<unknown>"
    module = _Module()
    sections: list[tuple[str, Callable[..., Any]]] = [("get", fget)]
    if fput is not None:
        sections.append(("put", fput))
    done: set[Callable[..., Any]] = set()
    queue = list(sections)
    while queue:
        as_name, fn = queue.pop(0)
        if fn in done:
            continue
        done.add(fn)
        text, helpers = _function(fn, as_name, bound, module)
        module.functions.append((as_name, text, fn))
        queue.extend((h.__name__, h) for h in helpers if h not in done)
    # Extraction problems do not stop here: the dialect check below adds its own, so the author
    # sees every violation at once.
    head = ["# atdata lens module, extracted from " + f"{fget.__module__}.{fget.__qualname__}"]
    head += [
        f"import {mod}" if mod == alias else f"import {mod} as {alias}"
        for alias, mod in module.imports.items()
    ]
    head += [f"{name} = {value}" for name, value in module.constants.items()]
    lines = list(head)
    placed: list[_Section] = []
    # Helpers first so that get/put read top-down like the user's module would.
    ordered = module.functions[len(sections) :] + module.functions[: len(sections)]
    for _, text, fn in ordered:
        lines.extend(["", ""])
        start = len(lines) + 1
        body = text.rstrip("\n").split("\n")
        lines.extend(body)
        first, indent = _def_position(fn)
        placed.append(_Section(start, len(body), first, indent))
    source = "\n".join(lines) + "\n"
    violations = list(module.problems)
    try:
        check_source(source, filename=filename)
    except LensValidationError as e:
        get_line = _def_position(fget)[0]
        violations += [_map(v, placed, len(head), get_line) for v in e.violations]
    if violations:
        raise LensValidationError(filename, sorted(set(violations), key=lambda v: (v.line, v.column)))
    return source


def _map(v: Violation, placed: list[_Section], head_lines: int, get_line: int) -> Violation:
    """A violation in the extracted module, moved to where the user wrote that code."""
    for sec in placed:
        if sec.module_line <= v.line < sec.module_line + sec.lines:
            return Violation(sec.file_line + (v.line - sec.module_line), v.column + sec.indent, v.reason)
    if v.line <= head_lines:
        return Violation(get_line, 0, f"(in a name the lens uses) {v.reason}")
    return v


def _def_position(fn: Callable[..., Any]) -> tuple[int, int]:
    """File line of the ``def`` itself (after decorators) and its indentation."""
    lines, first = inspect.getsourcelines(fn)
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("def ", "async def ")):
            return first + i, len(line) - len(stripped)
    return first, 0


class _Strip(cst.CSTTransformer):
    """Rename the top-level function and remove its decorators and annotations."""

    def __init__(self, new_name: str) -> None:
        self.new_name = new_name
        self.depth = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.depth += 1
        return True

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        self.depth -= 1
        if self.depth:
            return updated
        return updated.with_changes(
            name=cst.Name(self.new_name),
            decorators=(),
            returns=None,
            leading_lines=(),
            lines_after_decorators=(),
        )

    def leave_Param(self, original: cst.Param, updated: cst.Param) -> cst.Param:
        return updated.with_changes(annotation=None) if self.depth == 1 else updated


def _function(
    fn: Callable[..., Any], as_name: str, bound: dict[str, type], module: _Module
) -> tuple[str, list[Callable[..., Any]]]:
    """The function's text renamed to ``as_name``, and the helper functions it calls."""
    first, _ = _def_position(fn)
    where = getattr(fn, "__qualname__", repr(fn))
    if not isinstance(fn, types.FunctionType) or fn.__name__ == "<lambda>":
        module.problems.append(Violation(first, 0, f"{where}: only a plain `def` function can be extracted"))
        return "", []
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as e:
        module.problems.append(Violation(0, 0, f"{where}: its source is not available ({e})"))
        return "", []
    if fn.__closure__:
        names = ", ".join(fn.__code__.co_freevars)
        module.problems.append(
            Violation(
                first,
                0,
                f"{where}: it reads variables of an enclosing function ({names}); define it at module level",
            )
        )
        return "", []
    tree = cst.parse_module(text)
    text = tree.visit(_Strip(as_name)).code
    helpers: list[Callable[..., Any]] = []
    lines_of = _name_lines(text, first)
    for name in sorted(_global_names(text)):
        line = lines_of.get(name, first)
        helper = _resolve(name, fn, bound, module, line)
        if helper is not None:
            helpers.append(helper)
    return text, helpers


def _global_names(text: str) -> set[str]:
    """Names a function reads from its module (symtable knows Python's scoping rules exactly)."""
    top = symtable.symtable(text, "<lens>", "exec")
    found: set[str] = set()

    def walk(table: symtable.SymbolTable) -> None:
        for sym in table.get_symbols():
            # Names of an enclosing function show as free in comprehensions; only globals leave.
            if sym.is_referenced() and sym.is_global():
                found.add(sym.get_name())
        for child in table.get_children():
            walk(child)

    for child in top.get_children():
        walk(child)
    own = {c.get_name() for c in top.get_children()}
    return found - own


def _name_lines(text: str, first_line: int) -> dict[str, int]:
    import ast

    lines: dict[str, int] = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Name):
            lines.setdefault(node.id, first_line + node.lineno - 1)
    return lines


def _resolve(
    name: str, fn: types.FunctionType, bound: dict[str, type], module: _Module, line: int
) -> Callable[..., Any] | None:
    globs = fn.__globals__
    if name not in globs:
        if hasattr(builtins, name):
            return None  # the validator decides which builtins the dialect has
        module.problems.append(Violation(line, 0, f"name {name!r} is not defined in {fn.__module__}"))
        return None
    value = globs[name]
    if name in bound and value is bound[name]:
        return None
    if isinstance(value, type) and value in bound.values():
        module.problems.append(
            Violation(line, 0, f"{name!r} is an alias of {value.__name__}; use the type's own name")
        )
        return None
    if isinstance(value, types.ModuleType):
        module.imports[name] = value.__name__
        return None
    if isinstance(value, Lens):
        module.problems.append(
            Violation(line, 0, f"{name!r} is another lens; compose lenses with `|` instead of calling one")
        )
        return None
    if isinstance(value, types.FunctionType) and value.__name__ == name:
        return value
    home = getattr(value, "__module__", None)
    from_numeric_module = isinstance(home, str) and (home in ("math", "numpy") or home.startswith("numpy."))
    if callable(value) and from_numeric_module:
        alias = "np" if home != "math" else "math"
        module.problems.append(
            Violation(line, 0, f"{name!r} was imported from {home}; write {alias}.{value.__name__} instead")
        )
        return None
    literal = _literal(value)
    if literal is not None:
        module.constants[name] = literal
        return None
    module.problems.append(
        Violation(
            line,
            0,
            f"{name!r} is a {type(value).__name__}; a lens may use only modules, plain constants, "
            "helper functions and its source and target types from its module",
        )
    )
    return None


def _literal(value: Any, depth: int = 0) -> str | None:
    """Python source for a plain constant, or None when it is not one."""
    if depth > 20:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, _CONSTANT_TYPES):
        return repr(value)
    if isinstance(value, (list, tuple, frozenset, set)):
        parts = [_literal(v, depth + 1) for v in value]
        if any(p is None for p in parts):
            return None
        body = ", ".join(p for p in parts if p is not None)
        if isinstance(value, list):
            return f"[{body}]"
        if isinstance(value, tuple):
            return f"({body},)" if len(parts) == 1 else f"({body})"
        return (
            f"frozenset([{body}])" if isinstance(value, frozenset) else (f"{{{body}}}" if parts else "set()")
        )
    if isinstance(value, dict):
        items = [(_literal(k, depth + 1), _literal(v, depth + 1)) for k, v in value.items()]
        if any(k is None or v is None for k, v in items):
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    return None
