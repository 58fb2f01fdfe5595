"""A pure-Python Lexicon v1 validator: records, XRPC parameters and XRPC outputs.

It follows the semantics of the official ``@atproto/lexicon`` validator (objects are open, unions
are discriminated by ``$type``, string lengths count UTF-8 bytes, ``unknown`` must be an object)
and adds the ATProto data-model rules that JSON cannot express: no floats anywhere, string keys,
integers within 64 bits. Unlike the official one it reports *every* problem, each with a JSON path
such as ``$.fields[2].type.kind``, so a publisher can fix a record in one pass.

That reporting walk interprets the definitions node by node; a value is first given to a check
generated from its definition (:mod:`atdata.lexicon.compiled`), which passes only values in which
the walk would find nothing, so the walk runs only to name the problems of a value that has some.

The registry calls it before sending a record; the appview calls it on every ingested record and on
its own query parameters and outputs.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from atdata.errors import Problem, RecordValidationError
from atdata.lexicon.formats import FORMATS, is_cid
from atdata.lexicon.nsid import LENS, SCHEMA

if TYPE_CHECKING:
    from atdata.lexicon.compiled import Check, Generator

Def = dict[str, Any]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def child_path(path: str, key: str | int) -> str:
    """``$.a`` + ``b`` -> ``$.a.b``; ints index, odd keys are quoted."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.fullmatch(key):
        return f"{path}.{key}"
    return f'{path}["{key}"]'


class _At:
    """A JSON path built as a linked list, rendered only when a problem is reported."""

    __slots__ = ("key", "parent")

    def __init__(self, parent: _At | None, key: str | int) -> None:
        self.parent = parent
        self.key = key

    def __str__(self) -> str:
        keys: list[str | int] = []
        node: _At | None = self
        while node is not None and node.parent is not None:
            keys.append(node.key)
            node = node.parent
        path = "$"
        for key in reversed(keys):
            path = child_path(path, key)
        return path


_ROOT = _At(None, "$")


def grapheme_count(s: str) -> int:
    """User-perceived characters, approximating Unicode extended grapheme clusters (UAX #29).

    Combining marks, variation selectors, emoji modifiers and ZWJ sequences join the preceding
    character, and regional-indicator pairs (flags) count once. That covers the text people write;
    exotic scripts may count slightly more clusters than UAX #29 would, which only makes a limit
    stricter, never looser.
    """
    count = 0
    join_next = False
    pending_ri = False
    for ch in s:
        cp = ord(ch)
        if join_next:
            join_next = False
            continue
        if cp == 0x200D:  # zero-width joiner: glue the next character to this cluster
            join_next = True
            continue
        if (
            unicodedata.combining(ch)
            or 0xFE00 <= cp <= 0xFE0F
            or 0x1F3FB <= cp <= 0x1F3FF
            or 0xE0020 <= cp <= 0xE007F
            or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        ):
            continue
        if 0x1F1E6 <= cp <= 0x1F1FF:
            if pending_ri:
                pending_ri = False
                continue
            pending_ri = True
        else:
            pending_ri = False
        count += 1
    return count


# Deeper values are refused before anything recurses into them: legitimate records nest about 20
# levels, and a hostile one must not exhaust the interpreter's stack.
MAX_DEPTH = 64


def nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (counted without recursion, level by level;
    stops counting past :data:`MAX_DEPTH`)."""
    depth = 0
    level: list[Any] = [value]
    while depth <= MAX_DEPTH:
        below: list[Any] = []
        containers = False
        for node in level:
            if isinstance(node, dict):
                below.extend(node.values())
                containers = True
            elif isinstance(node, list):
                below.extend(node)
                containers = True
        if not containers:
            return depth
        depth += 1
        level = below
    return depth


def _is_blob_ref(value: Any) -> bool:
    """A blob reference in its JSON form, exactly the keys the official validator allows."""
    if not isinstance(value, dict) or set(value) != {"$type", "ref", "mimeType", "size"}:
        return False
    ref = value["ref"]
    return (
        value["$type"] == "blob"
        and isinstance(ref, dict)
        and set(ref) == {"$link"}
        and isinstance(ref["$link"], str)
        and is_cid(ref["$link"])
        and isinstance(value["mimeType"], str)
        and type(value["size"]) is int
    )


def data_model_problems(value: Any, path: str = "$") -> list[Problem]:
    """Violations of the ATProto data model anywhere in ``value`` (floats, non-string keys, ...).

    A value nested deeper than :data:`MAX_DEPTH` gets that one problem and is not looked into.
    """
    if _plain_data(value, 0):
        return []  # the common case, decided in one pass; the slow walk below names each problem
    problems: list[Problem] = []
    if nesting_depth(value) > MAX_DEPTH:
        problems.append(Problem("$", f"nests deeper than {MAX_DEPTH} levels"))
    else:
        _walk_data_model(value, _ROOT, problems)
    if path != "$":
        problems = [Problem(path + p.path[1:], p.message) for p in problems]
    return problems


def _plain_data(value: Any, depth: int) -> bool:
    """True when :func:`data_model_problems` finds nothing in ``value``, a container ``depth``
    levels down: exact types only (anything unusual takes the reporting walk), and recursion stops
    at :data:`MAX_DEPTH`, so a hostile value cannot exhaust the stack here either."""
    t = type(value)
    if t is str or t is bool or value is None or t is bytes:
        return True
    if t is int:
        return bool(_INT64_MIN <= value <= _INT64_MAX)
    # Plain loops rather than all(...): a generator costs a frame per item on the ingest's hot path.
    if t is dict:
        if depth >= MAX_DEPTH:
            return False
        for k, v in value.items():  # noqa: SIM110
            if type(k) is not str or not _plain_data(v, depth + 1):
                return False
        return True
    if t is list:
        if depth >= MAX_DEPTH:
            return False
        for v in value:  # noqa: SIM110
            if not _plain_data(v, depth + 1):
                return False
        return True
    return False


def _too_deep(problems: list[Problem]) -> bool:
    return bool(problems) and problems[0].message.startswith("nests deeper")


def _walk_data_model(value: Any, path: _At, out: list[Problem]) -> None:
    if value is None or isinstance(value, (str, bool, bytes)):
        return
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            out.append(Problem(str(path), "integer does not fit in 64 bits"))
        return
    if isinstance(value, float):
        out.append(
            Problem(
                str(path),
                f"float {value!r} is not allowed in a record (ATProto data model); encode it as a string",
            )
        )
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            _walk_data_model(v, _At(path, i), out)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                out.append(Problem(str(path), f"key {k!r} is not a string"))
                continue
            _walk_data_model(v, _At(path, k), out)
        return
    out.append(Problem(str(path), f"a {type(value).__name__} is not an ATProto data value"))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


class Lexicons:
    """A set of lexicon documents that validates values against their definitions."""

    def __init__(self, docs: Iterable[Mapping[str, Any]]) -> None:
        self._defs: dict[str, Def] = {}
        self._union_refs: dict[int, list[str]] = {}  # absolute refs of each union def, by identity
        # Generated yes/no checks (atdata.lexicon.compiled): a value they pass has no problem, so
        # the reporting walk below runs only on values that have one (or that they cannot judge).
        self._record_checks: dict[str, Callable[[Any], bool]] = {}
        self._value_checks: dict[tuple[str, int], Check] = {}
        for doc in docs:
            nsid = doc["id"]
            for name, d in doc["defs"].items():
                self._defs[f"{nsid}#{name}"] = d

    def definition(self, ref: str, base: str = "") -> tuple[str, Def]:
        """Resolve a ref (``#local``, ``nsid``, ``nsid#name``) seen in the document ``base``."""
        uri = self._absolute(ref, base)
        try:
            return uri, self._defs[uri]
        except KeyError:
            raise LookupError(f"lexicon definition {uri} is not known") from None

    @staticmethod
    def _absolute(ref: str, base: str) -> str:
        if ref.startswith("#"):
            return base.split("#")[0] + ref
        return ref if "#" in ref else ref + "#main"

    # --- entry points ---------------------------------------------------------------------------

    def validate_record(self, nsid: str, record: Any) -> list[Problem]:
        """Every problem with ``record`` as a record of collection ``nsid`` (empty when valid)."""
        uri, d = self.definition(nsid)
        if d.get("type") != "record":
            raise LookupError(f"{nsid} is a {d.get('type')}, not a record type")
        check = self._record_checks.get(nsid)
        if check is None:
            check = self._record_checks[nsid] = self._generator().record(nsid, uri, d.get("record"))
        if check(record):
            return []
        return self._record_problems(nsid, uri, d, record)

    def _record_problems(self, nsid: str, uri: str, d: Def, record: Any) -> list[Problem]:
        """The reporting walk of :meth:`validate_record`: names every problem."""
        if not isinstance(record, dict):
            return [Problem("$", f"a record must be an object, not {_type_name(record)}")]
        problems = data_model_problems(record)
        if _too_deep(problems):
            return problems
        rtype = record.get("$type")
        if rtype != nsid:
            problems.append(Problem("$.$type", f"must be {nsid!r}, got {rtype!r}"))
        self._object(uri, d["record"], record, _ROOT, problems)
        return problems

    def validate_object(self, ref: str, value: Any) -> list[Problem]:
        """Problems with ``value`` as an instance of an object definition (``dev.atdata.defs#value``)."""
        uri, d = self.definition(ref)
        if self._value_check(uri, d)(value, 0):
            return []
        return self._object_problems(uri, d, value)

    def _object_problems(self, uri: str, d: Def, value: Any) -> list[Problem]:
        """The reporting walk of :meth:`validate_object`."""
        problems = data_model_problems(value)
        if _too_deep(problems):
            return problems
        self._value(uri, d, value, _ROOT, problems)
        return problems

    def validate_params(self, nsid: str, params: Mapping[str, Any]) -> list[Problem]:
        """Problems with already-typed XRPC query parameters (see :meth:`parse_params` for raw ones)."""
        uri, d = self._xrpc(nsid)
        spec = d.get("parameters")
        problems = data_model_problems(dict(params))
        if _too_deep(problems):
            return problems
        if spec is None:
            return [Problem(f"$.{k}", "unexpected parameter") for k in params]
        props = spec.get("properties", {})
        for name in spec.get("required", []):
            if params.get(name) is None:
                problems.append(Problem(child_path("$", name), "required parameter is missing"))
        for name, value in params.items():
            p = child_path("$", name)
            if name not in props:
                problems.append(Problem(p, "unexpected parameter"))
            elif value is not None:
                self._value(uri, props[name], value, _At(_ROOT, name), problems)
        return problems

    def parse_params(self, nsid: str, raw: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        """Typed, defaulted parameters from a query string (each name -> its list of values).

        Raises :class:`RecordValidationError` listing every bad parameter.
        """
        _, d = self._xrpc(nsid)
        props: dict[str, Def] = (d.get("parameters") or {}).get("properties", {})
        out: dict[str, Any] = {}
        problems: list[Problem] = []
        for name, values in raw.items():
            p = child_path("$", name)
            spec = props.get(name)
            if spec is None:
                problems.append(Problem(p, "unexpected parameter"))
                continue
            if spec["type"] == "array":
                items = [
                    self._parse_scalar(spec["items"], v, child_path(p, i), problems)
                    for i, v in enumerate(values)
                ]
                out[name] = items
            elif len(values) != 1:
                problems.append(Problem(p, f"given {len(values)} times; expected once"))
            else:
                out[name] = self._parse_scalar(spec, values[0], p, problems)
        for name, spec in props.items():
            if name not in out and "default" in spec:
                out[name] = spec["default"]
        if not problems:
            problems = self.validate_params(nsid, out)
        if problems:
            raise RecordValidationError(f"parameters of {nsid}", problems)
        return out

    def validate_output(self, nsid: str, body: Any) -> list[Problem]:
        """Problems with a JSON output body of the query ``nsid``."""
        uri, d = self._xrpc(nsid)
        schema = (d.get("output") or {}).get("schema")
        if schema is None:
            return []
        if type(body) is dict and self._value_check(uri, schema)(body, 0):
            return []
        return self._output_problems(uri, schema, body)

    def _output_problems(self, uri: str, schema: Def, body: Any) -> list[Problem]:
        """The reporting walk of :meth:`validate_output`."""
        problems = data_model_problems(body)
        if _too_deep(problems):
            return problems
        if not isinstance(body, dict):
            problems.append(Problem("$", f"output must be an object, not {_type_name(body)}"))
            return problems
        self._value(uri, schema, body, _ROOT, problems)
        return problems

    def _generator(self) -> Generator:
        from atdata.lexicon.compiled import Generator  # it imports this module's data-model checks

        return Generator(self.definition, self._absolute, self._walk_ok)

    def _value_check(self, base: str, d: Def) -> Check:
        key = (base, id(d))
        check = self._value_checks.get(key)
        if check is None:
            check = self._value_checks[key] = self._generator().value(base, d)
        return check

    def _walk_ok(self, base: str, d: Def, value: Any) -> bool:
        """Whether the reporting walk finds no lexicon problem in ``value`` (data model aside)."""
        out: list[Problem] = []
        self._value(base, d, value, _ROOT, out)
        return not out

    def _xrpc(self, nsid: str) -> tuple[str, Def]:
        uri, d = self.definition(nsid)
        if d.get("type") not in ("query", "procedure", "subscription"):
            raise LookupError(f"{nsid} is a {d.get('type')}, not an XRPC method")
        return uri, d

    @staticmethod
    def _parse_scalar(spec: Def, text: str, path: str, problems: list[Problem]) -> Any:
        kind = spec.get("type")
        if kind == "integer":
            if re.fullmatch(r"-?\d{1,19}", text):
                return int(text)
            problems.append(Problem(path, f"must be an integer, got {text!r}"))
            return None
        if kind == "boolean":
            if text in ("true", "false"):
                return text == "true"
            problems.append(Problem(path, f"must be true or false, got {text!r}"))
            return None
        return text

    # --- definitions ----------------------------------------------------------------------------

    def _value(self, base: str, d: Def, value: Any, path: _At, out: list[Problem]) -> None:
        if isinstance(value, float):
            return  # reported once, by the data-model check
        kind = d.get("type")
        if kind == "ref":
            uri, target = self.definition(d["ref"], base)
            self._value(uri, target, value, path, out)
        elif kind == "union":
            self._union(base, d, value, path, out)
        elif kind in ("object", "params"):
            self._object(base, d, value, path, out)
        elif kind == "array":
            self._array(base, d, value, path, out)
        elif kind == "string":
            self._string(d, value, path, out)
        elif kind == "integer":
            self._integer(d, value, path, out)
        elif kind == "boolean":
            self._boolean(d, value, path, out)
        elif kind == "unknown":
            if not isinstance(value, dict):
                out.append(Problem(str(path), f"must be an object, not {_type_name(value)}"))
        elif kind == "bytes":
            self._bytes(d, value, path, out)
        elif kind == "cid-link":
            if not (
                isinstance(value, dict) and isinstance(value.get("$link"), str) and is_cid(value["$link"])
            ):
                out.append(Problem(str(path), 'must be a CID link ({"$link": "<cid>"})'))
        elif kind == "blob":
            if not _is_blob_ref(value):
                out.append(
                    Problem(
                        str(path),
                        'must be a blob reference ({"$type": "blob", "ref": {"$link": "<cid>"}, '
                        '"mimeType": "...", "size": <bytes>})',
                    )
                )
        elif kind == "token":
            out.append(Problem(str(path), "a token cannot hold a value"))
        else:
            out.append(Problem(str(path), f"lexicon type {kind!r} cannot be validated"))

    def _object(self, base: str, d: Def, value: Any, path: _At, out: list[Problem]) -> None:
        if not isinstance(value, dict):
            out.append(Problem(str(path), f"must be an object, not {_type_name(value)}"))
            return
        nullable = d.get("nullable", ())
        required = d.get("required", ())
        for name, spec in d.get("properties", {}).items():
            p = _At(path, name)
            if name not in value:
                if name in required:
                    out.append(Problem(str(p), "required property is missing"))
                continue
            v = value[name]
            if v is None:
                if name not in nullable:
                    out.append(Problem(str(p), "must not be null"))
                continue
            self._value(base, spec, v, p, out)

    def _union(self, base: str, d: Def, value: Any, path: _At, out: list[Problem]) -> None:
        refs = self._union_refs.get(id(d))
        if refs is None:
            refs = self._union_refs[id(d)] = [self._absolute(r, base) for r in d["refs"]]
        t = value.get("$type") if isinstance(value, dict) else None
        if not isinstance(t, str):
            out.append(
                Problem(str(path), 'must be an object with a "$type" naming one of: ' + ", ".join(refs))
            )
            return
        uri = self._absolute(t, base)
        if uri not in refs:
            if d.get("closed"):
                out.append(Problem(str(_At(path, "$type")), f"{t!r} is not one of: " + ", ".join(refs)))
            return
        _, target = self.definition(uri)
        self._value(uri, target, value, path, out)

    def _array(self, base: str, d: Def, value: Any, path: _At, out: list[Problem]) -> None:
        if not isinstance(value, list):
            out.append(Problem(str(path), f"must be an array, not {_type_name(value)}"))
            return
        if "maxLength" in d and len(value) > d["maxLength"]:
            out.append(Problem(str(path), f"has {len(value)} items; at most {d['maxLength']} are allowed"))
            return  # checking every item of an oversized array would only repeat the point slowly
        if "minLength" in d and len(value) < d["minLength"]:
            out.append(Problem(str(path), f"has {len(value)} items; at least {d['minLength']} are required"))
        for i, item in enumerate(value):
            self._value(base, d["items"], item, _At(path, i), out)

    @staticmethod
    def _string(d: Def, value: Any, path: _At, out: list[Problem]) -> None:
        if not isinstance(value, str):
            out.append(Problem(str(path), f"must be a string, not {_type_name(value)}"))
            return
        if "const" in d and value != d["const"]:
            out.append(Problem(str(path), f"must be {d['const']!r}"))
        if "enum" in d and value not in d["enum"]:
            out.append(Problem(str(path), f"{value!r} is not one of {', '.join(map(repr, d['enum']))}"))
        if "maxLength" in d or "minLength" in d:
            n = len(value.encode("utf-8", "surrogatepass"))
            if "maxLength" in d and n > d["maxLength"]:
                out.append(
                    Problem(str(path), f"is {n} bytes long (UTF-8); at most {d['maxLength']} are allowed")
                )
            if "minLength" in d and n < d["minLength"]:
                out.append(
                    Problem(str(path), f"is {n} bytes long (UTF-8); at least {d['minLength']} are required")
                )
        if "maxGraphemes" in d and len(value) > d["maxGraphemes"]:
            g = grapheme_count(value)
            if g > d["maxGraphemes"]:
                out.append(
                    Problem(str(path), f"is {g} characters long; at most {d['maxGraphemes']} are allowed")
                )
        if "minGraphemes" in d and grapheme_count(value) < d["minGraphemes"]:
            out.append(Problem(str(path), f"is shorter than {d['minGraphemes']} characters"))
        fmt = d.get("format")
        if fmt in FORMATS:
            check, what = FORMATS[fmt]
            if not check(value):
                shown = value if len(value) <= 80 else value[:77] + "..."
                out.append(Problem(str(path), f"must be {what}, got {shown!r}"))

    @staticmethod
    def _integer(d: Def, value: Any, path: _At, out: list[Problem]) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(Problem(str(path), f"must be an integer, not {_type_name(value)}"))
            return
        if "const" in d and value != d["const"]:
            out.append(Problem(str(path), f"must be {d['const']}"))
        if "enum" in d and value not in d["enum"]:
            out.append(Problem(str(path), f"{value} is not one of {d['enum']}"))
        if "minimum" in d and value < d["minimum"]:
            out.append(Problem(str(path), f"{value} is less than the minimum {d['minimum']}"))
        if "maximum" in d and value > d["maximum"]:
            out.append(Problem(str(path), f"{value} is greater than the maximum {d['maximum']}"))

    @staticmethod
    def _boolean(d: Def, value: Any, path: _At, out: list[Problem]) -> None:
        if not isinstance(value, bool):
            out.append(Problem(str(path), f"must be a boolean, not {_type_name(value)}"))
        elif "const" in d and value != d["const"]:
            out.append(Problem(str(path), f"must be {str(d['const']).lower()}"))

    @staticmethod
    def _bytes(d: Def, value: Any, path: _At, out: list[Problem]) -> None:
        data: bytes | None = value if isinstance(value, bytes) else None
        if isinstance(value, dict) and isinstance(value.get("$bytes"), str):
            try:
                data = base64.b64decode(value["$bytes"] + "=" * (-len(value["$bytes"]) % 4), validate=True)
            except binascii.Error:
                data = None
        if data is None:
            out.append(Problem(str(path), 'must be bytes ({"$bytes": "<base64>"} in JSON)'))
            return
        if "maxLength" in d and len(data) > d["maxLength"]:
            out.append(Problem(str(path), f"is {len(data)} bytes; at most {d['maxLength']} are allowed"))
        if "minLength" in d and len(data) < d["minLength"]:
            out.append(Problem(str(path), f"is {len(data)} bytes; at least {d['minLength']} are required"))


@cache
def default_lexicons() -> Lexicons:
    """atdata's own documents plus the protocol ones they refer to."""
    from atdata.lexicon.definitions import documents, strong_ref_document

    return Lexicons([*documents().values(), strong_ref_document()])


_VERSIONED = (SCHEMA, LENS)


def validate_record(nsid: str, record: Any) -> list[Problem]:
    """Every problem with ``record`` as a record of ``nsid``, against atdata's lexicons.

    Schema and lens versions must also be semantic versions, which a lexicon cannot say: the one
    version order (:mod:`atdata.schema.semver`) ranks records, so publishing refuses any other
    version and an appview records such a record as invalid.
    """
    problems = default_lexicons().validate_record(nsid, record)
    if nsid in _VERSIONED and isinstance(record, Mapping) and isinstance(record.get("version"), str):
        from atdata.schema.semver import version_problem  # atdata.schema imports this module

        why = version_problem(record["version"])
        if why is not None:
            problems.append(Problem("$.version", why))
    return problems


def assert_valid_record(nsid: str, record: Any) -> None:
    """Raise :class:`RecordValidationError` listing every problem, or return quietly."""
    problems = validate_record(nsid, record)
    if problems:
        raise RecordValidationError(f"invalid {nsid} record", problems)


def validate_params(nsid: str, params: Mapping[str, Any]) -> list[Problem]:
    return default_lexicons().validate_params(nsid, params)


def parse_params(nsid: str, raw: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    return default_lexicons().parse_params(nsid, raw)


def validate_output(nsid: str, body: Any) -> list[Problem]:
    return default_lexicons().validate_output(nsid, body)


def assert_valid_output(nsid: str, body: Any) -> None:
    problems = validate_output(nsid, body)
    if problems:
        raise RecordValidationError(f"invalid {nsid} output", problems)
