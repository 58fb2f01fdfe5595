"""Declarative lenses: a list of field operations that runs forward and backward.

Each operation maps a sample's plain field dict (see ``atdata.types.packable.as_plain``) to the
next, and each knows its own putter, so a whole list reverses by construction: ``put`` replays
the forward pass over the source to recover every intermediate state, then walks back through
the operations. Information an operation throws away (a dropped field, the precision lost to a
cast) comes back from the source, and a putter keeps the source's value whenever the view did
not change it, so ``put(get(s), s) == s`` always holds.

Operations are plain data, mirroring the ``dev.atdata.lens#declarative`` lexicon with ``op`` in
place of ``$type``::

    {"op": "rename", "from": "a", "to": "b"}
    {"op": "drop", "field": "a"}
    {"op": "add", "field": "a", "value": 0}
    {"op": "convert", "field": "a", "table": [{"from": "x", "to": 1}], "default": 0}   # default optional
    {"op": "nest", "fields": ["a", "b"], "into": "c"}
    {"op": "unnest", "field": "c"}
    {"op": "cast", "field": "a", "to": "int" | "float"}
    {"op": "dtypeCast", "field": "image", "dtype": "float16"}
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from atdata.errors import AtdataError, LensValidationError, Violation
from atdata.types.fields import TypeSpec
from atdata.types.packable import values_equal

Fields = dict[str, Any]

_SHAPES: dict[str, dict[str, type | tuple[type, ...]]] = {
    "rename": {"from": str, "to": str},
    "drop": {"field": str},
    "add": {"field": str, "value": object},
    "convert": {"field": str, "table": list},
    "nest": {"fields": list, "into": str},
    "unnest": {"field": str},
    "cast": {"field": str, "to": str},
    "dtypeCast": {"field": str, "dtype": str},
}
_OPTIONAL = {"convert": {"default"}}
_CASTS = {"int": int, "float": float}

# Bounds on what an operation list (someone else's data) may make this process hold. Constants are
# checked when the list is parsed, casts before anything is allocated.
MAX_VALUE_DEPTH = 32
MAX_VALUE_NODES = 10_000
MAX_VALUE_CHARS = 1 << 20
MAX_ARRAY_BYTES = 1 << 30
_CAST_KINDS = "biufc"  # bool, integers, floats, complex: no strings, voids, objects or subarrays


class OpError(AtdataError, ValueError):
    """An operation met a sample it cannot transform (the runner adds lens name and sample key)."""


@dataclass(frozen=True)
class Ops:
    """A validated operation list; use :meth:`parse` to build one from plain data."""

    ops: tuple[Mapping[str, Any], ...]

    @classmethod
    def parse(cls, ops: Sequence[Mapping[str, Any]] | Ops) -> Ops:
        """Check the shape of every operation, reporting all problems at once."""
        if isinstance(ops, Ops):
            return ops
        if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence):
            raise LensValidationError("op list", [Violation(0, 0, "expected a list of operations")])
        if len(ops) > MAX_VALUE_NODES:
            raise LensValidationError("op list", [Violation(0, 0, f"more than {MAX_VALUE_NODES} operations")])
        problems = [p for i, op in enumerate(ops) for p in _shape_problems(i, op)]
        if problems:
            raise LensValidationError("op list", problems)
        return cls(tuple(copy.deepcopy(dict(op)) for op in ops))

    @classmethod
    def from_record(cls, ops: Sequence[Mapping[str, Any]]) -> Ops:
        """Operations from a lens record's ``code.ops`` (``$type`` members, constants as value objects)."""
        from atdata.lexicon.nsid import LENS
        from atdata.schema.value_objects import decode_value

        plain: list[dict[str, Any]] = []
        problems: list[Violation] = []
        for i, op in enumerate(ops):
            kind = str(op.get("$type", "")).removeprefix(f"{LENS}#") if isinstance(op, Mapping) else ""
            too_big = value_problem(op)  # before decoding: decoding recurses
            if too_big is not None:
                problems.append(Violation(i + 1, 0, f"ops[{i}]: {kind or 'operation'}: {too_big}"))
                continue
            try:
                item: dict[str, Any] = {"op": kind, **{k: v for k, v in op.items() if k != "$type"}}
                if kind == "add" and "value" in item:
                    item["value"] = decode_value(item["value"])
                if kind == "convert":
                    if "default" in item:
                        item["default"] = decode_value(item["default"])
                    item["table"] = [
                        {"from": decode_value(r["from"]), "to": decode_value(r["to"])}
                        for r in item.get("table", [])
                    ]
                plain.append(item)
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                problems.append(Violation(i + 1, 0, f"ops[{i}]: {kind or 'operation'}: {e}"))
        if problems:
            raise LensValidationError("op list", problems)
        return cls.parse(plain)

    def to_plain(self) -> list[dict[str, Any]]:
        """The operations as plain data (what a lens record's ``code.ops`` is made from)."""
        return [copy.deepcopy(dict(op)) for op in self.ops]

    # --- running --------------------------------------------------------------------------

    def get(self, source: Fields) -> Fields:
        state = dict(source)
        for op in self.ops:
            state = _GET[op["op"]](op, state)
        return state

    def put(self, view: Fields, source: Fields) -> Fields:
        if not self.ops:
            return dict(view)
        states = [dict(source)]
        for op in self.ops[:-1]:
            states.append(_GET[op["op"]](op, states[-1]))
        result = dict(view)
        for op, before in zip(reversed(self.ops), reversed(states), strict=True):
            result = _PUT[op["op"]](op, result, before)
        return result

    # --- checking against types -------------------------------------------------------------

    def check_types(self, source: TypeSpec, target: TypeSpec) -> None:
        """Check that the operations turn ``source``'s field names into ``target``'s.

        Raises :class:`LensValidationError` naming each operation that refers to a missing field
        and each target field left unset (or source field left over).
        """
        names: dict[str, Any] = {f.name: _nested_names(f.type) for f in source.fields}
        problems: list[Violation] = []
        for i, op in enumerate(self.ops):
            problems.extend(_apply_names(i, op, names))
        required = {f.name for f in target.fields if f.required}
        known = {f.name for f in target.fields}
        for missing in sorted(required - set(names)):
            problems.append(Violation(0, 0, f"target field {target.name}.{missing} is never set"))
        for extra in sorted(set(names) - known):
            problems.append(Violation(0, 0, f"field {extra!r} is not a field of {target.name}; drop it"))
        if problems:
            raise LensValidationError(f"op list {source.name} -> {target.name}", problems)


