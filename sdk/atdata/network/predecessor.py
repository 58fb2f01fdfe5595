"""The predecessor's records (atdata 0.7, ``science.alt.dataset.*``) read as this project's own.

atdata 0.7 publishes sample types as ``science.alt.dataset.schema`` records holding a JSON Schema
(draft 7) of the sample's fields, and datasets as ``science.alt.dataset.entry`` records pointing at
shards on HTTP, S3 or PDS blobs. Its shards are the same msgpack-in-WebDataset layout as ours, so a
converted schema builds a class that reads them directly.

This module is the pure conversion, field by field; the fetching (and the CID check, done on the
record exactly as it came off the wire) stays in :mod:`atdata.network.record_fetch` and
:mod:`atdata.resolve`. What 0.7 really writes is read, not only what its lexicon says:

- the JSON Schema sits flat under ``schema`` (``schema.properties``, what 0.7.0b1's publisher
  writes), or wrapped in ``schema.content`` or ``schema.schemaBody`` (other writers, and 0.7's own
  older test format);
- an entry's ``metadata`` is a dict (what the publisher writes), or msgpack bytes (what the lexicon
  says, ``{"$bytes": base64}`` in JSON);
- ``schemaRef`` is a bare at-uri (no CID): the schema is fetched once and pinned by the CID found.

Mapping: ``string`` -> str (``format: byte`` / ``contentEncoding: base64`` -> bytes), ``integer``
-> int, ``number`` -> float, ``boolean`` -> bool, ``array`` -> list of its items, ``object`` ->
JSON value, a string ``enum`` -> Literal, the ndarray shim (``$ref`` ``.../atdata-ndarray-bytes/...``,
with ``dtype``, ``shape`` and ``dimensionNames`` when given) -> an array field; a field missing from
``required`` becomes optional with default None. The shims with no counterpart here (sparse,
structured, arrow tensor, safetensors, dataframe) raise :class:`~atdata.errors.SchemaError` naming
the field and the format. Whatever else the record holds (license, tags, createdAt,
arrayFormatVersions, ...) is kept, untouched, as :data:`PREDECESSOR_ATTR` on the class and as
``metadata`` on the dataset.
"""

from __future__ import annotations

import base64
import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from atdata.errors import AtdataError, Problem, SchemaError
from atdata.lexicon.nsid import SCHEMA, defs
from atdata.schema.value_objects import encode_value
from atdata.shards.blobs import blob_url, sha256_of_cid

NAMESPACE = "science.alt.dataset"
ALT_SCHEMA = f"{NAMESPACE}.schema"
ALT_ENTRY = f"{NAMESPACE}.entry"
ALT_LENS = f"{NAMESPACE}.lens"
ALT_RECORDS = (ALT_SCHEMA, ALT_ENTRY, ALT_LENS)

PREDECESSOR_ATTR = "__atdata07__"
"""Class attribute of a class built from a 0.7 schema: its source record's uri, cid and the rest."""

# The shim formats 0.7 names in a field's $ref; only ndarray has a counterpart here. Order matters:
# "safetensors" contains "tensor".
_SHIMS = (
    ("ndarray", "ndarray"),
    ("sparse", "sparse"),
    ("structured", "structured"),
    ("safetensors", "safetensors"),
    ("arrow", "arrow tensor"),
    ("tensor", "arrow tensor"),
    ("dataframe", "dataframe"),
)
_SCHEMA_KEYS = ("$type", "name", "version", "description", "schema")
_NOT_IDENTIFIER = re.compile(r"\W")


def is_predecessor(value: Mapping[str, Any]) -> bool:
    return str(value.get("$type", "")).startswith(NAMESPACE + ".")


# --- schema ------------------------------------------------------------------------------------


