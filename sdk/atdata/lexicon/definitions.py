"""atdata's Lexicon v1 documents, built in Python from the namespace constant.

``documents()`` is the single source of the wire contract: ``python -m atdata.lexicon.generate``
writes it to ``lexicons/`` and the validator reads it directly, so the JSON files and the checks
can never drift apart (a test compares them).

Rules that shape these documents:
- No floats anywhere (ATProto data model): float defaults travel as strings (see
  ``atdata.schema.value_objects``).
- Every string and array has a declared bound, so a record's size is bounded before it is parsed.
- Unions are open, as ATProto recommends for evolvable schemas; the SDK's schema checks reject
  field types it does not know, naming them.
"""

from __future__ import annotations

from typing import Any

from atdata.lexicon.nsid import (
    ATTESTATION,
    DATASET,
    DEFS,
    DESCRIBE_SERVICE,
    FIND_LENS_PATH,
    GET_LENS,
    GET_SCHEMA,
    LENS,
    LIST_DATASETS,
    LIST_LENSES,
    RESOLVE_SCHEMA,
    SCHEMA,
    SEARCH_SCHEMAS,
    STRONG_REF,
    defs,
)

Def = dict[str, Any]

# Limits shared by several documents (bytes for maxLength, user-perceived characters for maxGraphemes).
NAME_MAX = 128
VERSION_MAX = 64
DESCRIPTION_MAX_GRAPHEMES = 3000
DESCRIPTION_MAX = 30000
DOC_MAX_GRAPHEMES = 2000
DOC_MAX = 20000
UNIT_MAX = 64
FIELDS_MAX = 1024
TYPES_MAX = 128
LITERAL_VALUES_MAX = 1024
VALUE_STRING_MAX = 10000
VALUE_LIST_MAX = 1000
NDIM_MAX = 32
DTYPE_MAX = 32
LENS_SOURCE_MAX = 100_000
LENS_OPS_MAX = 256
DATASET_URLS_MAX = 1000
DATASET_SHARDS_MAX = 4096
URL_MAX = 2048
PAGE_MAX = 100

SCALAR_KINDS = ("str", "int", "float", "bool", "bytes", "datetime")
ATTESTATION_KINDS = ("reviewed", "tested", "lawsChecked")
FIELD_TYPES = (
    "scalarType",
    "arrayType",
    "literalType",
    "optionalType",
    "listType",
    "jsonType",
    "refType",
)
LENS_OPS = ("rename", "drop", "add", "convert", "nest", "unnest", "cast", "dtypeCast")


# --- small builders ---------------------------------------------------------------------------


def _string(
    description: str | None = None,
    *,
    max_length: int | None = None,
    max_graphemes: int | None = None,
    min_length: int | None = None,
    fmt: str | None = None,
    known: tuple[str, ...] | None = None,
    enum: tuple[str, ...] | None = None,
    const: str | None = None,
) -> Def:
    d: Def = {"type": "string"}
    if fmt:
        d["format"] = fmt
    if min_length is not None:
        d["minLength"] = min_length
    if max_length is not None:
        d["maxLength"] = max_length
    if max_graphemes is not None:
        d["maxGraphemes"] = max_graphemes
    if known:
        d["knownValues"] = list(known)
    if enum:
        d["enum"] = list(enum)
    if const is not None:
        d["const"] = const
    if description:
        d["description"] = description
    return d


def _integer(
    description: str | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
) -> Def:
    d: Def = {"type": "integer"}
    if minimum is not None:
        d["minimum"] = minimum
    if maximum is not None:
        d["maximum"] = maximum
    if default is not None:
        d["default"] = default
    if description:
        d["description"] = description
    return d


def _boolean(description: str | None = None, *, default: bool | None = None) -> Def:
    d: Def = {"type": "boolean"}
    if default is not None:
        d["default"] = default
    if description:
        d["description"] = description
    return d


def _array(items: Def, max_length: int, description: str | None = None, *, min_length: int = 0) -> Def:
    d: Def = {"type": "array", "items": items, "maxLength": max_length}
    if min_length:
        d["minLength"] = min_length
    if description:
        d["description"] = description
    return d


def _ref(target: str, description: str | None = None) -> Def:
    d: Def = {"type": "ref", "ref": target}
    if description:
        d["description"] = description
    return d


def _union(refs: list[str], description: str | None = None) -> Def:
    d: Def = {"type": "union", "refs": refs}
    if description:
        d["description"] = description
    return d