# --- shape checks -----------------------------------------------------------------------------


def _shape_problems(i: int, op: Any) -> list[Violation]:
    at = i + 1

    def bad(reason: str) -> Violation:
        return Violation(at, 0, f"ops[{i}]: {reason}")

    if not isinstance(op, Mapping) or not isinstance(op.get("op"), str):
        return [bad("an operation is a dict with an 'op' key")]
    kind = op["op"]
    shape = _SHAPES.get(kind)
    if shape is None:
        return [bad(f"unknown operation {kind!r}; use one of {', '.join(_SHAPES)}")]
    out = []
    allowed = {"op", *shape, *_OPTIONAL.get(kind, ())}
    for key in sorted(set(op) - allowed):
        out.append(bad(f"{kind}: unexpected key {key!r}"))
    for key, want in shape.items():
        if key not in op:
            out.append(bad(f"{kind}: missing {key!r}"))
        elif not isinstance(op[key], want):
            out.append(bad(f"{kind}: {key!r} must be a {getattr(want, '__name__', want)}"))
    if out:
        return out
    too_big = value_problem(op)
    if too_big is not None:
        return [bad(f"{kind}: {too_big}")]
    if kind == "nest" and (not op["fields"] or not all(isinstance(f, str) for f in op["fields"])):
        out.append(bad("nest: 'fields' must be a non-empty list of field names"))
    if kind == "cast" and op["to"] not in _CASTS:
        out.append(bad(f"cast: 'to' must be 'int' or 'float', not {op['to']!r}"))
    if kind == "dtypeCast":
        try:
            dt = np.dtype(op["dtype"])
            if dt.kind not in _CAST_KINDS or dt.shape != () or dt.fields is not None:
                out.append(bad(f"dtypeCast: {op['dtype']!r} is not a plain numeric dtype"))
        except (TypeError, ValueError, SyntaxError, MemoryError):
            out.append(bad(f"dtypeCast: {op['dtype']!r} is not a numpy dtype"))
    if kind == "convert":
        if not op["table"]:
            out.append(bad("convert: 'table' is empty"))
        for j, row in enumerate(op["table"]):
            if not (isinstance(row, Mapping) and set(row) == {"from", "to"}):
                out.append(bad(f"convert: table[{j}] must be {{'from': ..., 'to': ...}}"))
        if not out:
            froms = [_key(row["from"]) for row in op["table"]]
            tos = [_key(row["to"]) for row in op["table"]]
            if len(set(froms)) != len(froms):
                out.append(bad("convert: a 'from' value repeats"))
            if len(set(tos)) != len(tos):
                out.append(bad("convert: a 'to' value repeats, so the table could not be reversed"))
    return out


