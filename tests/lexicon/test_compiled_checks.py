"""The checks generated per lexicon definition pass a value exactly when the reporting walk finds no
problem in it, on valid, broken and hostile values of every definition in atdata's lexicons; so
the validator's verdicts and messages are the walk's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lexicon_examples import CID, DID, NOW, VALID_QUERIES, VALID_RECORDS

from atdata.errors import Problem
from atdata.lexicon import SCHEMA, Lexicons, default_lexicons
from atdata.lexicon.validator import _INT64_MAX, _INT64_MIN, MAX_DEPTH, _plain_data

LEX = default_lexicons()
DEFS: dict[str, dict[str, Any]] = LEX._defs
RECORD_TYPES = sorted(uri.removesuffix("#main") for uri, d in DEFS.items() if d.get("type") == "record")
OBJECT_DEFS = sorted(uri for uri, d in DEFS.items() if d.get("type") == "object")
QUERIES = sorted(uri.removesuffix("#main") for uri, d in DEFS.items() if d.get("type") == "query")


class _Str(str):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


# Strings for each format: well-formed ones, then near misses.
FORMATS_GOOD: dict[str, list[str]] = {
    "did": [DID, "did:web:example.org"],
    "handle": ["alice.test", "a.b.c"],
    "nsid": ["dev.atdata.schema", "com.example.fooBar"],
    "at-uri": [f"at://{DID}/dev.atdata.schema/Frame:1.0.0", "at://alice.test", f"at://{DID}/dev.atdata.lens"],
    "cid": [CID, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"],
    "datetime": [NOW, "2026-01-02T03:04:05+01:00"],
    "uri": ["https://example.org/x", "mailto:a@b"],
    "language": ["en", "en-GB", "i-klingon"],
    "tid": ["3jzfcijpj2z2a"],
    "record-key": ["Frame:1.0.0", "self"],
    "at-identifier": [DID, "alice.test"],
}
FORMATS_BAD: dict[str, list[str]] = {
    "did": ["did:plc:", "DID:plc:abc", "did:plc:abc%", "did:x:" + "a" * 2100],
    "handle": ["alice", "-a.test", "alice.test."],
    "nsid": ["dev.atdata", "dev..x", "1dev.atdata.x"],
    "at-uri": ["https://not-at-uri", f"at://{DID}/dev.atdata.schema/a/b", f"at://{DID}/not_nsid/x"],
    "cid": ["bafy", "not-a-cid", "b" * 300],
    "datetime": ["2026-01-02T03:04:05", "yesterday", "2026-02-30T00:00:00Z", "2026-01-02T03:04:05-00:00"],
    "uri": ["no scheme", "https://a b"],
    "language": ["english!", ""],
    "tid": ["3jzfcijpj2z2", "zzzzzzzzzzzzz"],
    "record-key": [".", "..", "a/b", "x" * 513],
    "at-identifier": ["did:", "not a handle"],
}

# Units a string is built from: ASCII, 2-, 3- and 4-byte characters, a character with a combining
# mark (1 grapheme, 2 code points), a ZWJ sequence, a flag, a lone surrogate; one grapheme each.
UNITS = ["a", "é", "€", "😀", "e\u0301", "👩\u200d🔬", "🇫🇷", "\ud800"]


def _nested(levels: int, leaf: Any) -> Any:
    value = leaf
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


def _utf8(s: str) -> int:
    return len(s.encode("utf-8", "surrogatepass"))


class Values:
    """Draws values for a lexicon definition. Each value has a noise level, the chance that any
    one choice is broken or hostile: at 0 the value is valid, so every value is valid or nearly
    so (one or two problems) or riddled with them, and limits are met exactly at their edges."""

    def __init__(self, data: st.DataObject, lex: Lexicons) -> None:
        self.data = data
        self.lex = lex
        self.rng = data.draw(st.randoms(use_true_random=True))  # even odds (draws favour edges)
        # Valid; one fault at the n-th choice (a value with fewer choices stays valid); or noisy.
        self.noise = data.draw(st.sampled_from([0.0, 0.0, -1.0, -1.0, -1.0, 0.02, 0.1]))
        self.choices, self.fault_at = 0, self.rng.randrange(150)
        self.long_arrays = 0
        self.small = False  # drawing the item a long array repeats: no long strings, no deep junk

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(strategy)

    def chance(self, p: float) -> bool:
        return p > 0 and self.rng.random() < p

    def broken(self) -> bool:
        if self.noise < 0:
            self.choices += 1
            return self.choices == self.fault_at
        return self.chance(self.noise)

    def junk(self, depth: int) -> Any:
        """A value of a kind a lexicon rarely expects, or built to cross a limit at ``depth``."""
        if self.small:
            return self.draw(st.sampled_from([None, 1.5, 2**70, _Str("s"), {1: "x"}]))
        return self.draw(
            st.one_of(
                st.floats(allow_nan=False),
                st.sampled_from([None, True, 0, -1, _INT64_MAX + 1, _INT64_MIN - 1, 2**70, "", b"\x00"]),
                st.builds(lambda s: _Str(s), st.text(max_size=3)),
                st.builds(lambda n: _nested(n, 1), st.integers(MAX_DEPTH - depth - 2, MAX_DEPTH - depth + 2)),
                st.builds(lambda n: _nested(n, "x"), st.integers(1, 3)),
                st.just({1: "non-string key"}),
                st.just(_Dict(a=1)),
                st.just(("tuple",)),
                st.just(object()),
                st.lists(st.text(max_size=2), max_size=2),
            )
        )

    def value(self, base: str, d: Any, depth: int, level: int) -> Any:
        if self.broken():
            return self.junk(depth)
        kind = d.get("type")
        if kind == "ref":
            uri, target = self.lex.definition(d["ref"], base)
            return self.value(uri, target, depth, level + 1)
        if kind == "string":
            return self.string(d)
        if kind == "integer":
            return self.integer(d)
        if kind == "boolean":
            return d["const"] if "const" in d and not self.broken() else self.draw(st.booleans())
        if kind in ("object", "params"):
            return self.object(base, d, depth, level)
        if kind == "array":
            return self.array(base, d, depth, level)
        if kind == "union":
            return self.union(base, d, depth, level)
        if kind == "unknown":
            if self.broken():
                return "text"
            return self.draw(st.sampled_from([{}, {"a": [1, "b"]}, {"$type": "x.y.z", "v": None}]))
        if kind == "blob":
            blob = {"$type": "blob", "ref": {"$link": CID}, "mimeType": "application/x-tar", "size": 3}
            if self.broken():
                return self.draw(st.sampled_from([{**blob, "size": "3"}, {**blob, "extra": 1}, {"cid": CID}]))
            return blob
        if kind == "cid-link":
            return self.draw(st.sampled_from([{"$link": "bafy"}, CID])) if self.broken() else {"$link": CID}
        if kind == "bytes":
            if self.broken():
                return self.draw(st.sampled_from([{"$bytes": "!!"}, "AAE"]))
            return self.draw(st.sampled_from([{"$bytes": "AAE"}, b"\x00\x01"]))
        return self.junk(depth)

    def string(self, d: dict[str, Any]) -> Any:
        if self.broken():  # a near miss of a format or an enum, or text of any length
            bad = FORMATS_BAD.get(d.get("format", ""), [])
            if "enum" in d or "const" in d:
                bad += ["", "other", str(d.get("const", "")).upper()]
            return self.draw(st.sampled_from(bad) if bad else st.text(max_size=4))
        if "const" in d:
            return d["const"]
        pool = d.get("enum", []) + FORMATS_GOOD.get(d.get("format", ""), [])
        if pool:
            return self.draw(st.sampled_from(pool))
        unit = self.draw(st.sampled_from(UNITS))
        size = _utf8(unit)
        lo, hi = d.get("minLength", 0), d.get("maxLength", 10**9)
        glo, ghi = d.get("minGraphemes", 0), d.get("maxGraphemes", 10**9)
        counts = {0, 1, 2, 3, lo // size, -(-lo // size), glo}
        counts |= {hi // size} if "maxLength" in d else set()
        counts |= {ghi} if "maxGraphemes" in d else set()
        if self.small:
            counts = {n for n in counts if n <= 100}
        fits = sorted(n for n in counts if lo <= n * size <= hi and glo <= n <= ghi)
        if not fits:
            return "x" * lo
        if self.broken():  # just past an edge
            fits = [n + k for n in fits for k in (-1, 1) if n + k >= 0]
        return unit * self.draw(st.sampled_from(fits))

    def integer(self, d: dict[str, Any]) -> Any:
        if "const" in d and not self.broken():
            return d["const"]
        if "enum" in d and not self.broken():
            return self.draw(st.sampled_from(d["enum"]))
        lo, hi = d.get("minimum", _INT64_MIN), d.get("maximum", _INT64_MAX)
        if self.broken():
            return self.draw(st.sampled_from([lo - 1, hi + 1, _INT64_MAX + 1, _INT64_MIN - 1]))
        return self.draw(st.one_of(st.sampled_from([lo, hi]), st.integers(max(lo, -1000), min(hi, 1000))))

    def object(self, base: str, d: dict[str, Any], depth: int, level: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        required = d.get("required", [])
        deep = level > 8  # optional properties stop here, so recursive definitions end
        for name, spec in d.get("properties", {}).items():
            wanted = name in required or (not deep and self.chance(0.5))
            if wanted == self.broken():
                continue
            if self.broken():
                out[name] = None
            else:
                out[name] = self.value(base, spec, depth + 1, level + 1)
        if self.broken():
            out[self.draw(st.sampled_from(["extra", "$type", "name"]))] = self.junk(depth + 1)
        elif self.chance(0.1):
            out["extra"] = self.draw(st.sampled_from(["x", 1, [{"a": None}], b"\x01"]))
        return out

    def array(self, base: str, d: dict[str, Any], depth: int, level: int) -> Any:
        lo, hi = d.get("minLength", 0), d.get("maxLength", 10**6)
        counts = [n for n in (lo, lo + 1, 1, 2, 3, hi) if lo <= n <= hi]
        if self.broken():
            counts = [n for n in (lo - 1, hi + 1) if n >= 0]
        n = self.draw(st.sampled_from(counts))
        if level > 8:
            n = min(n, max(lo, 1))
        if n <= 3 or self.long_arrays or self.small or not self.chance(0.3):
            n = min(n, max(lo, 3))  # long arrays are rare, one per value: nested ones multiply
            return [self.value(base, d["items"], depth + 1, level + 1) for _ in range(n)]
        self.long_arrays += 1
        # A long array repeats one item (the checks run on each as if it were new), a small one.
        self.small = True
        item = self.value(base, d["items"], depth + 1, level + 6)
        self.small = False
        return [item] * n

    def union(self, base: str, d: dict[str, Any], depth: int, level: int) -> Any:
        # The first member of each of atdata's unions is not recursive: deep down, it ends them.
        ref = d["refs"][0] if level > 8 else self.draw(st.sampled_from(d["refs"]))
        uri, target = self.lex.definition(ref, base)
        member = self.value(uri, target, depth, level + 1)
        if not isinstance(member, dict):
            return member
        nsid, _, name = uri.partition("#")
        spellings = [uri]
        if name == "main":
            spellings.append(nsid)
        if base.split("#")[0] == nsid:
            spellings.append("#" + name)
        if self.broken():
            spellings = ["com.example.other#thing", 7, "#nothing"]
            if self.chance(0.3):
                return member  # no $type at all
            if self.chance(0.3):  # a member of a type not listed is still data: no floats in it
                member["extra"] = self.draw(st.sampled_from([1.5, [2**64], {"a": 0.5}]))
        member["$type"] = self.draw(st.sampled_from(spellings))
        return member


def reference(walk: Any) -> list[Problem] | type[Exception]:
    try:
        problems: list[Problem] = walk()
        return problems
    except Exception as e:
        return type(e)


def exact_types(value: Any) -> bool:
    """No subclass, tuple or foreign object anywhere: values the generated checks fully decide."""
    if type(value) is dict:
        return all(type(k) is str and exact_types(v) for k, v in value.items())
    if type(value) is list:
        return all(exact_types(v) for v in value)
    return value is None or type(value) in (str, int, bool, bytes, float)


def assert_agree(passed: bool, walked: list[Problem] | type[Exception], value: Any) -> None:
    if passed:
        assert walked == [], "the generated check passed a value the walk finds problems in"
    elif exact_types(value) and walked == []:
        pytest.fail("the generated check refused a value the walk finds no problem in")


def record_agrees(lex: Lexicons, nsid: str, record: Any) -> None:
    uri, d = lex.definition(nsid)
    walked = reference(lambda: lex._record_problems(nsid, uri, d, record))
    public = reference(lambda: lex.validate_record(nsid, record))
    assert public == walked  # what callers see is the walk's answer, messages and all
    assert_agree(lex._record_checks[nsid](record), walked, record)


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("nsid", RECORD_TYPES)
@SETTINGS
@given(data=st.data())
def test_generated_records_get_the_walks_verdict(nsid: str, data: st.DataObject) -> None:
    uri, d = LEX.definition(nsid)
    values = Values(data, LEX)
    record = values.object(uri, d["record"], 0, 0)
    if not values.broken():
        record["$type"] = nsid
    record_agrees(LEX, nsid, record)


@pytest.mark.parametrize("uri", OBJECT_DEFS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_objects_get_the_walks_verdict(uri: str, data: st.DataObject) -> None:
    _, d = LEX.definition(uri)
    value = Values(data, LEX).value(uri, d, 0, 0)
    walked = reference(lambda: LEX._object_problems(uri, d, value))
    assert reference(lambda: LEX.validate_object(uri, value)) == walked
    assert_agree(LEX._value_check(uri, d)(value, 0), walked, value)


@pytest.mark.parametrize("nsid", QUERIES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_outputs_get_the_walks_verdict(nsid: str, data: st.DataObject) -> None:
    uri, d = LEX.definition(nsid)
    schema = d["output"]["schema"]
    body = Values(data, LEX).value(uri, schema, 0, 0)
    walked = reference(lambda: LEX._output_problems(uri, schema, body))
    assert reference(lambda: LEX.validate_output(nsid, body)) == walked
    if type(body) is dict:
        assert_agree(LEX._value_check(uri, schema)(body, 0), walked, body)


def _spots(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
    for k in keys:
        out.append((node, k))
        _spots(node[k], out)
    return out


@SETTINGS
@given(data=st.data())
def test_example_records_with_one_spot_changed_get_the_walks_verdict(data: st.DataObject) -> None:
    nsid, make = data.draw(st.sampled_from(sorted(VALID_RECORDS.values(), key=lambda v: v[1].__name__)))
    record = make()
    parent, key = data.draw(st.sampled_from(_spots(record, [])))
    values = Values(data, LEX)
    if isinstance(parent[key], str) and data.draw(st.booleans()):
        parent[key] = values.string({}) if data.draw(st.booleans()) else _Str(parent[key])
    elif data.draw(st.booleans()):
        del parent[key]
    else:
        parent[key] = values.junk(0)
    record_agrees(LEX, nsid, record)


@pytest.mark.parametrize("name", sorted(VALID_RECORDS))
def test_every_example_record_passes_the_generated_check(name: str) -> None:
    nsid, make = VALID_RECORDS[name]
    assert LEX.validate_record(nsid, make()) == []
    assert LEX._record_checks[nsid](make())


@pytest.mark.parametrize("name", sorted(VALID_QUERIES))
def test_every_example_output_passes_the_generated_check(name: str) -> None:
    nsid, _, body = VALID_QUERIES[name]
    uri, d = LEX.definition(nsid)
    assert LEX.validate_output(nsid, body) == []
    assert LEX._value_check(uri, d["output"]["schema"])(body, 0)


def _list_chain(levels: int) -> dict[str, Any]:
    inner: dict[str, Any] = {"$type": "dev.atdata.defs#scalarType", "kind": "int"}
    for _ in range(levels):
        inner = {"$type": "dev.atdata.defs#listType", "items": inner}
    return inner


def _value_chain(levels: int) -> dict[str, Any]:
    inner: dict[str, Any] = {"integer": 1}
    for _ in range(levels):
        inner = {"list": [inner]}
    return inner


@pytest.mark.parametrize("levels", range(MAX_DEPTH - 8, MAX_DEPTH + 2))
def test_types_nested_up_to_the_depth_limit_get_the_walks_verdict(levels: int) -> None:
    record = VALID_RECORDS["schema"][1]()
    record["fields"][0]["type"] = _list_chain(levels)
    record_agrees(LEX, SCHEMA, record)


@pytest.mark.parametrize("levels", range(MAX_DEPTH // 2 - 5, MAX_DEPTH // 2 + 2))
def test_values_nested_up_to_the_depth_limit_get_the_walks_verdict(levels: int) -> None:
    record = VALID_RECORDS["schema"][1]()
    record["fields"][0]["default"] = _value_chain(levels)
    record_agrees(LEX, SCHEMA, record)


def test_the_depth_limit_is_met_inside_typed_values() -> None:
    record = VALID_RECORDS["schema"][1]()
    record["fields"][0]["type"] = _list_chain(MAX_DEPTH)
    problems = LEX.validate_record(SCHEMA, record)
    assert [p.message for p in problems] == [f"nests deeper than {MAX_DEPTH} levels"]


HOSTILE_NAME = "x'] = 1\nimport os; os._exit(3)  # \"\\"
HOSTILE_DOC = {
    "lexicon": 1,
    "id": "com.example.hostile",
    "defs": {
        "main": {
            "type": "record",
            "record": {
                "type": "object",
                "required": [HOSTILE_NAME],
                "properties": {
                    HOSTILE_NAME: {"type": "string", "const": "')\nraise SystemExit\n", "maxLength": 64},
                    "n": {"type": "integer", "maximum": "10"},  # not a number: the walk decides
                    "u": {"type": "union", "refs": ["#missing"]},
                },
            },
        }
    },
}


def test_a_hostile_lexicon_reaches_the_generated_code_only_as_data() -> None:
    lex = Lexicons([HOSTILE_DOC])
    nsid = "com.example.hostile"
    good = {"$type": nsid, HOSTILE_NAME: "')\nraise SystemExit\n"}
    assert lex.validate_record(nsid, good) == []
    assert lex._record_checks[nsid](good)
    bad = {"$type": nsid, HOSTILE_NAME: "other"}
    assert [p.message for p in lex.validate_record(nsid, bad)] == ['must be "\')\\nraise SystemExit\\n"']


def test_a_lexicon_keyword_of_the_wrong_type_fails_as_the_walk_does() -> None:
    lex = Lexicons([HOSTILE_DOC])
    nsid = "com.example.hostile"
    record = {"$type": nsid, HOSTILE_NAME: "')\nraise SystemExit\n", "n": 3}
    with pytest.raises(TypeError):
        lex._record_problems(nsid, *lex.definition(nsid), record)
    with pytest.raises(TypeError):
        lex.validate_record(nsid, record)


def test_a_union_member_missing_from_the_lexicons_fails_as_the_walk_does() -> None:
    lex = Lexicons([HOSTILE_DOC])
    nsid = "com.example.hostile"
    record = {"$type": nsid, HOSTILE_NAME: "')\nraise SystemExit\n", "u": {"$type": "#missing"}}
    with pytest.raises(LookupError):
        lex.validate_record(nsid, record)
    record["u"] = {"$type": "com.example.other#x"}  # open union, unknown member: data only
    assert lex.validate_record(nsid, record) == []


# --- every definition, value by value at its edges (deterministic) -----------------------------


def _specs(lex: Lexicons) -> list[tuple[str, str, dict[str, Any]]]:
    """(where, base, definition) of every value definition in atdata's lexicons, nested ones too."""
    out: list[tuple[str, str, dict[str, Any]]] = []

    def visit(base: str, d: Any, where: str) -> None:
        if not isinstance(d, dict):
            return
        if d.get("type") not in ("record", "query", "procedure", "subscription", "token"):
            out.append((where, base, d))
        for name, sub in d.get("properties", {}).items():
            visit(base, sub, f"{where}.{name}")
        visit(base, d.get("items"), where + "[]")
        visit(base, d.get("record"), where)
        visit(base, d.get("parameters"), where + ":parameters")
        visit(base, (d.get("output") or {}).get("schema"), where + ":output")

    for uri, d in lex._defs.items():
        visit(uri, d, uri)
    return out