def _object(
    properties: dict[str, Def], required: tuple[str, ...] = (), description: str | None = None
) -> Def:
    d: Def = {"type": "object"}
    if description:
        d["description"] = description
    if required:
        d["required"] = list(required)
    d["properties"] = properties
    return d


def _doc(nsid: str, defs_: dict[str, Def], description: str | None = None) -> Def:
    d: Def = {"lexicon": 1, "id": nsid}
    if description:
        d["description"] = description
    d["defs"] = defs_
    return d


def _strong_ref(description: str) -> Def:
    return _ref(STRONG_REF, description)


def _name(description: str) -> Def:
    return _string(description, max_length=NAME_MAX, min_length=1)


def _semver(description: str) -> Def:
    return _string(description, max_length=VERSION_MAX, min_length=5)


def _description(description: str) -> Def:
    return _string(description, max_length=DESCRIPTION_MAX, max_graphemes=DESCRIPTION_MAX_GRAPHEMES)


def _created_at() -> Def:
    return _string("When the author made this record.", fmt="datetime")


def _query(
    nsid: str,
    description: str,
    params: dict[str, Def],
    required: tuple[str, ...],
    output: Def,
    errors: tuple[tuple[str, str], ...] = (),
    extra_defs: dict[str, Def] | None = None,
) -> Def:
    query: Def = {"type": "query", "description": description}
    if params:
        p: Def = {"type": "params"}
        if required:
            p["required"] = list(required)
        p["properties"] = params
        query["parameters"] = p
    query["output"] = {"encoding": "application/json", "schema": output}
    if errors:
        query["errors"] = [{"name": n, "description": d} for n, d in errors]
    return _doc(nsid, {"main": query, **(extra_defs or {})})


def _page(limit_default: int = 25) -> dict[str, Def]:
    return {
        "limit": _integer("Page size.", minimum=1, maximum=PAGE_MAX, default=limit_default),
        "cursor": _string("Opaque cursor from the previous page.", max_length=512),
    }


_FIELD_TYPE_UNION = [defs(n) for n in FIELD_TYPES]


def _field_type(description: str) -> Def:
    return _union(_FIELD_TYPE_UNION, description)


# --- dev.atdata.defs ----------------------------------------------------------------------------