def json_schema_of(record: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """The JSON Schema object of a 0.7 schema record, in whichever of its wire forms it came."""
    inner = record.get("schema")
    if not isinstance(inner, Mapping):
        raise SchemaError(f"0.7 schema record {where}", [Problem("$.schema", "missing or not an object")])
    for wrapper in ("content", "schemaBody"):
        body = inner.get(wrapper)
        if isinstance(body, Mapping) and "properties" in body:
            return body
    if not isinstance(inner.get("properties"), Mapping):
        raise SchemaError(
            f"0.7 schema record {where}",
            [
                Problem(
                    "$.schema", "holds no JSON Schema properties (flat, under content, or under schemaBody)"
                )
            ],
        )
    return inner


def convert_schema(record: Mapping[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ``dev.atdata.schema`` record for a ``science.alt.dataset.schema`` one, and what has no counterpart.

    ``where`` (the record's at-uri) goes into error messages. Raises SchemaError listing every field
    that cannot be converted.
    """
    if record.get("$type") != ALT_SCHEMA:
        raise SchemaError(
            f"record {where}", [Problem("$.$type", f"{record.get('$type')!r} is not {ALT_SCHEMA}")]
        )
    kind = record.get("schemaType", "jsonSchema")
    if kind != "jsonSchema":
        raise SchemaError(
            f"0.7 schema record {where}",
            [Problem("$.schemaType", f"{kind!r} schemas have no counterpart here; only jsonSchema is read")],
        )
    body = json_schema_of(record, where)
    required = body.get("required", [])
    required = set(required) if isinstance(required, list) else set()
    problems: list[Problem] = []
    fields: list[dict[str, Any]] = []
    properties: Mapping[str, Any] = body["properties"]
    # Key order does not survive the wire (DAG-CBOR sorts map keys) but the required list's does:
    # required fields first in declaration order, then the optional ones.
    order = (
        [n for n in body.get("required", []) if n in properties]
        if isinstance(body.get("required"), list)
        else []
    )
    order += [n for n in properties if n not in order]
    for name in order:
        prop = properties[name]
        path = f"$.schema.properties.{name}"
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            problems.append(Problem(path, f"field name {name!r} is not a Python identifier"))
            continue
        try:
            ftype = _field_type(prop, path)
        except _Unconvertible as e:
            problems.append(Problem(path, f"field {name!r}: {e}"))
            continue
        entry: dict[str, Any] = {"name": name}
        if name not in required:
            if ftype["$type"] != defs("optionalType"):
                ftype = {"$type": defs("optionalType"), "inner": ftype}
            entry["default"] = encode_value(None)
        entry["type"] = ftype
        if isinstance(prop, Mapping) and isinstance(prop.get("description"), str):
            entry["doc"] = prop["description"]
        fields.append(entry)
    if problems:
        raise SchemaError(f"0.7 schema {record.get('name')!r} at {where} cannot be read here", problems)
    raw_name = str(record.get("name") or "Unnamed")
    name = raw_name if raw_name.isidentifier() else _identifier(raw_name)
    converted: dict[str, Any] = {"$type": SCHEMA, "name": name, "version": str(record.get("version", ""))}
    if isinstance(record.get("description"), str) and record["description"]:
        converted["description"] = record["description"]
    converted["fields"] = fields
    converted["createdAt"] = str(record.get("createdAt", ""))
    rest = {k: v for k, v in record.items() if k not in _SCHEMA_KEYS}
    extra = {k: v for k, v in body.items() if k not in ("properties", "required", "type", "$schema", "$type")}
    if extra:
        rest["jsonSchema"] = extra
    if name != raw_name:
        rest["name"] = raw_name
    return converted, rest


def _identifier(text: str) -> str:
    out = _NOT_IDENTIFIER.sub("_", text).strip("_") or "Unnamed"
    return out if out[0].isalpha() else "T_" + out


class _Unconvertible(AtdataError):
    pass


def _field_type(prop: Any, path: str) -> dict[str, Any]:
    if not isinstance(prop, Mapping):
        raise _Unconvertible("the property is not a JSON Schema object")
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref:
        lowered = ref.lower()
        shim = next((label for key, label in _SHIMS if key in lowered), None)
        if shim == "ndarray":
            return _array(prop)
        if shim is not None:
            raise _Unconvertible(
                f"the {shim} format ({ref}) has no counterpart in this atdata; convert the field to an "
                "ndarray or bytes in 0.7 and republish, or read these shards with atdata 0.7"
            )
        raise _Unconvertible(f"unknown $ref {ref!r}")
    kind = prop.get("type")
    if isinstance(kind, list):  # ["string", "null"]: a nullable field
        kinds = [k for k in kind if k != "null"]
        if len(kinds) != 1:
            raise _Unconvertible(f"type {kind!r} names more than one type")
        inner = _field_type({**prop, "type": kinds[0]}, path)
        return {"$type": defs("optionalType"), "inner": inner}
    if kind == "string":
        if prop.get("format") == "byte" or prop.get("contentEncoding") == "base64":
            return _scalar("bytes")
        enum = prop.get("enum")
        if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
            return {"$type": defs("literalType"), "values": [{"string": v} for v in enum]}
        return _scalar("str")
    if kind in ("integer", "number", "boolean"):
        return _scalar({"integer": "int", "number": "float", "boolean": "bool"}[kind])
    if kind == "array":
        items = prop.get("items")
        inner = _field_type(items, path + ".items") if items is not None else _scalar("str")
        return {"$type": defs("listType"), "items": inner}
    if kind == "object":
        return {"$type": defs("jsonType")}
    raise _Unconvertible(f"JSON Schema type {kind!r} has no counterpart here")


def _scalar(kind: str) -> dict[str, Any]:
    return {"$type": defs("scalarType"), "kind": kind}


def _array(prop: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"$type": defs("arrayType")}
    dtype = prop.get("dtype")
    if isinstance(dtype, str) and dtype:
        out["dtype"] = dtype
    shape = prop.get("shape")
    if isinstance(shape, list):
        out["shape"] = [
            {"size": n} if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else {} for n in shape
        ]
    dims = prop.get("dimensionNames")
    if isinstance(dims, list) and all(isinstance(d, str) for d in dims):
        out["dims"] = list(dims)
    return out


# --- dataset entry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A ``science.alt.dataset.entry`` as this project reads it."""

    name: str
    schema_uri: str
    urls: list[str]
    checksums: list[dict[str, str] | None]
    metadata: dict[str, Any] = field(default_factory=dict)


def convert_entry(
    record: Mapping[str, Any], where: str, *, author_pds: str | None = None, author: str = ""
) -> Entry:
    """The shard URLs, schema at-uri and metadata of a 0.7 dataset entry.

    HTTP shards keep their URL; S3 shards become ``s3://bucket/key`` (the record's endpoint and region
    go to the metadata: the endpoint a reader uses is its own, ``AWS_ENDPOINT_URL``, never one a
    record names); PDS blobs become ``com.atproto.sync.getBlob`` URLs on the author's PDS.
    """
    if record.get("$type") != ALT_ENTRY:
        raise SchemaError(
            f"record {where}", [Problem("$.$type", f"{record.get('$type')!r} is not {ALT_ENTRY}")]
        )
    schema_uri = record.get("schemaRef")
    if not isinstance(schema_uri, str) or not schema_uri.startswith("at://"):
        raise SchemaError(f"0.7 dataset entry {where}", [Problem("$.schemaRef", "missing or not an at-uri")])
    storage = record.get("storage")
    if not isinstance(storage, Mapping):
        raise SchemaError(f"0.7 dataset entry {where}", [Problem("$.storage", "missing or not an object")])
    kind = str(storage.get("$type", ""))
    urls: list[str] = []
    checksums: list[dict[str, str] | None] = []
    if kind.endswith(".storageHttp"):
        for i, shard in enumerate(_list(storage, "shards", where)):
            urls.append(_str(shard, "url", f"$.storage.shards[{i}]", where))
            checksums.append(_checksum(shard))
    elif kind.endswith(".storageS3"):
        bucket = _str(storage, "bucket", "$.storage", where)
        for i, shard in enumerate(_list(storage, "shards", where)):
            key = _str(shard, "key", f"$.storage.shards[{i}]", where)
            urls.append(f"s3://{bucket}/{key.lstrip('/')}")
            checksums.append(_checksum(shard))
    elif kind.endswith(".storageBlobs"):
        if author_pds is None:
            raise SchemaError(
                f"0.7 dataset entry {where}", [Problem("$.storage", "blob storage needs the author's PDS")]
            )
        for i, blob in enumerate(_list(storage, "blobs", where)):
            ref = blob.get("blob") if isinstance(blob, Mapping) else None
            link = (
                ref.get("ref", {}).get("$link")
                if isinstance(ref, Mapping) and isinstance(ref.get("ref"), Mapping)
                else None
            )
            if not isinstance(link, str) or not link.isalnum():
                raise SchemaError(
                    f"0.7 dataset entry {where}",
                    [Problem(f"$.storage.blobs[{i}].blob", "not a blob reference")],
                )
            urls.append(blob_url(author_pds, author, link))
            sha = sha256_of_cid(link)
            checksums.append(_checksum(blob) or ({"algorithm": "sha256", "digest": sha} if sha else None))
    elif kind.endswith(".storageExternal"):
        for i, url in enumerate(_list(storage, "urls", where)):
            if not isinstance(url, str):
                raise SchemaError(
                    f"0.7 dataset entry {where}", [Problem(f"$.storage.urls[{i}]", "not a string")]
                )
            urls.append(url)
            checksums.append(None)
    else:
        raise SchemaError(
            f"0.7 dataset entry {where}", [Problem("$.storage.$type", f"unknown storage {kind!r}")]
        )
    if not urls:
        raise SchemaError(f"0.7 dataset entry {where}", [Problem("$.storage", "names no shards")])
    for url in urls:
        if urlsplit(url).scheme.lower() not in ("http", "https", "s3"):
            raise SchemaError(
                f"0.7 dataset entry {where}",
                [Problem("$.storage", f"shard URL scheme of {url!r} is not http(s) or s3")],
            )
    metadata = {k: v for k, v in record.items() if k not in ("$type", "schemaRef", "storage")}
    if "metadata" in metadata:
        metadata["metadata"] = decode_metadata(metadata["metadata"], where)
    if kind.endswith(".storageS3"):
        metadata["s3"] = {k: storage[k] for k in ("bucket", "region", "endpoint") if k in storage}
    return Entry(str(record.get("name", "")), schema_uri, urls, checksums, metadata)


def decode_metadata(raw: Any, where: str) -> Any:
    """An entry's ``metadata``: a dict as written, or msgpack bytes as the lexicon says."""
    if isinstance(raw, Mapping) and set(raw) == {"$bytes"}:
        try:
            raw = base64.b64decode(str(raw["$bytes"]) + "==")
        except ValueError:
            raise SchemaError(f"0.7 dataset entry {where}", [Problem("$.metadata", "bad base64")]) from None
    if isinstance(raw, bytes):
        import msgpack

        try:
            return msgpack.unpackb(raw, raw=False, strict_map_key=True, max_bin_len=100_000)
        except Exception as e:  # msgpack raises several unrelated types on bad input
            raise SchemaError(
                f"0.7 dataset entry {where}", [Problem("$.metadata", f"not msgpack: {e}")]
            ) from None
    return raw


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise SchemaError(
            f"0.7 dataset entry {where}", [Problem(f"$.storage.{key}", "missing or not a list")]
        )
    return value


def _str(obj: Any, key: str, path: str, where: str) -> str:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    if not isinstance(value, str) or not value:
        raise SchemaError(f"0.7 dataset entry {where}", [Problem(f"{path}.{key}", "missing or not a string")])
    return value


def expected_sha256(checksum: Mapping[str, str] | None) -> str | None:
    """The hex sha-256 a shard must hash to, from a 0.7 checksum (None for other algorithms)."""
    if checksum is None or checksum.get("algorithm", "").lower().replace("-", "") != "sha256":
        return None
    digest = checksum.get("digest", "").lower()
    return digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else None


def _checksum(shard: Any) -> dict[str, str] | None:
    c = shard.get("checksum") if isinstance(shard, Mapping) else None
    if not isinstance(c, Mapping) or c.get("algorithm") in (None, "none") or not c.get("digest"):
        return None
    return {"algorithm": str(c["algorithm"]), "digest": str(c["digest"])}


# --- lens ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeRef:
    """One ``science.alt.dataset.lens#codeReference``: a function in a file of a repository at a commit.

    Nothing here is checked beyond its shape: :mod:`atdata.network.gitfetch` checks the repository,
    commit and path before anything is fetched.
    """

    repository: str
    commit: str
    path: str
    """The file in the repository (``lenses/x.py``; a 0.7 module path ``pkg.mod`` becomes ``pkg/mod.py``)."""
    function: str | None
    """The function the record names after the ``:``, if it names one."""

    @property
    def where(self) -> str:
        return f"{self.repository} at commit {self.commit}, path {self.path}"


@dataclass(frozen=True)
class LensRef:
    """A ``science.alt.dataset.lens`` as this project reads it: schemas and where its code is."""

    name: str
    source_uri: str
    target_uri: str
    getter: CodeRef
    putter: CodeRef | None


def convert_lens(record: Mapping[str, Any], where: str) -> LensRef:
    """The schemas and code references of a 0.7 lens record (``where``, its at-uri, goes into errors)."""
    if record.get("$type") != ALT_LENS:
        raise SchemaError(
            f"record {where}", [Problem("$.$type", f"{record.get('$type')!r} is not {ALT_LENS}")]
        )
    problems: list[Problem] = []
    uris = {}
    for key in ("sourceSchema", "targetSchema"):
        value = record.get(key)
        if not isinstance(value, str) or not value.startswith("at://"):
            problems.append(Problem(f"$.{key}", "missing or not an at-uri"))
        uris[key] = str(value)
    getter = _code_ref(record.get("getterCode"), "$.getterCode", problems)
    putter = _code_ref(record["putterCode"], "$.putterCode", problems) if record.get("putterCode") else None
    if problems or getter is None:
        raise SchemaError(f"0.7 lens record {where}", problems)
    name = record.get("name")
    return LensRef(
        str(name) if isinstance(name, str) else "", uris["sourceSchema"], uris["targetSchema"], getter, putter
    )


def _code_ref(value: Any, path: str, problems: list[Problem]) -> CodeRef | None:
    if not isinstance(value, Mapping):
        problems.append(Problem(path, "missing or not a code reference"))
        return None
    parts = {}
    for key in ("repository", "commit", "path"):
        text = value.get(key)
        if not isinstance(text, str) or not text:
            problems.append(Problem(f"{path}.{key}", "missing or not a string"))
            return None
        parts[key] = text
    file, function = parts["path"], None
    head, sep, tail = file.rpartition(":")
    if sep and tail.isidentifier():
        file, function = head, tail
    if not file.endswith(".py") and all(p.isidentifier() for p in file.split(".")):
        file = file.replace(".", "/") + ".py"  # a module path, as 0.7's publish_from_lens_object writes
    return CodeRef(parts["repository"], parts["commit"], file, function)
