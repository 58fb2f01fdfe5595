"""Checks of schema records beyond the lexicon: names, versions, field types, references, defaults.

``schema_problems(record)`` lists every problem with its JSON path; ``check_schema_record`` raises
one :class:`SchemaError` holding them all. Lexicon validation (shapes, lengths, formats, no floats)
runs first (with the semver check of versions); the checks here cover the rest: Python identifiers, field
types this SDK knows, nested-type references that resolve and do not form cycles, canonical
dtype and value spellings (so that equal types hash equally), and defaults that fit their fields.
"""

from __future__ import annotations

import json
import keyword
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from atdata.errors import Problem, SampleTypeError, SchemaError
from atdata.lexicon.definitions import FIELD_TYPES
from atdata.lexicon.nsid import DEFS, SCHEMA
from atdata.lexicon.validator import MAX_DEPTH, child_path, nesting_depth, validate_record
from atdata.schema.value_objects import decode_value
from atdata.types.fields import normalize_dtype

# Records travel to and from a PDS, whose limit on a record is about 1 MB; stay below it.
MAX_RECORD_BYTES = 1_000_000

_KNOWN_TYPES = {f"{DEFS}#{n}": n for n in FIELD_TYPES}


def check_schema_record(record: Any) -> None:
    """Raise :class:`SchemaError` listing every problem with ``record``; return quietly if valid."""
    problems = schema_problems(record)
    if problems:
        name = record.get("name") if isinstance(record, Mapping) else None
        what = f"invalid schema record {name!r}" if isinstance(name, str) else "invalid schema record"
        raise SchemaError(what, problems)


def schema_problems(record: Any) -> list[Problem]:
    """Every problem with a schema record, each with its JSON path (empty when valid)."""
    problems = validate_record(SCHEMA, record)
    if not isinstance(record, Mapping) or nesting_depth(record) > MAX_DEPTH:
        return problems
    size = len(json.dumps(record, default=repr, ensure_ascii=False, skipkeys=True).encode("utf-8"))
    if size > MAX_RECORD_BYTES:
        problems.append(
            Problem("$", f"record is {size} bytes as JSON; at most {MAX_RECORD_BYTES} fit in a PDS")
        )
    root = record.get("name")
    if isinstance(root, str):
        _check_identifier(root, "$.name", "type name", problems)
    type_list = _list(record.get("types"))
    names: dict[str, int] = {}
    for i, t in enumerate(type_list):
        if not isinstance(t, Mapping) or not isinstance(t.get("name"), str):
            continue
        name = t["name"]
        path = f"$.types[{i}].name"
        _check_identifier(name, path, "type name", problems)
        if name == root:
            problems.append(Problem(path, f"nested type {name!r} has the same name as the root type"))
        elif name in names:
            problems.append(Problem(path, f"type {name!r} is already defined at $.types[{names[name]}]"))
        else:
            names[name] = i
    _check_fields(record.get("fields"), "$.fields", names, problems)
    for i, t in enumerate(type_list):
        if isinstance(t, Mapping):
            _check_fields(t.get("fields"), f"$.types[{i}].fields", names, problems)
    _check_references(record, names, problems)
    return problems


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _check_identifier(name: str, path: str, what: str, problems: list[Problem]) -> None:
    if not name.isidentifier() or not name.isascii():
        problems.append(Problem(path, f"{what} {name!r} is not an ASCII Python identifier"))
    elif keyword.iskeyword(name) or keyword.issoftkeyword(name):
        problems.append(Problem(path, f"{what} {name!r} is a Python keyword"))
    elif name.startswith("_"):
        problems.append(Problem(path, f"{what} {name!r} may not start with an underscore"))