def _defs_doc() -> Def:
    d: dict[str, Def] = {}
    d["scalarType"] = _object(
        {"kind": _string("Python type of the value.", enum=SCALAR_KINDS)},
        ("kind",),
        "A scalar: str, int (signed 64-bit), float (IEEE 754 binary64), bool, bytes, or datetime "
        "(written as ISO 8601 text, with its UTC offset when it has one).",
    )
    d["arrayType"] = _object(
        {
            "dtype": _string(
                "numpy dtype name (e.g. float32, uint16, or '>f4' for non-native byte order); "
                "absent means any dtype.",
                max_length=DTYPE_MAX,
            ),
            "shape": _array(
                _ref(defs("axis")), NDIM_MAX, "One entry per axis; absent means any rank and any size."
            ),
            "dims": _array(
                _string(max_length=NAME_MAX, min_length=1), NDIM_MAX, "Names of the axes, outermost first."
            ),
        },
        (),
        "An n-dimensional numpy array, optionally constrained in dtype and shape.",
    )
    d["axis"] = _object(
        {"size": _integer("Fixed length of this axis; absent means any length.", minimum=0)},
        (),
        "One axis of an array shape.",
    )
    d["literalType"] = _object(
        {
            "values": _array(
                _ref(defs("literalValue")), LITERAL_VALUES_MAX, "The allowed values, in order.", min_length=1
            )
        },
        ("values",),
        "One of a fixed set of str, int or bool values (a Python Literal).",
    )
    d["literalValue"] = _object(
        {
            "string": _string(max_length=VALUE_STRING_MAX),
            "integer": _integer(),
            "boolean": _boolean(),
        },
        (),
        "Exactly one of string, integer or boolean.",
    )
    d["optionalType"] = _object(
        {"inner": _field_type("The type of the value when present.")},
        ("inner",),
        "A value that may be absent (None).",
    )
    d["listType"] = _object(
        {"items": _field_type("The type of every item.")}, ("items",), "A list of values of one type."
    )
    d["jsonType"] = _object(
        {},
        (),
        "A dict with string keys and JSON-like values (None, bool, int, float, str, list, dict).",
    )
    d["refType"] = _object(
        {
            "name": _name("Name of a type defined in the same record's `types` list."),
            "schema": _strong_ref("Another schema record, whose root type this is."),
        },
        (),
        "A nested sample type: exactly one of `name` (defined in this record) or `schema` (another record).",
    )
    d["value"] = _object(
        {
            "null": _boolean("Present and true for None.", default=None),
            "string": _string(max_length=VALUE_STRING_MAX),
            "integer": _integer(),
            "boolean": _boolean(),
            "float": _string(
                "A float as the shortest decimal that reads back to the same IEEE 754 binary64 value "
                "(Python repr: '0.1', '1e-07', '-0.0'), or 'inf', '-inf', 'nan'.",
                max_length=32,
            ),
            "bytes": _string("Bytes, base64 (RFC 4648, padded).", max_length=VALUE_STRING_MAX),
            "datetime": _string(
                "A datetime as ISO 8601 text in Python's isoformat() spelling "
                "('2024-05-01T12:00:00+00:00', microseconds only when non-zero).",
                max_length=64,
            ),
            "list": _array(_ref(defs("value")), VALUE_LIST_MAX, "A list of values."),
            "json": _string(
                "A JSON-like dict as JSON text (keys sorted, no whitespace).", max_length=VALUE_STRING_MAX
            ),
        },
        (),
        "A constant value (a default, a table entry): exactly one property is present. Records cannot "
        "hold floats, so floats are written as text that round-trips exactly.",
    )
    d["fieldDef"] = _object(
        {
            "name": _name("Field name (a Python identifier not starting with '_')."),
            "type": _field_type("The field's type."),
            "doc": _string("What the field holds.", max_length=DOC_MAX, max_graphemes=DOC_MAX_GRAPHEMES),
            "unit": _string("Physical unit of the values (e.g. 's', 'um', 'dF/F').", max_length=UNIT_MAX),
            "default": _ref(defs("value"), "Value used when the field is absent; absent means required."),
        },
        ("name", "type"),
        "One field of a sample type.",
    )
    d["typeDef"] = _object(
        {
            "name": _name("Type name (a Python identifier)."),
            "description": _description("The type's docstring."),
            "fields": _array(_ref(defs("fieldDef")), FIELDS_MAX, "Fields, in declaration order."),
        },
        ("name", "fields"),
        "A nested sample type defined inside a schema record.",
    )
    # Views returned by the appview. `record` holds the record as published (a lexicon `unknown`,
    # because a record type cannot be referenced as an object); callers validate it themselves.
    common_view = {
        "uri": _string(fmt="at-uri"),
        "cid": _string(fmt="cid"),
        "author": _string("DID of the repository holding the record.", fmt="did"),
        "handle": _string("The author's handle when known.", fmt="handle"),
        "indexedAt": _string(fmt="datetime"),
        "record": {"type": "unknown", "description": "The record as published."},
    }
    view_required = ("uri", "cid", "author", "indexedAt", "record")
    d["schemaView"] = _object(
        {
            **common_view,
            "name": _name("The schema's type name."),
            "version": _semver("The schema's version."),
            "description": _description("The type's docstring."),
        },
        (*view_required, "name", "version"),
        "A schema record as indexed by an appview.",
    )
    d["lensView"] = _object(
        {
            **common_view,
            "name": _name("The lens's name."),
            "version": _semver("The lens's version."),
            "source": _strong_ref("Schema the lens reads."),
            "target": _strong_ref("Schema the lens produces."),
            "valid": _boolean("Whether the lens code passed the appview's sandbox validator."),
            "problems": _array(
                _string(max_length=1000), 1000, "Why the lens code was refused, one entry per violation."
            ),
            "attestations": _array(_ref(defs("attestationView")), 1000, "Statements others made about it."),
        },
        (*view_required, "name", "version", "source", "target", "valid"),
        "A lens record as indexed by an appview.",
    )
    d["datasetView"] = _object(
        {
            **common_view,
            "name": _name("The dataset's name."),
            "schema": _strong_ref("Schema of the dataset's samples."),
            "path": _array(
                _strong_ref("A lens."),
                16,
                "When listed for another schema: the lenses that convert its samples to that schema.",
            ),
        },
        (*view_required, "name", "schema"),
        "A dataset record as indexed by an appview.",
    )
    d["attestationView"] = _object(
        {
            "uri": _string(fmt="at-uri"),
            "cid": _string(fmt="cid"),
            "author": _string(fmt="did"),
            "kind": _string(known=ATTESTATION_KINDS, max_length=64),
            "comment": _string(max_length=DOC_MAX, max_graphemes=DOC_MAX_GRAPHEMES),
            "createdAt": _string(fmt="datetime"),
        },
        ("uri", "cid", "author", "kind", "createdAt"),
        "An attestation about a lens.",
    )
    return _doc(DEFS, d, "Objects shared by atdata's records and queries: the field-type model and views.")