SPECS = _specs(LEX)


def minimal(lex: Lexicons, base: str, d: dict[str, Any]) -> Any:
    """The smallest valid value of ``d`` (its first union member, required properties only)."""
    kind = d.get("type")
    if kind == "ref":
        return minimal(lex, *lex.definition(d["ref"], base))
    if kind == "string":
        if "const" in d:
            return d["const"]
        if "enum" in d:
            return d["enum"][0]
        if "format" in d:
            return FORMATS_GOOD[d["format"]][0]
        return "a" * max(d.get("minLength", 0), d.get("minGraphemes", 0))
    if kind == "integer":
        return d.get("const", d["enum"][0] if "enum" in d else max(d.get("minimum", 0), 0))
    if kind == "boolean":
        return d.get("const", True)
    if kind in ("object", "params"):
        return {name: minimal(lex, base, d["properties"][name]) for name in d.get("required", [])}
    if kind == "array":
        return [minimal(lex, base, d["items"])] * d.get("minLength", 0)
    if kind == "union":
        uri, target = lex.definition(d["refs"][0], base)
        return {**minimal(lex, uri, target), "$type": uri}
    if kind == "unknown":
        return {}
    if kind == "blob":
        return {"$type": "blob", "ref": {"$link": CID}, "mimeType": "text/plain", "size": 1}
    if kind == "cid-link":
        return {"$link": CID}
    return {"$bytes": "AAE"}