def _check_fields(fields: Any, path: str, types: Mapping[str, int], problems: list[Problem]) -> None:
    if not isinstance(fields, list):
        return
    seen: dict[str, int] = {}
    for i, f in enumerate(fields):
        fpath = f"{path}[{i}]"
        if not isinstance(f, Mapping):
            continue
        name = f.get("name")
        if isinstance(name, str):
            _check_identifier(name, fpath + ".name", "field name", problems)
            if name in seen:
                problems.append(
                    Problem(fpath + ".name", f"field {name!r} is already defined at {path}[{seen[name]}]")
                )
            seen.setdefault(name, i)
        t = f.get("type")
        type_ok = _check_type(t, fpath + ".type", types, problems)
        if "default" in f and isinstance(t, Mapping):
            try:
                value = decode_value(f["default"])
            except ValueError as e:
                problems.append(Problem(fpath + ".default", str(e)))
                continue
            if type_ok:
                problems.extend(_default_problems(t, value, fpath + ".default"))


def _kind(t: Any) -> str | None:
    kind = t.get("$type") if isinstance(t, Mapping) else None
    return _KNOWN_TYPES.get(kind) if isinstance(kind, str) else None


def _check_type(t: Any, path: str, types: Mapping[str, int], problems: list[Problem]) -> bool:
    """Check one field type; False when it is too broken to check a default against."""
    if not isinstance(t, Mapping) or not isinstance(t.get("$type"), str):
        return False  # the lexicon check has reported it
    kind = _kind(t)
    if kind is None:
        problems.append(
            Problem(
                child_path(path, "$type"),
                f"unknown field type {t['$type']!r}; known: " + ", ".join(sorted(_KNOWN_TYPES)),
            )
        )
        return False
    if kind == "arrayType":
        return _check_array(t, path, problems)
    if kind == "literalType":
        return _check_literal(t, path, problems)
    if kind in ("optionalType", "listType"):
        key = "inner" if kind == "optionalType" else "items"
        inner = t.get(key)
        if kind == "optionalType" and _kind(inner) == "optionalType":
            problems.append(Problem(f"{path}.{key}", "an optional of an optional is the same type; use one"))
        return _check_type(inner, f"{path}.{key}", types, problems)
    if kind == "refType":
        has_name, has_schema = "name" in t, "schema" in t
        if has_name == has_schema:
            problems.append(Problem(path, "a refType needs exactly one of 'name' or 'schema'"))
            return False
        if has_name and isinstance(t["name"], str) and t["name"] not in types:
            problems.append(
                Problem(f"{path}.name", f"type {t['name']!r} is not defined in this record's 'types' list")
            )
            return False
    return True


def _check_array(t: Mapping[str, Any], path: str, problems: list[Problem]) -> bool:
    ok = True
    dtype = t.get("dtype")
    if isinstance(dtype, str):
        try:
            canonical = normalize_dtype(dtype)
        except SampleTypeError as e:
            problems.append(Problem(f"{path}.dtype", str(e)))
            ok = False
        else:
            if canonical != dtype:
                problems.append(Problem(f"{path}.dtype", f"write dtype {dtype!r} as {canonical!r}"))
    shape, dims = t.get("shape"), t.get("dims")
    if isinstance(shape, list) and isinstance(dims, list) and len(shape) != len(dims):
        problems.append(Problem(f"{path}.dims", f"names {len(dims)} axes but the shape has {len(shape)}"))
    if isinstance(dims, list) and len(set(map(str, dims))) != len(dims):
        problems.append(Problem(f"{path}.dims", "axis names repeat"))
    return ok


_LITERAL_KINDS: dict[str, Any] = {"string": str, "integer": int, "boolean": bool}