# --- records ----------------------------------------------------------------------------------


def _schema_doc() -> Def:
    record = _object(
        {
            "name": _name("The sample type's name (a Python identifier)."),
            "version": _semver("Semantic version 2.0.0, without build metadata (e.g. 1.2.0, 2.0.0-rc.1)."),
            "description": _description("The type's docstring."),
            "fields": _array(_ref(defs("fieldDef")), FIELDS_MAX, "Fields, in declaration order."),
            "types": _array(
                _ref(defs("typeDef")),
                TYPES_MAX,
                "Nested types the fields refer to by name, so that one record is self-contained.",
            ),
            "migratedFrom": _strong_ref(
                "The atdata 0.7 record (science.alt.dataset.schema) this schema was migrated from."
            ),
            "createdAt": _created_at(),
        },
        ("name", "version", "fields", "createdAt"),
    )
    main: Def = {
        "type": "record",
        "description": "A sample type: its name, version, fields and documentation. Record key: "
        "'<name>:<version>' (e.g. 'BathApplicationFrame:1.0.0'), so each version has one address.",
        "key": "any",
        "record": record,
    }
    return _doc(SCHEMA, {"main": main})


def _lens_doc() -> Def:
    ops = [f"#{op}" for op in LENS_OPS]
    d: dict[str, Def] = {}
    d["main"] = {
        "type": "record",
        "description": "Code that turns samples of one schema into another. Record key: '<name>:<version>'.",
        "key": "any",
        "record": _object(
            {
                "name": _name("The lens's name (a Python identifier)."),
                "version": _semver("Semantic version of the lens."),
                "description": _description("What the lens does."),
                "source": _strong_ref("The schema the lens reads."),
                "target": _strong_ref("The schema the lens produces."),
                "code": _union(["#python", "#declarative"], "The lens's code."),
                "createdAt": _created_at(),
            },
            ("name", "version", "source", "target", "code", "createdAt"),
        ),
    }
    d["python"] = _object(
        {
            "language": _string(const="python"),
            "source": _string(
                "A module in atdata's restricted lens dialect defining get(source) and optionally "
                "put(view, source).",
                max_length=LENS_SOURCE_MAX,
                min_length=1,
            ),
            "sha256": _string(
                "Lowercase hex SHA-256 of the source's UTF-8 bytes.", min_length=64, max_length=64
            ),
        },
        ("language", "source", "sha256"),
        "Lens code in the restricted Python dialect.",
    )
    d["declarative"] = _object(
        {"ops": _array(_union(ops), LENS_OPS_MAX, "Operations applied in order.")},
        ("ops",),
        "A list of operations; reversible by construction.",
    )
    fld = _name("A field name.")
    d["rename"] = _object({"from": fld, "to": fld}, ("from", "to"), "Rename a field.")
    d["drop"] = _object({"field": fld}, ("field",), "Drop a field (the putter restores it from the source).")
    d["add"] = _object(
        {"field": fld, "value": _ref(defs("value"))},
        ("field", "value"),
        "Add a field with a constant value.",
    )
    d["convert"] = _object(
        {
            "field": fld,
            "table": _array(_ref("#convertEntry"), LITERAL_VALUES_MAX, min_length=1),
            "default": _ref(defs("value"), "Result for a value not in the table; absent means an error."),
        },
        ("field", "table"),
        "Map a field's values through a table (one-to-one, so it reverses).",
    )
    d["convertEntry"] = _object(
        {"from": _ref(defs("value")), "to": _ref(defs("value"))}, ("from", "to"), "One row of a table."
    )
    d["nest"] = _object(
        {
            "fields": _array(fld, FIELDS_MAX, min_length=1),
            "into": fld,
        },
        ("fields", "into"),
        "Move fields into a new nested field.",
    )
    d["unnest"] = _object(
        {"field": fld}, ("field",), "Hoist the fields of a nested field up one level (the inverse of nest)."
    )
    d["cast"] = _object(
        {"field": fld, "to": _string(enum=("int", "float"))},
        ("field", "to"),
        "Numeric cast of a scalar field.",
    )
    d["dtypeCast"] = _object(
        {"field": fld, "dtype": _string("numpy dtype name.", max_length=DTYPE_MAX)},
        ("field", "dtype"),
        "Cast an array field to another dtype.",
    )
    return _doc(LENS, d)