JUNK: list[Any] = [None, 1.5, True, 0, 2**63, -(2**63) - 1, "s", _Str("s"), b"\x00", [], {}, _Dict()]
JUNK += [("t",), {1: "x"}, {"f": 0.5}, [[2**64]]]


def _around(*limits: int) -> list[int]:
    return sorted({n + k for n in limits for k in (-1, 0, 1) if n + k >= 0})


def variants(lex: Lexicons, base: str, d: dict[str, Any]) -> list[Any]:
    """Values of ``d`` at and just past each of its limits, with each kind of wrong value."""
    v = minimal(lex, base, d)
    out: list[Any] = [v, *JUNK]
    kind = d.get("type")
    if kind == "ref":
        return variants(lex, *lex.definition(d["ref"], base))
    if kind == "string":
        byte_limits = [d[k] for k in ("minLength", "maxLength") if k in d]
        for unit in UNITS:
            size = _utf8(unit)
            counts = _around(*(n // size for n in byte_limits), *(-(-n // size) for n in byte_limits))
            counts += _around(*(d[k] for k in ("minGraphemes", "maxGraphemes") if k in d))
            out += [unit * n for n in counts]
        out += ["a" * n for n in _around(*byte_limits)]
        out += [*d.get("enum", []), "other", str(d.get("const", "")) + "x", _Str(v)]
        out += FORMATS_GOOD.get(d.get("format", ""), []) + FORMATS_BAD.get(d.get("format", ""), [])
    elif kind == "integer":
        limits = [d[k] for k in ("minimum", "maximum", "const") if k in d] + d.get("enum", [])
        out += [*_around(*limits, _INT64_MAX, _INT64_MIN), -1, _INT64_MIN - 1]
    elif kind == "boolean":
        out += [False, 1]
    elif kind in ("object", "params"):
        props = d.get("properties", {})
        for name, spec in props.items():
            out += [{**v, name: minimal(lex, base, spec)}, {**v, name: None}]
            out += [{**v, name: junk} for junk in (1.5, "s", {"a": 1.5}, [[]])]
            out.append({k: x for k, x in v.items() if k != name})
        for extra in ({"$type": 5}, {"$type": 1.5}, {"$type": "a.b.c"}, {"x": 1.5}, {"x": [2**64]}, {"x": 1}):
            out.append({**v, **extra})
        out.append({**v, 1: "x"})
    elif kind == "array":
        item = minimal(lex, base, d["items"])
        counts = _around(*(d[k] for k in ("minLength", "maxLength") if k in d), 1)
        out += [[item] * n for n in counts]
        out += [[item, 1.5], [item, None], [_Str("s")], [("t",)]]
    elif kind == "bytes":
        out += [b"", b"\x00" * 3, {"$bytes": ""}, {"$bytes": "AA"}, {"$bytes": "AAAA"}, {"$bytes": "!!"}]
        out += [{"$bytes": "AAE", "x": 1.5}, {"$bytes": 5}]
    elif kind == "cid-link":
        out += [{"$link": "bafy"}, {"$link": CID, "x": 1.5}, {"$link": 5}, CID]
    elif kind == "blob":
        out += [{**v, "size": 1.5}, {**v, "size": "1"}, {**v, "x": 1}, {**v, "ref": {"$link": "bafy"}}]
    elif kind == "union":
        refs = [lex.definition(ref, base) for ref in d["refs"]]
        for uri, target in refs:
            member = minimal(lex, uri, target)
            nsid, _, name = uri.partition("#")
            for spelling in {uri, nsid if name == "main" else uri, "#" + name, 7, "a.b.c#d"}:
                out += [{**member, "$type": spelling}, {**member, "$type": spelling, "x": 1.5}]
            out.append(member)  # no $type
    return out


def _walk_verdict(lex: Lexicons, base: str, d: dict[str, Any], value: Any, depth: int) -> bool | None:
    """The walk's verdict on ``value`` as a value of ``d`` ``depth`` levels down (None: it raised)."""
    try:
        return _plain_data(value, depth) and lex._walk_ok(base, d, value)
    except Exception:
        return None


def assert_verdicts_at_edges(lex: Lexicons, base: str, d: dict[str, Any]) -> None:
    assert _walk_verdict(lex, base, d, minimal(lex, base, d), 0), "the smallest value must be valid"
    check = lex._value_check(base, d)
    for value in variants(lex, base, d):
        for depth in (0, MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH):
            walked = _walk_verdict(lex, base, d, value, depth)
            passed = check(value, depth)
            if passed:
                assert walked, f"passed {value!r:.200} at depth {depth}; the walk refuses it"
            elif walked and exact_types(value):
                pytest.fail(f"refused {value!r:.200} at depth {depth}; the walk accepts it")


@pytest.mark.parametrize(("where", "base", "d"), SPECS, ids=[where for where, _, _ in SPECS])
def test_every_definition_gets_the_walks_verdict_at_its_edges(where: str, base: str, d: Any) -> None:
    assert_verdicts_at_edges(LEX, base, d)


# Keywords atdata's own lexicons do not use (yet), so that their generated checks are tested too.
OTHER_KEYWORDS = {
    "lexicon": 1,
    "id": "com.example.keywords",
    "defs": {
        "main": {
            "type": "object",
            "required": ["both", "req"],
            "nullable": ["both", "opt"],
            "properties": {
                "both": {"type": "string", "maxLength": 4},
                "opt": {"type": "integer", "enum": [1, 2]},
                "fixed": {"type": "integer", "const": 2, "minimum": 0},
                "req": {"type": "boolean", "const": False},
                "closed": {"type": "union", "refs": ["#a", "#b"], "closed": True},
                "short": {"type": "string", "minGraphemes": 3, "maxGraphemes": 4},
                "raw": {"type": "bytes", "minLength": 1, "maxLength": 2},
                "link": {"type": "cid-link"},
                "file": {"type": "blob"},
                "any": {"type": "unknown"},
                "named": {"type": "string", "knownValues": ["x"], "enum": ["x", "y"]},
            },
        },
        "a": {"type": "object", "properties": {"n": {"type": "integer", "minimum": -3, "maximum": 3}}},
        "b": {"type": "object", "required": ["s"], "properties": {"s": {"type": "string", "const": "s"}}},
    },
}
OTHER_LEX = Lexicons([OTHER_KEYWORDS])


@pytest.mark.parametrize(
    ("where", "base", "d"), _specs(OTHER_LEX), ids=[where for where, _, _ in _specs(OTHER_LEX)]
)
def test_other_keywords_get_the_walks_verdict_at_their_edges(where: str, base: str, d: Any) -> None:
    assert_verdicts_at_edges(OTHER_LEX, base, d)
