"""An atdata 0.7 lens module turned into a lens module of this project's dialect, where it can be.

atdata 0.7 publishes a lens as a git reference (repository, commit, path) to ordinary Python::

    @atdata.lens
    def to_view(s: Full) -> View:
        return View(x=s.x)

    @to_view.putter
    def to_view_put(v: View, s: Full) -> Full: ...

:func:`translate` keeps the getter's body as ``get(...)`` and the putter's as ``put(...)``, drops
what only served 0.7 (decorators, the sample type classes, imports of ``atdata``, ``typing`` and
``numpy.typing``), keeps other top-level helpers, and checks the result against the dialect
(:func:`atdata.sandbox.validate_source`). Everything that stops it from being a lens here is listed
in :attr:`Translation.blockers` (``line: reason``, lines of the 0.7 file where known); the module is
usable only when that list is empty. Nothing of the file is run.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from atdata.sandbox import validate_source

_DROPPED_IMPORTS = ("atdata", "typing", "numpy.typing", "dataclasses", "__future__")
_KEPT_IMPORTS = ("numpy", "math")


@dataclass
class Translation:
    source: str | None
    """The dialect module (None when no getter was found)."""
    types: list[str] = field(default_factory=list)
    """The 0.7 sample type classes the file defined (dropped: the lens binds its types itself)."""
    blockers: list[str] = field(default_factory=list)


def _decorator_name(d: ast.expr) -> str:
    target = d.func if isinstance(d, ast.Call) else d
    return ast.unparse(target)


def translate(text: str, filename: str = "<0.7 lens>") -> Translation:
    """The dialect module for a 0.7 lens file, and what blocks it (see the module docstring)."""
    from atdata.sandbox.gate import gate_text

    # Someone else's text: the lexical gate bounds it before any parser (which can recurse) reads it.
    gate, fatal = gate_text(text)
    if fatal:
        return Translation(None, blockers=[f"{v.line}: {v.reason}" for v in gate])
    try:
        tree = ast.parse(text, filename=filename)
    except (RecursionError, MemoryError):
        return Translation(None, blockers=["1: not Python this tool can read: nested too deeply"])
    except SyntaxError as e:
        return Translation(None, blockers=[f"{e.lineno}: not Python: {e.msg}"])
    out: Translation = Translation(None)
    getter: ast.FunctionDef | None = None
    putter: ast.FunctionDef | None = None
    body: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out.types.append(node.name)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            kept = _import(node, out)
            if kept is not None:
                body.append(kept)
            continue
        if isinstance(node, ast.FunctionDef) and node.decorator_list:
            names = [_decorator_name(d) for d in node.decorator_list]
            if any(n in ("lens", "atdata.lens") for n in names):
                if getter is not None:
                    out.blockers.append(
                        f"{node.lineno}: a second lens ({node.name}); import one lens per file"
                    )
                    continue
                getter = node
            elif any(n.endswith(".putter") for n in names):
                putter = node
            else:
                out.blockers.append(
                    f"{node.lineno}: decorator {names[0]!r} on {node.name} has no counterpart"
                )
                continue
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is tree.body[0]:
            body.append(node)  # the module docstring
            continue
        body.append(node)
    if getter is None:
        out.blockers.append("1: no function decorated with @atdata.lens (the getter) in this file")
        return out
    old_names = {getter.name, *(() if putter is None else (putter.name,))}
    for fn, name in ((getter, "get"), (putter, "put")):
        if fn is None:
            continue
        fn.name, fn.decorator_list = name, []
        body.append(fn)
    module = ast.Module(body=body, type_ignores=[])
    out.source = ast.unparse(ast.fix_missing_locations(module)) + "\n"
    for v in validate_source(out.source, filename=filename):
        out.blockers.append(f"{_original_line(out.source, v.line)}: {v.reason}")
    for n in old_names - {"get", "put"}:
        if any(isinstance(x, ast.Name) and x.id == n for x in ast.walk(module)):
            out.blockers.append(f"{getter.lineno}: the lens refers to itself by its 0.7 name {n!r}")
    return out


def _import(node: ast.Import | ast.ImportFrom, out: Translation) -> ast.stmt | None:
    modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    if all(
        m.split(".")[0] in ("atdata", "typing", "dataclasses", "__future__") or m in _DROPPED_IMPORTS
        for m in modules
    ):
        return None
    if all(m in _KEPT_IMPORTS for m in modules):
        return node
    out.blockers.append(
        f"{node.lineno}: imports {', '.join(modules)}; lens code may import only numpy and math"
    )
    return None


def _original_line(source: str, line: int) -> str:
    """Where a dialect violation is, quoted from the translated module (its lines differ from the file's)."""
    lines = source.splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return f"`{text[:60]}`" if text else f"line {line}"