def _dataset_doc() -> Def:
    d: dict[str, Def] = {}
    d["main"] = {
        "type": "record",
        "description": "WebDataset shards of one schema. Record key: the dataset's name.",
        "key": "any",
        "record": _object(
            {
                "name": _name("The dataset's name (letters, digits, '.', '-', '_')."),
                "schema": _strong_ref("The schema of every sample."),
                "urls": _array(
                    _string(max_length=URL_MAX, min_length=1),
                    DATASET_URLS_MAX,
                    "Shard URLs; brace patterns like 'frames-{000000..000099}.tar' are allowed.",
                    min_length=1,
                ),
                "shards": _array(
                    _ref("#shard"),
                    DATASET_SHARDS_MAX,
                    "One entry per shard, in the order the brace-expanded urls list them.",
                ),
                "sampleCount": _integer("Total number of samples.", minimum=0),
                "license": _string("SPDX license identifier or URL.", max_length=256),
                "description": _description("What the dataset holds."),
                "migratedFrom": _strong_ref(
                    "The atdata 0.7 record (science.alt.dataset.entry) this dataset was migrated from."
                ),
                "createdAt": _created_at(),
            },
            ("name", "schema", "urls", "createdAt"),
        ),
    }
    d["shard"] = _object(
        {
            "sha256": _string("Lowercase hex SHA-256 of the shard's bytes.", min_length=64, max_length=64),
            "samples": _integer("Number of samples in the shard.", minimum=0),
            "size": _integer("Size in bytes.", minimum=0),
            "blob": {
                "type": "blob",
                "accept": ["application/x-tar"],
                "description": "The shard stored as a blob in the author's repository (its CID names "
                "the sha-256 of its bytes); readers fetch it from com.atproto.sync.getBlob on the "
                "author's PDS, found from the DID document, instead of the URL.",
            },
        },
        ("sha256", "samples"),
        "Integrity and size of one shard.",
    )
    return _doc(DATASET, d)


def _attestation_doc() -> Def:
    main: Def = {
        "type": "record",
        "description": "A statement by the repository's owner about a lens. Record key: '<kind>.<lens cid>'.",
        "key": "any",
        "record": _object(
            {
                "subject": _strong_ref("The lens record attested."),
                "kind": _string(
                    "reviewed: a person read the code; tested: it ran on real data; lawsChecked: the "
                    "lens laws (GetPut, PutGet) held on generated samples.",
                    known=ATTESTATION_KINDS,
                    max_length=64,
                ),
                "comment": _string(max_length=DOC_MAX, max_graphemes=DOC_MAX_GRAPHEMES),
                "createdAt": _created_at(),
            },
            ("subject", "kind", "createdAt"),
        ),
    }
    return _doc(ATTESTATION, {"main": main})


# --- queries --------------------------------------------------------------------------------


def _trusted() -> Def:
    return _array(_string(fmt="did"), 100, "DIDs of trusted authors; their records rank first.")


