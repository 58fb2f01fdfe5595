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
in :attr:`Translation.blockers` (``line: `construct`: reason``, lines of the 0.7 file: the module is
the file's own lines minus the dropped ones, so each dialect violation maps back to its line); the
module is usable only when that list is empty. Nothing of the file is run.

:func:`import_record` is the I/O edge: it fetches a ``science.alt.dataset.lens`` record
(CID-checked), the file its getter names at exactly the record's commit
(:mod:`atdata.network.gitfetch`), and translates that.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from atdata.errors import CodeReferenceError, LocationRefusedError
from atdata.network.predecessor import CodeRef
from atdata.sandbox import validate_source

if TYPE_CHECKING:
    from atdata.network.record_fetch import RecordFetcher

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


def translate(
    text: str, filename: str = "<0.7 lens>", *, getter: str | None = None, putter: str | None = None
) -> Translation:
    """The dialect module for a 0.7 lens file, and what blocks it (see the module docstring).

    ``getter`` and ``putter`` are the function names a lens record gives (after the ``:`` of its
    code paths); without them the getter is the function decorated with ``@atdata.lens`` and the
    putter the one decorated with its ``.putter``. The module is the file's own lines, minus what
    only served 0.7, so every blocker names a line of the file.
    """
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
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    get_fn = _pick_getter(tree, functions, getter, out)
    if get_fn is None:
        return out
    put_fn = _pick_putter(tree, functions, get_fn, putter, out)
    lines = text.splitlines()
    dropped: set[int] = set()  # 1-based lines of the file left out of the module
    kept: set[int] = set()
    for node in tree.body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        span = set(range(first, (node.end_lineno or node.lineno) + 1))
        if node is get_fn or node is put_fn:
            assert isinstance(node, ast.FunctionDef)
            dropped |= set(range(first, node.lineno))  # the decorators
            kept |= set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        elif _dropped(node, out):
            dropped |= span
        else:
            kept |= span
    for shared in sorted(dropped & kept):
        out.blockers.append(f"{shared}: several statements on one line, some of which only served 0.7")
    renames = {get_fn.lineno: (get_fn.name, "get")}
    if put_fn is not None:
        renames[put_fn.lineno] = (put_fn.name, "put")
    origin: list[int] = []  # line of the module -> line of the file
    body: list[str] = []
    spans = [
        (min([n.lineno, *(d.lineno for d in getattr(n, "decorator_list", []))]), n.end_lineno or n.lineno)
        for n in tree.body
    ]
    for number, line in enumerate(lines, start=1):
        if number in dropped and number not in kept:
            continue
        if number in renames:
            old, new = renames[number]
            line = re.sub(rf"(\bdef\s+){re.escape(old)}\b", rf"\g<1>{new}", line, count=1)
        between = not any(a <= number <= b for a, b in spans)
        if between and not line.strip() and (not body or not body[-1].strip()):
            continue  # blank lines between statements, where a dropped one was: one is enough
        body.append(line)
        origin.append(number)
    while body and not body[-1].strip():
        body.pop()
        origin.pop()
    out.source = "\n".join(body) + "\n"
    for v in validate_source(out.source, filename=filename):
        number = origin[v.line - 1] if 0 < v.line <= len(origin) else v.line
        out.blockers.append(f"{number}: {_construct(lines, number)}{v.reason}")
    old_names = {get_fn.name, *(() if put_fn is None else (put_fn.name,))} - {"get", "put"}
    for name in ast.walk(tree):
        if isinstance(name, ast.Name) and name.id in old_names and name.lineno not in dropped:
            out.blockers.append(
                f"{name.lineno}: {_construct(lines, name.lineno)}the lens refers to itself by its 0.7 "
                f"name {name.id!r}"
            )
    return out


def _is_lens(node: ast.FunctionDef) -> bool:
    return any(_decorator_name(d) in ("lens", "atdata.lens") for d in node.decorator_list)


def _pick_getter(
    tree: ast.Module, functions: dict[str, ast.FunctionDef], name: str | None, out: Translation
) -> ast.FunctionDef | None:
    if name is not None:
        found = functions.get(name)
        if found is None:
            out.blockers.append(
                f"1: no top-level function {name!r} (the getter the record names) in this file"
            )
        return found
    lenses = [n for n in tree.body if isinstance(n, ast.FunctionDef) and _is_lens(n)]
    if not lenses:
        out.blockers.append("1: no function decorated with @atdata.lens (the getter) in this file")
        return None
    for extra in lenses[1:]:
        out.blockers.append(f"{extra.lineno}: a second lens ({extra.name}); import one lens per file")
    return lenses[0]


def _pick_putter(
    tree: ast.Module,
    functions: dict[str, ast.FunctionDef],
    getter: ast.FunctionDef,
    name: str | None,
    out: Translation,
) -> ast.FunctionDef | None:
    if name is not None:
        found = functions.get(name)
        if found is None:
            out.blockers.append(
                f"1: no top-level function {name!r} (the putter the record names) in this file"
            )
        return found
    wanted = f"{getter.name}.putter"
    return next(
        (
            n
            for n in tree.body
            if isinstance(n, ast.FunctionDef) and any(_decorator_name(d) == wanted for d in n.decorator_list)
        ),
        None,
    )


def _dropped(node: ast.stmt, out: Translation) -> bool:
    """Whether a top-level statement other than the getter and putter is left out (blockers noted)."""
    if isinstance(node, ast.ClassDef):
        out.types.append(node.name)
        return True
    if isinstance(node, ast.Import | ast.ImportFrom):
        return _import(node, out) is None
    if isinstance(node, ast.FunctionDef) and node.decorator_list:
        names = [_decorator_name(d) for d in node.decorator_list]
        if _is_lens(node) or any(n.endswith(".putter") for n in names):
            return True  # another lens of the same file, not the one being imported
        out.blockers.append(f"{node.lineno}: decorator {names[0]!r} on {node.name} has no counterpart")
        return True
    return False


def _construct(lines: list[str], number: int) -> str:
    """The line of the file a blocker is about, quoted, as the start of its message."""
    text = lines[number - 1].strip() if 0 < number <= len(lines) else ""
    return f"`{text[:60]}{'...' if len(text) > 60 else ''}`: " if text else ""


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


# --- the I/O edge: a lens record, its code at its commit ------------------------------------------


@dataclass
class Imported:
    """A 0.7 lens record, the file its code reference names, and what that file becomes here."""

    uri: str
    cid: str
    code: CodeRef
    putter: CodeRef | None
    translation: Translation

    @property
    def provenance(self) -> list[str]:
        """Where the code came from, one fact a line (each value printable: checked on the way in)."""
        names = [f"getter {self.code.function}" if self.code.function else "the @atdata.lens getter"]
        if self.putter is not None and self.putter.function:
            names.append(f"putter {self.putter.function}")
        return [
            f"lens record: {self.uri}",
            f"record CID: {self.cid}",
            f"repository: {self.code.repository}",
            f"commit: {self.code.commit}",
            f"path: {self.code.path} ({', '.join(names)})",
        ]

    @property
    def module(self) -> str | None:
        """The dialect module, headed by comments saying where it came from (None when blocked)."""
        source = self.translation.source
        if source is None or self.translation.blockers:
            return None
        head = "".join(f"# {line}\n" for line in ["Imported from an atdata 0.7 lens.", *self.provenance])
        return head + source


def import_record(
    uri: str,
    *,
    allow_hosts: Iterable[str] = (),
    allow_file: bool = False,
    fetcher: RecordFetcher | None = None,
) -> Imported:
    """Fetch the ``science.alt.dataset.lens`` record at ``uri`` (CID-checked), the file its getter
    names at exactly its commit, and translate it.

    Raises :class:`~atdata.errors.CodeReferenceError` or
    :class:`~atdata.errors.LocationRefusedError` naming the repository, commit and path when the
    code cannot be fetched (:func:`atdata.network.gitfetch.fetch_file` says what is refused), and
    the record fetcher's errors when the record cannot. The record's author's PDS is reached only at
    a public address, a configured service or an allowed host. A putter in another file or at
    another commit is a blocker, not an error.
    """
    from atdata.config import settings
    from atdata.network.gitfetch import fetch_file
    from atdata.network.guard import Guard, guarding
    from atdata.network.predecessor import ALT_LENS, convert_lens
    from atdata.network.record_fetch import RecordFetcher
    from atdata.network.refs import AtUri

    if AtUri.parse(uri).collection != ALT_LENS:
        raise CodeReferenceError(f"{uri} is not a {ALT_LENS} record (atdata lens import reads 0.7 lenses)")
    if fetcher is None:
        # The record's author names its PDS (DID document): reached only at a public address, or
        # a service the user configured, or a host the user allowed.
        configured = settings()
        guard = Guard.of(
            allow_hosts=allow_hosts, services=[configured.plc, configured.pds, configured.appview]
        )
        with guarding(guard), RecordFetcher() as own:
            record = own.fetch(uri)
    else:
        record = fetcher.fetch(uri)
    lens = convert_lens(record.value, record.uri)
    code = lens.getter
    where = f"lens record {record.uri} (CID {record.cid}): "
    try:
        file = fetch_file(
            code.repository, code.commit, code.path, allow_hosts=allow_hosts, allow_file=allow_file
        )
    except CodeReferenceError as e:
        raise CodeReferenceError(where + str(e)) from None
    except LocationRefusedError as e:
        raise LocationRefusedError(where + str(e), rule=e.rule) from None
    # From here on the repository, commit and path are checked (printable, one line): fit for output.
    code = CodeRef(file.repository, file.commit, file.path, code.function)
    putter = lens.putter
    translation = translate(
        file.text, filename=file.path, getter=code.function, putter=putter.function if putter else None
    )
    if putter is not None:
        same = (putter.repository, putter.commit.lower(), putter.path) == (
            code.repository,
            code.commit,
            code.path,
        )
        if not same:
            translation.blockers.append(
                f"1: the record's putter is in another file or commit ({putter.where!r}); import "
                "reads a lens whose getter and putter share one file"
            )
            putter = None
        else:
            putter = CodeRef(code.repository, code.commit, code.path, putter.function)
    return Imported(record.uri, record.cid, code, putter, translation)