def _key(value: Any) -> tuple[type, Any]:
    # 1, 1.0 and True are equal dict keys in Python; a table must keep them apart.
    if isinstance(value, float) and math.isnan(value):
        return (float, "nan")
    try:
        hash(value)
    except TypeError:
        return (type(value), repr(value))
    return (type(value), value)


# --- forward and backward, one function pair per operation ------------------------------------


def _take(state: Fields, name: str, op: Mapping[str, Any]) -> Any:
    if name not in state:
        raise OpError(f"{op['op']}: the sample has no field {name!r}")
    return state[name]


def _rename_get(op: Mapping[str, Any], s: Fields) -> Fields:
    value = _take(s, op["from"], op)
    out = {k: v for k, v in s.items() if k != op["from"]}
    out[op["to"]] = value
    return out


def _rename_put(op: Mapping[str, Any], v: Fields, s: Fields) -> Fields:
    return _rename_get({"op": "rename", "from": op["to"], "to": op["from"]}, v)


def _drop_get(op: Mapping[str, Any], s: Fields) -> Fields:
    _take(s, op["field"], op)
    return {k: v for k, v in s.items() if k != op["field"]}


def _drop_put(op: Mapping[str, Any], v: Fields, s: Fields) -> Fields:
    return {**v, op["field"]: s[op["field"]]}


def _add_get(op: Mapping[str, Any], s: Fields) -> Fields:
    return {**s, op["field"]: copy.deepcopy(op["value"])}


def _add_put(op: Mapping[str, Any], v: Fields, s: Fields) -> Fields:
    return {k: x for k, x in v.items() if k != op["field"]}


def _convert_one(op: Mapping[str, Any], value: Any, forward: bool) -> Any:
    a, b = ("from", "to") if forward else ("to", "from")
    for row in op["table"]:
        if _key(row[a]) == _key(value):
            return copy.deepcopy(row[b])
    if forward and "default" in op:
        return copy.deepcopy(op["default"])
    raise OpError(f"convert {op['field']!r}: value {value!r} is not in the table")


def _convert_get(op: Mapping[str, Any], s: Fields) -> Fields:
    return {**s, op["field"]: _convert_one(op, _take(s, op["field"], op), True)}


def _keep_or(v: Fields, s: Fields, name: str, forward: Any, backward: Any) -> Fields:
    """The putter rule shared by lossy operations: keep the source's value unless the view changed it."""
    original = s[name]
    if values_equal(forward(original), v[name]):
        return {**v, name: original}
    return {**v, name: backward(v[name], original)}


def _convert_put(op: Mapping[str, Any], v: Fields, s: Fields) -> Fields:
    return _keep_or(
        v, s, op["field"], lambda x: _convert_one(op, x, True), lambda y, _: _convert_one(op, y, False)
    )


def _nest_get(op: Mapping[str, Any], s: Fields) -> Fields:
    inner = {name: _take(s, name, op) for name in op["fields"]}
    out = {k: v for k, v in s.items() if k not in inner}
    out[op["into"]] = inner
    return out


def _nest_put(op: Mapping[str, Any], v: Fields, s: Fields) -> Fields:
    inner = _take(v, op["into"], op)
    if not isinstance(inner, Mapping):
        raise OpError(f"nest: view field {op['into']!r} is not a nested record")
    out = {k: x for k, x in v.items() if k != op["into"]}
    out.update({name: inner[name] for name in op["fields"]})
    return out


def _unnest_get(op: Mapping[str, Any], s: Fields) -> Fields:
    inner = _take(s, op["field"], op)
    if not isinstance(inner, Mapping):
        raise OpError(f"unnest: field {op['field']!r} is not a nested record")
    out = {k: v for k, v in s.items() if k != op["field"]}
    clash = sorted(set(inner) & set(out))
    if clash:
        raise OpError(f"unnest {op['field']!r}: field(s) {', '.join(clash)} already exist at the top level")
    out.update(inner)
    return out


def _unnest_put(op: Mapping[str, Any], v: Fields, s: Fields) -> Fields:
    names = list(s[op["field"]])
    out = {k: x for k, x in v.items() if k not in names}
    out[op["field"]] = {name: v[name] for name in names}
    return out