def _query_docs() -> list[Def]:
    not_found = ("NotFound", "No record matches.")
    schema_view = _ref(defs("schemaView"))
    lens_view = _ref(defs("lensView"))
    return [
        _query(
            RESOLVE_SCHEMA,
            "Find the schema a name refers to: a bare name, 'handle/Name', 'Name@1.2.0' or an at-uri.",
            {"name": _string(max_length=1024, min_length=1), "trusted": _trusted()},
            ("name",),
            _object(
                {
                    "schema": schema_view,
                    "candidates": _array(schema_view, PAGE_MAX, "Other matches, best first."),
                },
                ("schema",),
            ),
            (not_found, ("Ambiguous", "Several authors publish this name and none is trusted.")),
        ),
        _query(
            GET_SCHEMA,
            "One schema record by at-uri (and CID, to pin a version of the record).",
            {"uri": _string(fmt="at-uri"), "cid": _string(fmt="cid")},
            ("uri",),
            _object(
                {
                    "schema": schema_view,
                    "versions": _array(schema_view, PAGE_MAX, "Other versions by the same author."),
                },
                ("schema",),
            ),
            (not_found,),
        ),
        _query(
            SEARCH_SCHEMAS,
            "Full-text search over schema names, descriptions and field names.",
            {"q": _string(max_length=512, min_length=1), **_page()},
            ("q",),
            _object(
                {"schemas": _array(schema_view, PAGE_MAX), "cursor": _string(max_length=512)},
                ("schemas",),
            ),
        ),
        _query(
            FIND_LENS_PATH,
            "The shortest chain of lenses from one schema to another: fewest hops, then lowest cost, "
            "ties broken by lens CID. An empty path comes with the reason.",
            {
                "source": _string(fmt="at-uri"),
                "target": _string(fmt="at-uri"),
                "trusted": _trusted(),
                "maxHops": _integer(minimum=1, maximum=16, default=8),
            },
            ("source", "target"),
            _object(
                {
                    "path": _array(_ref("#step"), 16, "Lenses to apply, in order."),
                    "reason": _string("Why there is no path.", max_length=2000),
                    "reachable": _array(
                        _strong_ref("A schema."),
                        1000,
                        "Schemas reachable from the source when no path exists.",
                    ),
                },
                ("path",),
            ),
            (not_found,),
            {
                "step": _object(
                    {
                        "lens": _strong_ref("The lens."),
                        "source": _strong_ref("Schema it reads."),
                        "target": _strong_ref("Schema it produces."),
                    },
                    ("lens", "source", "target"),
                )
            },
        ),
        _query(
            GET_LENS,
            "One lens record, with its validation report and attestations.",
            {"uri": _string(fmt="at-uri"), "cid": _string(fmt="cid")},
            ("uri",),
            _object({"lens": lens_view}, ("lens",)),
            (not_found,),
        ),
        _query(
            LIST_LENSES,
            "Lenses by source and/or target schema (both given: both must match) or by author.",
            {
                "source": _string(fmt="at-uri"),
                "target": _string(fmt="at-uri"),
                "author": _string(fmt="did"),
                **_page(),
            },
            (),
            _object({"lenses": _array(lens_view, PAGE_MAX), "cursor": _string(max_length=512)}, ("lenses",)),
        ),
        _query(
            LIST_DATASETS,
            "Datasets of a schema; with convertible, also those whose schema has a lens path to it.",
            {
                "schema": _string(fmt="at-uri"),
                "convertible": _boolean(default=False),
                "author": _string(fmt="did"),
                **_page(),
            },
            (),
            _object(
                {
                    "datasets": _array(_ref(defs("datasetView")), PAGE_MAX),
                    "cursor": _string(max_length=512),
                },
                ("datasets",),
            ),
        ),
        _query(
            DESCRIBE_SERVICE,
            "What this appview serves.",
            {},
            (),
            _object(
                {
                    "version": _string("Software version.", max_length=64),
                    "lexicons": _array(_string(fmt="nsid"), 100, "NSIDs this service understands."),
                    "counts": _ref("#counts"),
                },
                ("version", "lexicons"),
            ),
            (),
            {
                "counts": _object(
                    {
                        "schemas": _integer(minimum=0),
                        "lenses": _integer(minimum=0),
                        "datasets": _integer(minimum=0),
                        "attestations": _integer(minimum=0),
                    },
                    (),
                    "Records indexed, by kind.",
                )
            },
        ),
    ]


def _tidy(node: Any) -> Any:
    """Put ``type`` then ``description`` first in every definition, as lexicon files usually read."""
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    if not isinstance(node, dict):
        return node
    first = [k for k in ("type", "description") if k in node and isinstance(node.get("type"), str)]
    return {k: _tidy(node[k]) for k in [*first, *(k for k in node if k not in first)]}


def documents() -> dict[str, Def]:
    """Every lexicon document atdata defines, by NSID (fresh dicts: callers may mutate them)."""
    docs = [_defs_doc(), _schema_doc(), _lens_doc(), _dataset_doc(), _attestation_doc(), *_query_docs()]
    return {d["id"]: _tidy(d) for d in docs}


def strong_ref_document() -> Def:
    """The protocol's ``com.atproto.repo.strongRef``, which atdata's documents refer to.

    Written here from the protocol's definition so that validation needs no other files.
    """
    return _doc(
        STRONG_REF,
        {
            "main": _object(
                {"uri": _string(fmt="at-uri"), "cid": _string(fmt="cid")},
                ("uri", "cid"),
            )
        },
        "A URI with a content-hash fingerprint.",
    )