def _literal_key(v: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``(kind, value)`` of a well-formed literal value object, else None."""
    keys = [k for k in _LITERAL_KINDS if k in v]
    if len(keys) != 1:
        return None
    kind, value = keys[0], v[keys[0]]
    ok = isinstance(value, _LITERAL_KINDS[kind]) and (kind == "boolean" or not isinstance(value, bool))
    return (kind, value) if ok else None


def _check_literal(t: Mapping[str, Any], path: str, problems: list[Problem]) -> bool:
    values = t.get("values")
    if not isinstance(values, list):
        return False
    seen: list[Any] = []  # plain equality, as Python's Literal sees it: 1 and True repeat each other
    ok = True
    for i, v in enumerate(values):
        vpath = f"{path}.values[{i}]"
        key = _literal_key(v) if isinstance(v, Mapping) else None
        if key is None:
            problems.append(
                Problem(vpath, "a literal value needs exactly one of 'string', 'integer', 'boolean'")
            )
            ok = False
        elif any(key[1] == s and isinstance(s, str) == isinstance(key[1], str) for s in seen):
            problems.append(Problem(vpath, f"literal value {key[1]!r} repeats"))
        else:
            seen.append(key[1])
    return ok


def _default_problems(t: Mapping[str, Any], value: Any, path: str) -> list[Problem]:
    kind = _kind(t)
    bad = [Problem(path, f"default {value!r} does not fit the field type")]
    if kind == "scalarType":
        want = t.get("kind")
        if want == "float":
            return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else bad
        if want == "int":
            return [] if isinstance(value, int) and not isinstance(value, bool) else bad
        expected = {"str": str, "bool": bool, "bytes": bytes, "datetime": datetime}.get(str(want))
        return [] if expected is not None and isinstance(value, expected) else bad
    if kind == "literalType":
        allowed = {_literal_key(v) for v in t["values"]}
        tag = "boolean" if isinstance(value, bool) else "integer" if isinstance(value, int) else "string"
        return [] if (tag, value) in allowed else bad
    if kind == "optionalType":
        return [] if value is None else _default_problems(t["inner"], value, path)
    if kind == "listType":
        if not isinstance(value, list):
            return bad
        return [p for i, v in enumerate(value) for p in _default_problems(t["items"], v, f"{path}.list[{i}]")]
    if kind == "jsonType":
        return [] if isinstance(value, dict) else bad
    if kind == "arrayType":
        return [Problem(path, "array fields cannot have defaults")]
    return [Problem(path, "nested-type fields cannot have defaults other than None (make them optional)")]


def iter_types(t: Any) -> Iterator[Mapping[str, Any]]:
    """A field type and every type inside it (optional inners, list items)."""
    while isinstance(t, Mapping):
        yield t
        t = (
            t.get("inner")
            if _kind(t) == "optionalType"
            else t.get("items")
            if _kind(t) == "listType"
            else None
        )


def type_refs(fields: Any) -> list[str]:
    """Names of the nested types that a list of field definitions refers to, in order."""
    out: list[str] = []
    for f in fields if isinstance(fields, list) else []:
        if isinstance(f, Mapping):
            for t in iter_types(f.get("type")):
                if _kind(t) == "refType" and isinstance(t.get("name"), str) and t["name"] not in out:
                    out.append(t["name"])
    return out


def _check_references(record: Mapping[str, Any], names: Mapping[str, int], problems: list[Problem]) -> None:
    types = _list(record.get("types"))
    graph = {name: [d for d in type_refs(types[i].get("fields")) if d in names] for name, i in names.items()}
    reported: set[frozenset[str]] = set()
    for start in graph:
        cycle = _find_cycle(start, graph)
        if cycle and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            problems.append(
                Problem(
                    f"$.types[{names[start]}]",
                    "reference cycle: "
                    + " -> ".join([*cycle, cycle[0]])
                    + " (a sample type cannot contain itself)",
                )
            )
    used: set[str] = set()
    pending = type_refs(record.get("fields"))
    while pending:
        name = pending.pop()
        if name in used or name not in names:
            continue
        used.add(name)
        pending.extend(graph[name])
    for name, i in names.items():
        if name not in used:
            problems.append(Problem(f"$.types[{i}]", f"type {name!r} is defined but no field uses it"))


def _find_cycle(start: str, graph: Mapping[str, list[str]]) -> list[str] | None:
    """A cycle through ``start`` (as a list of names starting there), or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    visited: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, []):
            if nxt == start:
                return path
            if nxt not in visited:
                visited.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def dependency_order(type_defs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Nested type names, each after the types it refers to (the validator has ruled out cycles)."""
    order: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        done.add(name)
        for dep in type_refs(type_defs[name]["fields"]):
            if dep in type_defs:
                visit(dep)
        order.append(name)

    for name in type_defs:
        visit(name)
    return order
