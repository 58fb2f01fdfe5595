"""Sample type <-> schema record: ``schema_of(T)`` and ``from_schema(record)``.

A schema record (``dev.atdata.schema``) is the published form of a sample type. Nested sample
types travel inside the same record, in its ``types`` list, and fields refer to them by name, so one
record is self-contained. A nested type may instead point at another published schema record by
strong ref (uri + cid); :func:`from_schema` then needs a ``resolve`` function to fetch it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from atdata.errors import IntegrityError, Problem, SampleTypeError, SchemaError
from atdata.lexicon.formats import datetime_text
from atdata.lexicon.nsid import SCHEMA, defs
from atdata.schema import by_reference
from atdata.schema.canonical import record_cid
from atdata.schema.validate import check_schema_record, dependency_order
from atdata.schema.value_objects import decode_value, encode_value
from atdata.types.fields import (
    MISSING,
    ArrayType,
    FieldSpec,
    FieldType,
    JsonType,
    ListType,
    LiteralType,
    OptionalType,
    RefType,
    Scalar,
    TypeSpec,
)
from atdata.types.packable import build_class, is_packable, spec_of

DEFAULT_VERSION = "1.0.0"
# Class attributes that carry a record's identity through from_schema -> schema_of.
VERSION_ATTR = "__schema_version__"
REF_ATTR = "__schema_ref__"

Record = dict[str, Any]
Resolver = Callable[[Mapping[str, str]], Mapping[str, Any]]


# --- type -> record -------------------------------------------------------------------------


def schema_of(cls: type, *, version: str | None = None, created_at: datetime | str | None = None) -> Record:
    """The schema record of a packable class, ready to validate and publish.

    ``version`` defaults to the class's ``__schema_version__`` (set by :func:`from_schema` and
    allowed in user classes), else ``1.0.0``. ``created_at`` defaults to now (UTC); it is not part of
    the record's identity (see :func:`atdata.schema.canonical.content_hash`).
    """
    if not is_packable(cls):
        raise SchemaError(
            f"{cls!r} cannot become a schema",
            [Problem("$", "not a sample type; decorate it with @atdata.packable")],
        )
    spec = spec_of(cls)
    nested: dict[str, tuple[type, Record | None]] = {}
    problems: list[Problem] = []
    fields = _fields_to_record(spec, nested, problems, "$.fields")
    if spec.name in nested:
        problems.append(
            Problem("$.name", f"the nested type {spec.name!r} has the same name as the root type")
        )
    record: Record = {"$type": SCHEMA, "name": spec.name, "version": version or _class_version(cls)}
    if spec.doc:
        record["description"] = spec.doc
    record["fields"] = fields
    types = [t for _, t in nested.values() if t is not None]
    if types:
        record["types"] = types
    record["createdAt"] = _timestamp(created_at)
    if problems:
        raise SchemaError(f"{spec.name} cannot become a schema record", problems)
    check_schema_record(record)
    return record


def _class_version(cls: type) -> str:
    v = getattr(cls, VERSION_ATTR, None)
    return v if isinstance(v, str) else DEFAULT_VERSION


def _timestamp(created_at: datetime | str | None) -> str:
    if isinstance(created_at, str):
        return created_at
    if created_at is not None and created_at.tzinfo is None:
        raise SchemaError("createdAt", [Problem("$.createdAt", "datetime needs a time zone")])
    return datetime_text(created_at)


def _fields_to_record(
    spec: TypeSpec,
    nested: dict[str, tuple[type, Record | None]],
    problems: list[Problem],
    path: str,
) -> list[Record]:
    out = []
    for i, f in enumerate(spec.fields):
        fpath = f"{path}[{i}]"
        entry: Record = {
            "name": f.name,
            "type": _type_to_record(f.type, nested, problems, fpath + ".type"),
        }
        if f.doc:
            entry["doc"] = f.doc
        if f.unit:
            entry["unit"] = f.unit
        if f.default is not MISSING:
            try:
                entry["default"] = encode_value(f.default)
            except TypeError as e:
                problems.append(Problem(fpath + ".default", f"{spec.name}.{f.name}: {e}"))
        out.append(entry)
    return out


def _type_to_record(
    ft: FieldType,
    nested: dict[str, tuple[type, Record | None]],
    problems: list[Problem],
    path: str,
) -> Record:
    if isinstance(ft, Scalar):
        return {"$type": defs("scalarType"), "kind": ft.kind}
    if isinstance(ft, ArrayType):
        r: Record = {"$type": defs("arrayType")}
        if ft.dtype is not None:
            r["dtype"] = ft.dtype
        if ft.shape is not None:
            r["shape"] = [{} if n is None else {"size": n} for n in ft.shape]
        if ft.dims is not None:
            r["dims"] = list(ft.dims)
        return r
    if isinstance(ft, LiteralType):
        return {"$type": defs("literalType"), "values": [_literal_to_record(v) for v in ft.values]}
    if isinstance(ft, OptionalType):
        return {
            "$type": defs("optionalType"),
            "inner": _type_to_record(ft.inner, nested, problems, path),
        }
    if isinstance(ft, ListType):
        return {"$type": defs("listType"), "items": _type_to_record(ft.inner, nested, problems, path)}
    if isinstance(ft, JsonType):
        return {"$type": defs("jsonType")}
    if isinstance(ft, RefType):
        ref = getattr(ft.cls, REF_ATTR, None)
        if isinstance(ref, Mapping):
            return {"$type": defs("refType"), "schema": {"uri": ref["uri"], "cid": ref["cid"]}}
        name = ft.cls.__name__
        seen = nested.get(name)
        if seen is None:
            index = len(nested)
            nested[name] = (ft.cls, None)  # placeholder keeps first-appearance order and stops recursion
            sub = spec_of(ft.cls)
            t: Record = {"name": name}
            if sub.doc:
                t["description"] = sub.doc
            t["fields"] = _fields_to_record(sub, nested, problems, f"$.types[{index}].fields")
            nested[name] = (ft.cls, t)
        elif seen[0] is not ft.cls:
            problems.append(
                Problem(path, f"two different nested types are named {name!r}; rename one of them")
            )
        return {"$type": defs("refType"), "name": name}
    raise AssertionError(ft)


def _literal_to_record(v: str | int | bool) -> Record:
    if isinstance(v, bool):
        return {"boolean": v}
    if isinstance(v, int):
        return {"integer": v}
    return {"string": v}


# --- record -> type -------------------------------------------------------------------------


def from_schema(
    record: Mapping[str, Any], *, resolve: Resolver | None = None, ref: Mapping[str, str] | None = None
) -> type:
    """A working packable class for a schema record (nested types built first).

    ``resolve(strong_ref) -> record`` fetches schema records that nested types point to by strong
    ref; without it such records are refused. ``ref`` (the record's own uri and cid, when it was
    read from a repository) stays on the class, so publishing or coercing it names that record.
    Raises :class:`SchemaError` listing every problem.
    """
    check_schema_record(record)
    return _Builder(resolve).build(record, ref)


class _Builder:
    def __init__(self, resolve: Resolver | None) -> None:
        self.resolve = resolve
        self.external: dict[tuple[str, str], type] = {}
        self.building: set[tuple[str, str]] = set()

    def build(self, record: Mapping[str, Any], ref: Mapping[str, str] | None = None) -> type:
        local: dict[str, type] = {}
        type_defs = {t["name"]: t for t in record.get("types", [])}
        for name in dependency_order(type_defs):
            t = type_defs[name]
            made = self._make(name, t.get("description"), t["fields"], local, None, None)
            local[name] = by_reference.remember(made, record, ref, name)
        made = self._make(
            record["name"], record.get("description"), record["fields"], local, record["version"], ref
        )
        return by_reference.remember(made, record, ref, None)

    def _make(
        self,
        name: str,
        doc: str | None,
        fields: list[Mapping[str, Any]],
        local: dict[str, type],
        version: str | None,
        ref: Mapping[str, str] | None,
    ) -> type:
        specs = tuple(
            FieldSpec(
                f["name"],
                self._field_type(f["type"], local),
                decode_value(f["default"]) if "default" in f else MISSING,
                f.get("doc"),
                f.get("unit"),
            )
            for f in fields
        )
        namespace: dict[str, Any] = {}
        if version is not None:
            namespace[VERSION_ATTR] = version
        if ref is not None:
            namespace[REF_ATTR] = {"uri": ref["uri"], "cid": ref["cid"]}
        try:
            return build_class(TypeSpec(name=name, fields=specs, doc=doc), namespace=namespace)
        except SampleTypeError as e:
            raise SchemaError(f"schema {name} cannot become a Python class", [Problem("$", str(e))]) from e

    def _field_type(self, t: Mapping[str, Any], local: dict[str, type]) -> FieldType:
        kind = t["$type"].rsplit("#", 1)[-1]
        if kind == "scalarType":
            return Scalar(t["kind"])
        if kind == "arrayType":
            shape = tuple(a.get("size") for a in t["shape"]) if "shape" in t else None
            dims = tuple(t["dims"]) if "dims" in t else None
            return ArrayType(t.get("dtype"), shape, dims)
        if kind == "literalType":
            return LiteralType(tuple(decode_value(v) for v in t["values"]))
        if kind == "optionalType":
            return OptionalType(self._field_type(t["inner"], local))
        if kind == "listType":
            return ListType(self._field_type(t["items"], local))
        if kind == "jsonType":
            return JsonType()
        if "name" in t:
            return RefType(local[t["name"]])
        return RefType(self._external(t["schema"]))

    def _external(self, ref: Mapping[str, str]) -> type:
        key = (ref["uri"], ref["cid"])
        if key not in self.external:
            if key in self.building:
                raise SchemaError("nested schema reference", [Problem("$", f"{ref['uri']} contains itself")])
            self.building.add(key)
            self.external[key] = self.build(fetch_schema(self.resolve, ref), ref)
        return self.external[key]


def fetch_schema(resolve: Resolver | None, ref: Mapping[str, str]) -> Mapping[str, Any]:
    """The schema record a strong ref points to, checked against the ref's CID and validated."""
    if resolve is None:
        raise SchemaError(
            "nested schema reference",
            [Problem("$", f"{ref['uri']} is referenced by strong ref; pass resolve= to fetch it")],
        )
    record = resolve(ref)
    if record_cid(record) != ref["cid"]:
        raise IntegrityError(f"the record fetched for {ref['uri']} does not match its CID {ref['cid']}")
    check_schema_record(record)
    return record
