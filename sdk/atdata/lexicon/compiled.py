"""Each lexicon definition's checks generated once into Python code: the validator's fast path.

The reporting walk (:class:`atdata.lexicon.validator.Lexicons`) interprets a definition at every
node of a value: a dict lookup per keyword, a path object per property, a call per value. The
appview validates every distinct record it ingests and nearly all of them are valid, so, the way
the codec generates a decoder per sample type, a definition's checks are generated here into
straight-line code that answers one question: would the walk, data-model check included, find no
problem at all? It answers yes only when certain. Anything it does not decide exactly as the walk
does (a subclass of ``dict`` or ``str``, a float, a lexicon keyword of an unexpected type, a kind
it does not generate) makes it answer no, or hands that one value to the walk itself, and a no
sends the caller to the walk, which alone writes problems. So verdicts and messages are the walk's
by construction; tests check that the two agree on valid and broken values of every lexicon.

Lexicon values (names, limits, enums) reach the generated code as namespace constants, never as
source text, so a hostile lexicon document cannot inject code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from atdata.lexicon.formats import FORMATS
from atdata.lexicon.validator import _INT64_MAX, _INT64_MIN, MAX_DEPTH, _plain_data, grapheme_count

Def = dict[str, Any]
Check = Callable[[Any, int], bool]
"""``check(value, depth)``: True only if the walk finds no problem in ``value``, a container
``depth`` levels below the root (the data-model depth limit counts from the root)."""

Resolve = Callable[[str, str], tuple[str, Def]]
Absolute = Callable[[str, str], str]
WalkOk = Callable[[str, Def, Any], bool]

_MISSING = object()
_MAX_REF_HOPS = 32  # a chain of refs longer than this (a cycle, in practice) is left to the walk


def _is_int(x: Any) -> bool:
    return type(x) is int


def _is_strs(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and all(type(s) is str for s in x)


class Generator:
    """Generates the checks of one definition and of every definition it reaches, as one module.

    ``resolve(ref, base)`` and ``absolute(ref, base)`` are the walk's own ref resolution;
    ``walk_ok(base, d, value)`` runs the walk on one value and says whether it found nothing (used
    for the kinds not generated here, so each stays exactly the walk's).
    """

    def __init__(self, resolve: Resolve, absolute: Absolute, walk_ok: WalkOk) -> None:
        self._resolve = resolve
        self._absolute = absolute
        self._ns: dict[str, Any] = {
            "_MISSING": _MISSING,
            "_plain": _plain_data,
            "_graphemes": grapheme_count,
            "_absolute": absolute,
            "_walk_ok": walk_ok,
            "_MAX_DEPTH": MAX_DEPTH,
            "_I64MIN": _INT64_MIN,
            "_I64MAX": _INT64_MAX,
        }
        self._lines: list[str] = []
        self._names: dict[tuple[str, int], str] = {}
        self._pending: list[tuple[str, str, Def]] = []
        self._dispatch: list[tuple[dict[str, Any], dict[str, str]]] = []
        self._keep: list[Any] = []  # the definitions named by id(), alive while generating

    # --- entry points ---------------------------------------------------------------------------

    def record(self, nsid: str, base: str, d: Any) -> Callable[[Any], bool]:
        """The check of a whole record of collection ``nsid`` (``d`` its ``record`` definition)."""
        body = self._object_function(base, d)
        self._ns["_NSID"] = nsid
        self._lines += [
            "def _record(v):",
            "    if type(v) is not dict:",
            "        return False",
            "    t = v.get('$type')",
            "    if type(t) is not str or t != _NSID:",
            "        return False",
            f"    return {body}(v, 0)",
        ]
        self._finish()
        check: Callable[[Any], bool] = self._ns["_record"]
        return check

    def value(self, base: str, d: Def) -> Check:
        """The check of a value of definition ``d`` (any kind), seen in the document ``base``."""
        name = self._function(base, d)
        self._finish()
        check: Check = self._ns[name]
        return check

    # --- generation -----------------------------------------------------------------------------

    def _finish(self) -> None:
        while self._pending:
            name, base, d = self._pending.pop()
            self._lines += self._emit(name, base, d)
        code = compile("\n".join(self._lines), "<atdata lexicon checks>", "exec")
        exec(code, self._ns)
        for table, names in self._dispatch:
            table.update({uri: self._ns[name] for uri, name in names.items()})

    def _const(self, value: Any) -> str:
        name = f"_k{len(self._ns)}"
        self._ns[name] = value
        return name

    def _function(self, base: str, d: Any) -> str:
        """The name of the function checking a value of ``d`` (generated later, once per definition)."""
        hops = 0
        while isinstance(d, dict) and d.get("type") == "ref":
            if hops == _MAX_REF_HOPS:
                return self._new(base, d, "walk")
            try:
                base, d = self._resolve(d["ref"], base)
            except Exception:  # whatever the walk meets here it meets again in the fallback
                return self._new(base, d, "walk")
            hops += 1
        return self._new(base, d, "value")

    def _object_function(self, base: str, d: Any) -> str:
        return self._new(base, d, "object")

    def _new(self, base: str, d: Any, role: str) -> str:
        key = (f"{role} {base}", id(d))
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = f"_f{len(self._names)}"
            self._keep.append(d)
            self._pending.append((name, role + " " + base, d))
        return name

    def _emit(self, name: str, role_base: str, d: Any) -> list[str]:
        role, _, base = role_base.partition(" ")
        kind = d.get("type") if isinstance(d, dict) else None
        body: list[str] | None = None
        if role == "object" or (role == "value" and kind in ("object", "params")):
            body = self._object(base, d)
        elif role == "value" and kind == "array":
            body = self._array(base, d)
        elif role == "value" and kind == "union":
            body = self._union(base, d)
        elif role == "value":
            inline = self._scalar(base, d, "v", "depth")
            if inline is not None:
                body = [*inline, "return True"]
        if body is None:  # a kind not generated here: the walk decides, on this value only
            body = self._walk(base, d)
        return [f"def {name}(v, depth):", *("    " + line for line in body)]

    def _walk(self, base: str, d: Any) -> list[str]:
        return [
            "if not _plain(v, depth):",
            "    return False",
            "try:",
            f"    return _walk_ok({self._const(base)}, {self._const(d)}, v)",
            "except Exception:",  # the walk on the whole record raises it, or never gets here
            "    return False",
        ]

    def _check(self, base: str, spec: Any, var: str, depth: str) -> list[str]:
        """Lines that ``return False`` unless ``var`` (``depth`` levels down) passes ``spec``."""
        inline = self._scalar(base, spec, var, depth)
        if inline is None and isinstance(spec, dict) and spec.get("type") == "union":
            inline = self._union_inline(base, spec, var, depth)
        if inline is not None:
            return inline
        return [f"if not {self._function(base, spec)}({var}, {depth}):", "    return False"]

    def _object(self, base: str, d: Any) -> list[str] | None:
        if not isinstance(d, dict):
            return None
        props = d.get("properties", {})
        required = d.get("required", ())
        nullable = d.get("nullable", ())
        if not (isinstance(props, dict) and _is_strs(list(props))):
            return None
        if not (_is_strs(required) and _is_strs(nullable)):
            return None
        lines = [
            "if type(v) is not dict or depth >= _MAX_DEPTH:",
            "    return False",
            "d1 = depth + 1",
            "n = 0",
        ]
        for prop, spec in props.items():
            key = repr(prop)  # repr of a str is a Python string literal, whatever it holds
            check = ["    " + line for line in self._check(base, spec, "x", "d1")]
            if prop in nullable:
                lines += [f"x = v.get({key}, _MISSING)", "if x is None:", "    n += 1"]
                lines += ["elif x is _MISSING:", "    return False" if prop in required else "    pass"]
                lines += ["else:", "    n += 1", *check]
            elif prop in required:  # absent or null: refused alike
                lines += [f"x = v.get({key})", "if x is None:", "    return False", "n += 1"]
                lines += [line[4:] for line in check]
            else:
                lines += [f"x = v.get({key})", "if x is not None:", "    n += 1", *check]
                lines += [f"elif {key} in v:", "    return False"]
        known = set(props)
        if "$type" not in known:  # a union member's or a record's own type name: plain text
            known.add("$type")
            lines += [
                "x = v.get('$type', _MISSING)",
                "if x is not _MISSING:",
                "    if type(x) is not str and not _plain(x, d1):",
                "        return False",
                "    n += 1",
            ]
        lines += [
            "if len(v) != n:",  # properties the definition does not name: data-model checks only
            "    for k, x in v.items():",
            "        if type(k) is not str:",
            "            return False",
            f"        if k not in {self._const(frozenset(known))} and not _plain(x, d1):",
            "            return False",
            "return True",
        ]
        return lines

    def _array(self, base: str, d: Def) -> list[str] | None:
        if "items" not in d or not all(_is_int(d[k]) for k in ("maxLength", "minLength") if k in d):
            return None
        lines = ["if type(v) is not list or depth >= _MAX_DEPTH:", "    return False"]
        if "maxLength" in d:
            lines += [f"if len(v) > {d['maxLength']}:", "    return False"]
        if "minLength" in d:
            lines += [f"if len(v) < {d['minLength']}:", "    return False"]
        lines += ["d1 = depth + 1", "for x in v:"]
        lines += ["    " + line for line in self._check(base, d["items"], "x", "d1")]
        lines.append("return True")
        return lines

    def _union(self, base: str, d: Def) -> list[str] | None:
        inline = self._union_inline(base, d, "v", "depth")
        return None if inline is None else [*inline, "return True"]

    def _union_inline(self, base: str, d: Def, x: str, depth: str) -> list[str] | None:
        refs = d.get("refs")
        if not _is_strs(refs):
            return None
        names: dict[str, str] = {}
        for ref in refs or ():
            uri = self._absolute(ref, base)
            try:
                _, target = self._resolve(uri, "")
            except Exception:  # the walk meets the same error when a value names this member
                names.setdefault(uri, self._new(base, {"type": "ref", "ref": uri}, "walk"))
                continue
            names.setdefault(uri, self._function(uri, target))
        table: dict[str, Any] = {}
        self._dispatch.append((table, names))
        members = self._const(table)
        # A name the table lacks may still be a member written another way (``#local``, no ``#main``).
        lines = [
            f"if type({x}) is not dict:",
            "    return False",
            f"t = {x}.get('$type')",
            "if type(t) is not str:",
            "    return False",
            f"f = {members}.get(t) or {members}.get(_absolute(t, {self._const(base)}))",
            "if f is None:",
        ]
        if d.get("closed"):
            lines.append("    return False")
        else:  # a type this union does not list: only the data model applies
            lines += [f"    if not _plain({x}, {depth}):", "        return False"]
        lines += [f"elif not f({x}, {depth}):", "    return False"]
        return lines

    def _scalar(self, base: str, d: Any, x: str, depth: str) -> list[str] | None:
        """Inline checks of a string, integer, boolean or unknown value, or None for other kinds."""
        if not isinstance(d, dict):
            return None
        kind = d.get("type")
        if kind == "string":
            return self._string(d, x)
        if kind == "integer":
            if not all(_is_int(d[k]) for k in ("minimum", "maximum") if k in d):
                return None
            if "enum" in d and not isinstance(d["enum"], list):
                return None
            lines = [f"if type({x}) is not int or {x} < _I64MIN or {x} > _I64MAX:", "    return False"]
            if "const" in d:
                lines += [f"if {x} != {self._const(d['const'])}:", "    return False"]
            if "enum" in d:
                lines += [f"if {x} not in {self._const(d['enum'])}:", "    return False"]
            if "minimum" in d:
                lines += [f"if {x} < {d['minimum']}:", "    return False"]
            if "maximum" in d:
                lines += [f"if {x} > {d['maximum']}:", "    return False"]
            return lines
        if kind == "boolean":
            lines = [f"if type({x}) is not bool:", "    return False"]
            if "const" in d:
                lines += [f"if {x} != {self._const(d['const'])}:", "    return False"]
            return lines
        if kind == "unknown":
            return [f"if type({x}) is not dict or not _plain({x}, {depth}):", "    return False"]
        return None

    def _string(self, d: Def, x: str) -> list[str] | None:
        limits = ("maxLength", "minLength", "maxGraphemes", "minGraphemes")
        if not all(_is_int(d[k]) for k in limits if k in d):
            return None
        if "enum" in d and not isinstance(d["enum"], list):
            return None
        fmt = d.get("format")
        if fmt is not None and not isinstance(fmt, str):
            return None
        lines = [f"if type({x}) is not str:", "    return False"]
        if "const" in d:
            lines += [f"if {x} != {self._const(d['const'])}:", "    return False"]
        if "enum" in d:
            enum = d["enum"]
            members = frozenset(enum) if _is_strs(enum) else enum  # same answers for str values
            lines += [f"if {x} not in {self._const(members)}:", "    return False"]
        if "maxLength" in d or "minLength" in d:
            # UTF-8 bytes, as the walk counts them; an ASCII string's length is its byte count.
            lines.append(f"nb = len({x}) if {x}.isascii() else len({x}.encode('utf-8', 'surrogatepass'))")
            bounds = [f"nb > {d['maxLength']}"] if "maxLength" in d else []
            bounds += [f"nb < {d['minLength']}"] if "minLength" in d else []
            lines += [f"if {' or '.join(bounds)}:", "    return False"]
        if "maxGraphemes" in d:
            g = d["maxGraphemes"]
            lines += [f"if len({x}) > {g} and _graphemes({x}) > {g}:", "    return False"]
        if "minGraphemes" in d:
            lines += [f"if _graphemes({x}) < {d['minGraphemes']}:", "    return False"]
        if fmt in FORMATS:
            lines += [f"if not {self._const(FORMATS[fmt][0])}({x}):", "    return False"]
        return lines