def _cast_value(to: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OpError(f"cast: {value!r} is not a number")
    if to == "int":
        if not math.isfinite(value):
            raise OpError(f"cast: {value!r} has no integer value")
        return int(value)
    return float(value)


def _cast_get(op: Mapping[str, Any], s: Fields) -> Fields:
    return {**s, op["field"]: _cast_value(op["to"], _take(s, op["field"], op))}


def _cast_put(op: Mapping[str, Any], v: Fields, s: Fields) -> Fields:
    def back(y: Any, original: Any) -> Any:
        return _cast_value("int" if isinstance(original, int) else "float", y)

    return _keep_or(v, s, op["field"], lambda x: _cast_value(op["to"], x), back)


def value_problem(value: Any) -> str | None:
    """Why a constant is too deep or too large to hold (None when it is fine), found without recursion."""
    stack = [(value, 1)]
    nodes = chars = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if depth > MAX_VALUE_DEPTH:
            return f"a value nests more than {MAX_VALUE_DEPTH} deep"
        if nodes > MAX_VALUE_NODES:
            return f"a value holds more than {MAX_VALUE_NODES} items"
        if isinstance(item, str | bytes):
            chars += len(item)
            if chars > MAX_VALUE_CHARS:
                return f"values hold more than {MAX_VALUE_CHARS} characters"
        elif isinstance(item, Mapping):
            stack.extend((k, depth + 1) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)
    return None


def _astype(value: Any, dtype: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, np.ndarray):
        raise OpError(f"dtypeCast: {type(value).__name__} is not an array")
    target = np.dtype(dtype)  # the op's dtype was checked when parsed; the put-back's is the source's
    if value.size * target.itemsize > MAX_ARRAY_BYTES:  # checked before anything is allocated
        raise OpError(
            f"dtypeCast: {value.shape} as {target} would take {value.size * target.itemsize} bytes; "
            f"the limit is {MAX_ARRAY_BYTES}"
        )
    return value.astype(target)


def _dtype_get(op: Mapping[str, Any], s: Fields) -> Fields:
    return {**s, op["field"]: _astype(_take(s, op["field"], op), op["dtype"])}


def _dtype_put(op: Mapping[str, Any], v: Fields, s: Fields) -> Fields:
    return _keep_or(
        v,
        s,
        op["field"],
        lambda x: _astype(x, op["dtype"]),
        lambda y, original: _astype(y, original.dtype if original is not None else op["dtype"]),
    )


_GET = {
    "rename": _rename_get,
    "drop": _drop_get,
    "add": _add_get,
    "convert": _convert_get,
    "nest": _nest_get,
    "unnest": _unnest_get,
    "cast": _cast_get,
    "dtypeCast": _dtype_get,
}
_PUT = {
    "rename": _rename_put,
    "drop": _drop_put,
    "add": _add_put,
    "convert": _convert_put,
    "nest": _nest_put,
    "unnest": _unnest_put,
    "cast": _cast_put,
    "dtypeCast": _dtype_put,
}


# --- field-name bookkeeping for check_types ----------------------------------------------------


def _nested_names(ft: Any) -> Any:
    """Field names of a nested sample type (a dict), or None for a leaf field."""
    from atdata.types.fields import OptionalType, RefType
    from atdata.types.packable import spec_of

    if isinstance(ft, OptionalType):
        ft = ft.inner
    if isinstance(ft, RefType):
        return {f.name: _nested_names(f.type) for f in spec_of(ft.cls).fields}
    return None


def _apply_names(i: int, op: Mapping[str, Any], names: dict[str, Any]) -> list[Violation]:
    kind = op["op"]

    def need(name: str) -> list[Violation]:
        if name in names:
            return []
        return [Violation(i + 1, 0, f"ops[{i}]: {kind}: no field {name!r} at this point")]

    if kind == "rename":
        found = need(op["from"])
        if not found:
            names[op["to"]] = names.pop(op["from"])
        return found
    if kind == "drop":
        found = need(op["field"])
        names.pop(op["field"], None)
        return found
    if kind == "add":
        names[op["field"]] = None
        return []
    if kind == "nest":
        found = [v for name in op["fields"] for v in need(name)]
        names[op["into"]] = {name: names.pop(name, None) for name in op["fields"]}
        return found
    if kind == "unnest":
        found = need(op["field"])
        inner = names.pop(op["field"], None)
        if not found and not isinstance(inner, dict):
            return [Violation(i + 1, 0, f"ops[{i}]: unnest: field {op['field']!r} is not a nested record")]
        names.update(inner or {})
        return found
    return need(op["field"])
