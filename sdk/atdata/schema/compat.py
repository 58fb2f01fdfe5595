"""Compatibility of two schema versions, in the sense of Confluent Schema Registry.

The reader model: a sample is a map from field name to value; a reader fills fields absent from
the data with its defaults and ignores fields it does not know. Then, for an old and a new schema:

- BACKWARD: readers using the new schema read data written with the old one;
- FORWARD: readers using the old schema read data written with the new one;
- FULL: both; BREAKING: neither.

Each difference is a :class:`Change` that says which directions survive it; the report's level is
the strongest level every change allows. Renames are reported as a removal plus an addition (the
data carries names, so a rename is exactly that), with a hint when the types match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from atdata.lexicon.nsid import DEFS
from atdata.schema.semver import parse as parse_version
from atdata.schema.validate import check_schema_record

Level = Literal["full", "backward", "forward", "breaking"]
Record = Mapping[str, Any]


@dataclass(frozen=True)
class Change:
    """One difference: what (``kind``), where (``path``, e.g. ``$.pos.x``), and which readers survive it."""

    kind: str
    path: str
    detail: str
    backward: bool
    forward: bool

    def __str__(self) -> str:
        return f"{self.kind} at {self.path}: {self.detail} [{_level(self.backward, self.forward)}]"


def _level(backward: bool, forward: bool) -> Level:
    if backward and forward:
        return "full"
    if backward:
        return "backward"
    if forward:
        return "forward"
    return "breaking"


@dataclass(frozen=True)
class CompatibilityReport:
    old: str
    new: str
    changes: tuple[Change, ...]

    @property
    def backward(self) -> bool:
        return all(c.backward for c in self.changes)

    @property
    def forward(self) -> bool:
        return all(c.forward for c in self.changes)

    @property
    def level(self) -> Level:
        return _level(self.backward, self.forward)

    def __str__(self) -> str:
        head = f"{self.old} -> {self.new}: {self.level.upper()}"
        return (
            "\n  ".join([head, *(str(c) for c in self.changes)]) if self.changes else head + " (no changes)"
        )


@dataclass(frozen=True)
class TransitiveReport:
    """Every (earlier, later) pair of a version history; the level holds across all of them."""

    reports: tuple[CompatibilityReport, ...]

    @property
    def level(self) -> Level:
        return _level(all(r.backward for r in self.reports), all(r.forward for r in self.reports))

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(c for r in self.reports for c in r.changes)

    def __str__(self) -> str:
        return f"transitive: {self.level.upper()}\n" + "\n".join(str(r) for r in self.reports)


def compatibility(old: Record | type, new: Record | type) -> CompatibilityReport:
    """Classify the change from ``old`` to ``new`` (schema records, or packable classes)."""
    o, n = _as_record(old), _as_record(new)
    differ = _Differ(o, n)
    changes = differ.compare_types(o, n, "$")
    return CompatibilityReport(_label(o), _label(n), tuple(changes))


def compatibility_transitive(records: Sequence[Record | type]) -> TransitiveReport:
    """Check every earlier version against every later one (records given oldest first)."""
    recs = [_as_record(r) for r in records]
    return TransitiveReport(
        tuple(compatibility(recs[i], recs[j]) for i in range(len(recs)) for j in range(i + 1, len(recs)))
    )


def suggest_version(old_version: str, report: CompatibilityReport) -> str:
    """The smallest semver step the change needs: major if breaking, minor if the shape changed
    in a compatible way, patch when only documentation or defaults changed."""
    v = parse_version(old_version)
    if report.level == "breaking":
        return str(v.bump("major"))
    if any(c.kind not in _COSMETIC for c in report.changes):
        return str(v.bump("minor"))
    return str(v.bump("patch"))


_COSMETIC = {"doc_changed", "default_changed", "fields_reordered", "dims_renamed", "literal_reordered"}


def _as_record(x: Record | type) -> Record:
    if isinstance(x, type):
        from atdata.schema.record import schema_of

        return schema_of(x, created_at="1970-01-01T00:00:00.000Z")
    check_schema_record(x)
    return x


def _label(r: Record) -> str:
    return f"{r['name']}@{r['version']}"


def _kind(t: Mapping[str, Any]) -> str:
    return str(t["$type"]).removeprefix(DEFS + "#")


def _spell(t: Mapping[str, Any]) -> str:
    """A short spelling of a field type in a record, for change details."""
    k = _kind(t)
    if k == "scalarType":
        return str(t["kind"])
    if k == "arrayType":
        shape = t.get("shape")
        dims = "" if shape is None else "[" + ",".join(str(a.get("size", "?")) for a in shape) + "]"
        return f"NDArray[{t.get('dtype', 'any')}]{dims}"
    if k == "literalType":
        return "Literal[" + ", ".join(repr(_lit(v)[1]) for v in t["values"]) + "]"
    if k == "optionalType":
        return _spell(t["inner"]) + " | None"
    if k == "listType":
        return f"list[{_spell(t['items'])}]"
    if k == "jsonType":
        return "dict[str, Any]"
    return str(t.get("name") or t["schema"]["uri"])


def _lit(v: Mapping[str, Any]) -> tuple[str, Any]:
    key = next(k for k in ("string", "integer", "boolean") if k in v)
    return key, v[key]


_SCALAR_OF_LITERAL = {"string": "str", "integer": "int", "boolean": "bool"}


class _Differ:
    def __init__(self, old: Record, new: Record) -> None:
        self.old_types = {t["name"]: t for t in old.get("types", [])}
        self.new_types = {t["name"]: t for t in new.get("types", [])}
        self.seen: set[tuple[str, str]] = set()

    # A "type" here is the root record or a typeDef: it has a name, a description and fields.
    def compare_types(self, o: Mapping[str, Any], n: Mapping[str, Any], path: str) -> list[Change]:
        out: list[Change] = []
        if o["name"] != n["name"]:
            out.append(Change("type_renamed", path, f"{o['name']} -> {n['name']}", True, True))
        if o.get("description") != n.get("description"):
            out.append(Change("doc_changed", path, "type description changed", True, True))
        out += self.compare_fields(o["fields"], n["fields"], path)
        return out

    def compare_fields(self, old: list[Any], new: list[Any], path: str) -> list[Change]:
        out: list[Change] = []
        o_by, n_by = {f["name"]: f for f in old}, {f["name"]: f for f in new}
        removed = [f for f in old if f["name"] not in n_by]
        added = [f for f in new if f["name"] not in o_by]
        for f in removed:
            p = f"{path}.{f['name']}"
            hint = _rename_hint(f, added, "to")
            if "default" in f:
                out.append(
                    Change("field_removed_optional", p, f"removed (it had a default){hint}", True, True)
                )
            else:
                out.append(
                    Change("field_removed_required", p, f"removed; old readers require it{hint}", True, False)
                )
        for f in added:
            p = f"{path}.{f['name']}"
            hint = _rename_hint(f, removed, "from")
            if "default" in f:
                out.append(Change("field_added_optional", p, f"added with a default{hint}", True, True))
            else:
                out.append(
                    Change(
                        "field_added_required",
                        p,
                        f"added without a default; old data lacks it{hint}",
                        False,
                        True,
                    )
                )
        common_old = [f["name"] for f in old if f["name"] in n_by]
        common_new = [f["name"] for f in new if f["name"] in o_by]
        if common_old != common_new:
            out.append(
                Change("fields_reordered", path, "field order changed (data is keyed by name)", True, True)
            )
        for name in common_old:
            of, nf = o_by[name], n_by[name]
            p = f"{path}.{name}"
            out += self.compare_field_types(of["type"], nf["type"], p)
            if of.get("default") != nf.get("default"):
                out.append(Change("default_changed", p, "default added, removed or changed", True, True))
            if of.get("doc") != nf.get("doc"):
                out.append(Change("doc_changed", p, "field doc changed", True, True))
            if of.get("unit") != nf.get("unit"):
                out.append(
                    Change(
                        "unit_changed",
                        p,
                        f"unit {of.get('unit')!r} -> {nf.get('unit')!r}: values read the same but mean "
                        "other quantities",
                        False,
                        False,
                    )
                )
        return out

    def compare_field_types(self, o: Mapping[str, Any], n: Mapping[str, Any], path: str) -> list[Change]:
        ko, kn = _kind(o), _kind(n)
        if ko == "optionalType" and kn == "optionalType":
            return self.compare_field_types(o["inner"], n["inner"], path)
        if ko == "optionalType":
            return [
                Change(
                    "made_required", path, f"{_spell(o)} -> {_spell(n)}; old data may hold None", False, True
                ),
                *self.compare_field_types(o["inner"], n, path),
            ]
        if kn == "optionalType":
            return [
                Change(
                    "made_optional",
                    path,
                    f"{_spell(o)} -> {_spell(n)}; old readers cannot take None",
                    True,
                    False,
                ),
                *self.compare_field_types(o, n["inner"], path),
            ]
        if ko == "listType" and kn == "listType":
            return self.compare_field_types(o["items"], n["items"], path + "[]")
        if ko == "refType" and kn == "refType":
            return self.compare_refs(o, n, path)
        if ko == "refType" or kn == "refType":
            return [Change("nesting_changed", path, f"{_spell(o)} -> {_spell(n)}", False, False)]
        if ko == "literalType" and kn == "literalType":
            return _compare_literals(o, n, path)
        if ko == "literalType" and kn == "scalarType" and _literal_scalar(o) == n["kind"]:
            return [Change("literal_to_scalar", path, f"{_spell(o)} -> {_spell(n)}", True, False)]
        if ko == "scalarType" and kn == "literalType" and _literal_scalar(n) == o["kind"]:
            return [Change("scalar_to_literal", path, f"{_spell(o)} -> {_spell(n)}", False, True)]
        if ko == "arrayType" and kn == "arrayType":
            return _compare_arrays(o, n, path)
        if ko == kn and (ko == "jsonType" or (ko == "scalarType" and o["kind"] == n["kind"])):
            return []
        return [Change("type_changed", path, f"{_spell(o)} -> {_spell(n)}", False, False)]

    def compare_refs(self, o: Mapping[str, Any], n: Mapping[str, Any], path: str) -> list[Change]:
        if "schema" in o or "schema" in n:
            if o.get("schema") == n.get("schema") and o.get("name") == n.get("name"):
                return []
            return [
                Change(
                    "ref_changed",
                    path,
                    f"nested schema {_spell(o)} -> {_spell(n)}; compare those schemas separately",
                    False,
                    False,
                )
            ]
        key = (o["name"], n["name"])
        if key in self.seen:
            return []  # already compared where this pair first appeared
        self.seen.add(key)
        return self.compare_types(self.old_types[o["name"]], self.new_types[n["name"]], path)


def _rename_hint(f: Mapping[str, Any], others: list[Mapping[str, Any]], word: str) -> str:
    same = [g["name"] for g in others if g["type"] == f["type"]]
    return f" (renamed {word} {same[0]!r}?)" if len(same) == 1 else ""


def _literal_scalar(t: Mapping[str, Any]) -> str | None:
    kinds = {_lit(v)[0] for v in t["values"]}
    return _SCALAR_OF_LITERAL[kinds.pop()] if len(kinds) == 1 else None


def _compare_literals(o: Mapping[str, Any], n: Mapping[str, Any], path: str) -> list[Change]:
    ov, nv = [_lit(v) for v in o["values"]], [_lit(v) for v in n["values"]]
    so, sn = set(ov), set(nv)
    if so == sn:
        return [] if ov == nv else [Change("literal_reordered", path, "same values, new order", True, True)]
    added = ", ".join(repr(v) for k, v in nv if (k, v) not in so)
    gone = ", ".join(repr(v) for k, v in ov if (k, v) not in sn)
    if so < sn:
        return [Change("literal_widened", path, f"added {added}; old readers reject them", True, False)]
    if sn < so:
        return [Change("literal_narrowed", path, f"removed {gone}; old data may hold them", False, True)]
    return [Change("literal_changed", path, f"added {added}; removed {gone}", False, False)]


def _accepts(reader: list[Any] | None, writer: list[Any] | None) -> bool:
    """Whether every array a writer's shape allows fits the reader's shape."""
    if reader is None:
        return True
    if writer is None or len(reader) != len(writer):
        return False
    return all("size" not in r or r.get("size") == w.get("size") for r, w in zip(reader, writer))


def _compare_arrays(o: Mapping[str, Any], n: Mapping[str, Any], path: str) -> list[Change]:
    out: list[Change] = []
    od, nd = o.get("dtype"), n.get("dtype")
    if od != nd:
        if nd is None:
            out.append(Change("dtype_unconstrained", path, f"dtype {od} -> any", True, False))
        elif od is None:
            out.append(Change("dtype_constrained", path, f"dtype any -> {nd}", False, True))
        else:
            out.append(Change("dtype_changed", path, f"dtype {od} -> {nd}", False, False))
    os_, ns = o.get("shape"), n.get("shape")
    if os_ != ns:
        backward, forward = _accepts(ns, os_), _accepts(os_, ns)
        kind = "shape_relaxed" if backward else "shape_constrained" if forward else "shape_changed"
        out.append(Change(kind, path, f"shape {_spell(o)} -> {_spell(n)}", backward, forward))
    if o.get("dims") != n.get("dims"):
        out.append(Change("dims_renamed", path, f"axis names {o.get('dims')} -> {n.get('dims')}", True, True))
    return out
