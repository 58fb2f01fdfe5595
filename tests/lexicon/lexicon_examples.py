"""Example values for every atdata lexicon: valid ones, and broken ones with the path at fault.

Shared by the pure-Python validator tests and the official-validator tests, so both judge the same
values.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from atdata.lexicon import nsid as N
from atdata.lexicon.nsid import defs

CID = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
NOW = "2026-11-21T08:00:00.000Z"
LENS_SOURCE = "def get(source):\n    return {'x': source.x}\n"


def ref(collection: str, rkey: str) -> dict[str, str]:
    return {"uri": f"at://{DID}/{collection}/{rkey}", "cid": CID}


def scalar(kind: str) -> dict[str, Any]:
    return {"$type": defs("scalarType"), "kind": kind}


def schema_record() -> dict[str, Any]:
    """A schema record using every field type."""
    return {
        "$type": N.SCHEMA,
        "name": "BathApplicationFrame",
        "version": "1.2.0-rc.1",
        "description": "One frame of a bath-application movie.",
        "fields": [
            {
                "name": "applied_compound",
                "type": {
                    "$type": defs("literalType"),
                    "values": [{"string": "baclofen"}, {"string": "tacpd"}, {"string": "unknown"}],
                },
                "doc": "Compound in the bath.",
            },
            {
                "name": "image",
                "type": {
                    "$type": defs("arrayType"),
                    "dtype": "uint16",
                    "shape": [{}, {"size": 512}, {"size": 512}],
                    "dims": ["c", "y", "x"],
                },
            },
            {"name": "t", "type": scalar("float"), "unit": "s"},
            {
                "name": "t_intervention",
                "type": {"$type": defs("optionalType"), "inner": scalar("float")},
                "default": {"float": "0.1"},
            },
            {
                "name": "tags",
                "type": {"$type": defs("listType"), "items": scalar("str")},
                "default": {"list": [{"string": "a"}]},
            },
            {"name": "metadata", "type": {"$type": defs("jsonType")}, "default": {"json": '{"a":1}'}},
            {"name": "roi", "type": {"$type": defs("refType"), "name": "Roi"}},
            {"name": "source", "type": {"$type": defs("refType"), "schema": ref(N.SCHEMA, "Frame:1.0.0")}},
        ],
        "types": [
            {"name": "Roi", "description": "A region.", "fields": [{"name": "x", "type": scalar("int")}]}
        ],
        "createdAt": NOW,
    }


def python_lens_record() -> dict[str, Any]:
    return {
        "$type": N.LENS,
        "name": "bath_application",
        "version": "1.0.0",
        "description": "Frame -> BathApplicationFrame.",
        "source": ref(N.SCHEMA, "Frame:1.0.0"),
        "target": ref(N.SCHEMA, "BathApplicationFrame:1.0.0"),
        "code": {
            "$type": f"{N.LENS}#python",
            "language": "python",
            "source": LENS_SOURCE,
            "sha256": hashlib.sha256(LENS_SOURCE.encode()).hexdigest(),
        },
        "createdAt": NOW,
    }


def declarative_lens_record() -> dict[str, Any]:
    ops: list[dict[str, Any]] = [
        {"$type": f"{N.LENS}#rename", "from": "a", "to": "b"},
        {"$type": f"{N.LENS}#drop", "field": "c"},
        {"$type": f"{N.LENS}#add", "field": "d", "value": {"float": "1.5"}},
        {
            "$type": f"{N.LENS}#convert",
            "field": "e",
            "table": [{"from": {"string": "x"}, "to": {"integer": 1}}],
            "default": {"integer": 0},
        },
        {"$type": f"{N.LENS}#nest", "fields": ["f", "g"], "into": "h"},
        {"$type": f"{N.LENS}#unnest", "field": "h"},
        {"$type": f"{N.LENS}#cast", "field": "i", "to": "float"},
        {"$type": f"{N.LENS}#dtypeCast", "field": "image", "dtype": "float32"},
    ]
    record = python_lens_record()
    record["name"] = "declarative_example"
    record["code"] = {"$type": f"{N.LENS}#declarative", "ops": ops}
    return record


def dataset_record() -> dict[str, Any]:
    return {
        "$type": N.DATASET,
        "name": "bath-application",
        "schema": ref(N.SCHEMA, "BathApplicationFrame:1.0.0"),
        "urls": ["https://example.org/frames-{000000..000001}.tar"],
        "shards": [{"sha256": "0" * 64, "samples": 1000, "size": 123456}, {"sha256": "f" * 64, "samples": 7}],
        "sampleCount": 1007,
        "license": "CC-BY-4.0",
        "description": "Frames.",
        "createdAt": NOW,
    }


def blob_dataset_record() -> dict[str, Any]:
    """A dataset published with --blobs: each shard a blob in the author's repository."""
    cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    record = dataset_record()
    record["urls"] = [f"https://pds.example/xrpc/com.atproto.sync.getBlob?did={DID}&cid={cid}"]
    blob = {"$type": "blob", "ref": {"$link": cid}, "mimeType": "application/x-tar", "size": 0}
    record["shards"] = [{"sha256": "0" * 64, "samples": 0, "size": 0, "blob": blob}]
    record["sampleCount"] = 0
    return record


def attestation_record() -> dict[str, Any]:
    return {
        "$type": N.ATTESTATION,
        "subject": ref(N.LENS, "bath_application:1.0.0"),
        "kind": "lawsChecked",
        "comment": "GetPut and PutGet held on 500 samples.",
        "createdAt": NOW,
    }


VALID_RECORDS: dict[str, Any] = {
    "schema": (N.SCHEMA, schema_record),
    "python lens": (N.LENS, python_lens_record),
    "declarative lens": (N.LENS, declarative_lens_record),
    "dataset": (N.DATASET, dataset_record),
    "dataset of blobs": (N.DATASET, blob_dataset_record),
    "attestation": (N.ATTESTATION, attestation_record),
}


def _broken(make: Any, edit: Any) -> dict[str, Any]:
    record = copy.deepcopy(make())
    edit(record)
    return record


# name -> (nsid, broken record, JSON path the Python validator must report)
INVALID_RECORDS: dict[str, tuple[str, dict[str, Any], str]] = {
    "schema without fields": (N.SCHEMA, _broken(schema_record, lambda r: r.pop("fields")), "$.fields"),
    "schema with an unknown scalar kind": (
        N.SCHEMA,
        _broken(schema_record, lambda r: r["fields"][2]["type"].update(kind="complex")),
        "$.fields[2].type.kind",
    ),
    "schema with a too long name": (
        N.SCHEMA,
        _broken(schema_record, lambda r: r.update(name="N" * 200)),
        "$.name",
    ),
    "schema with a field type lacking $type": (
        N.SCHEMA,
        _broken(schema_record, lambda r: r["fields"][0]["type"].pop("$type")),
        "$.fields[0].type",
    ),
    "schema with a bad createdAt": (
        N.SCHEMA,
        _broken(schema_record, lambda r: r.update(createdAt="yesterday")),
        "$.createdAt",
    ),
    "schema whose literal values are not a list": (
        N.SCHEMA,
        _broken(schema_record, lambda r: r["fields"][0]["type"].update(values="baclofen")),
        "$.fields[0].type.values",
    ),
    "lens with a bad strong ref": (
        N.LENS,
        _broken(python_lens_record, lambda r: r["source"].update(uri="https://not-at-uri")),
        "$.source.uri",
    ),
    "lens with a short sha256": (
        N.LENS,
        _broken(python_lens_record, lambda r: r["code"].update(sha256="abc")),
        "$.code.sha256",
    ),
    "lens with another language": (
        N.LENS,
        _broken(python_lens_record, lambda r: r["code"].update(language="javascript")),
        "$.code.language",
    ),
    "declarative lens with a bad cast": (
        N.LENS,
        _broken(declarative_lens_record, lambda r: r["code"]["ops"][6].update(to="complex")),
        "$.code.ops[6].to",
    ),
    "dataset without urls": (N.DATASET, _broken(dataset_record, lambda r: r.update(urls=[])), "$.urls"),
    "dataset with a negative sample count": (
        N.DATASET,
        _broken(dataset_record, lambda r: r.update(sampleCount=-1)),
        "$.sampleCount",
    ),
    "dataset with a string sample count": (
        N.DATASET,
        _broken(dataset_record, lambda r: r["shards"][0].update(samples="1000")),
        "$.shards[0].samples",
    ),
    "dataset whose shard blob is not a blob reference": (
        N.DATASET,
        _broken(blob_dataset_record, lambda r: r["shards"][0].update(blob={"cid": "bafy"})),
        "$.shards[0].blob",
    ),
    "attestation with a bad subject cid": (
        N.ATTESTATION,
        _broken(attestation_record, lambda r: r["subject"].update(cid="not-a-cid")),
        "$.subject.cid",
    ),
    "attestation of the wrong $type": (
        N.ATTESTATION,
        _broken(attestation_record, lambda r: r.update({"$type": N.LENS})),
        "$.$type",
    ),
}


def schema_view() -> dict[str, Any]:
    return {
        "uri": f"at://{DID}/{N.SCHEMA}/BathApplicationFrame:1.2.0-rc.1",
        "cid": CID,
        "author": DID,
        "handle": "alice.test",
        "indexedAt": NOW,
        "record": schema_record(),
        "name": "BathApplicationFrame",
        "version": "1.2.0-rc.1",
    }


def lens_view() -> dict[str, Any]:
    return {
        "uri": f"at://{DID}/{N.LENS}/bath_application:1.0.0",
        "cid": CID,
        "author": DID,
        "indexedAt": NOW,
        "record": python_lens_record(),
        "name": "bath_application",
        "version": "1.0.0",
        "source": ref(N.SCHEMA, "Frame:1.0.0"),
        "target": ref(N.SCHEMA, "BathApplicationFrame:1.0.0"),
        "valid": True,
        "attestations": [
            {
                "uri": f"at://{DID}/{N.ATTESTATION}/lawsChecked.{CID}",
                "cid": CID,
                "author": DID,
                "kind": "lawsChecked",
                "createdAt": NOW,
            }
        ],
    }


# name -> (nsid, params, body): a valid call of every query.
VALID_QUERIES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "resolveSchema": (
        N.RESOLVE_SCHEMA,
        {"name": "alice.test/BathApplicationFrame", "trusted": [DID]},
        {"schema": schema_view(), "candidates": []},
    ),
    "getSchema": (N.GET_SCHEMA, {"uri": schema_view()["uri"], "cid": CID}, {"schema": schema_view()}),
    "searchSchemas": (
        N.SEARCH_SCHEMAS,
        {"q": "bath", "limit": 10},
        {"schemas": [schema_view()], "cursor": "10"},
    ),
    "findLensPath": (
        N.FIND_LENS_PATH,
        {"source": ref(N.SCHEMA, "Frame:1.0.0")["uri"], "target": schema_view()["uri"], "maxHops": 3},
        {
            "path": [
                {
                    "lens": ref(N.LENS, "bath_application:1.0.0"),
                    "source": ref(N.SCHEMA, "Frame:1.0.0"),
                    "target": ref(N.SCHEMA, "BathApplicationFrame:1.0.0"),
                }
            ]
        },
    ),
    "getLens": (N.GET_LENS, {"uri": lens_view()["uri"]}, {"lens": lens_view()}),
    "listLenses": (N.LIST_LENSES, {"source": ref(N.SCHEMA, "Frame:1.0.0")["uri"]}, {"lenses": [lens_view()]}),
    "listDatasets": (
        N.LIST_DATASETS,
        {"schema": schema_view()["uri"], "convertible": True},
        {
            "datasets": [
                {
                    "uri": f"at://{DID}/{N.DATASET}/bath-application",
                    "cid": CID,
                    "author": DID,
                    "indexedAt": NOW,
                    "record": dataset_record(),
                    "name": "bath-application",
                    "schema": ref(N.SCHEMA, "Frame:1.0.0"),
                    "path": [ref(N.LENS, "bath_application:1.0.0")],
                }
            ]
        },
    ),
    "describeService": (
        N.DESCRIBE_SERVICE,
        {},
        {"version": "0.1.0", "lexicons": list(N.RECORDS), "counts": {"schemas": 3, "lenses": 2}},
    ),
}

# name -> (nsid, kind, value, path): queries called or answered wrongly.
INVALID_QUERIES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "resolveSchema without a name": (N.RESOLVE_SCHEMA, "params", {}, "$.name"),
    "searchSchemas with a huge limit": (N.SEARCH_SCHEMAS, "params", {"q": "x", "limit": 1000}, "$.limit"),
    "findLensPath with a non-at-uri target": (
        N.FIND_LENS_PATH,
        "params",
        {"source": ref(N.SCHEMA, "A:1.0.0")["uri"], "target": "Frame"},
        "$.target",
    ),
    "getSchema answer without the schema": (N.GET_SCHEMA, "output", {}, "$.schema"),
    "getLens answer with a string for valid": (
        N.GET_LENS,
        "output",
        {"lens": {**lens_view(), "valid": "yes"}},
        "$.lens.valid",
    ),
    "findLensPath answer with a step lacking its lens": (
        N.FIND_LENS_PATH,
        "output",
        {"path": [{"source": ref(N.SCHEMA, "A:1.0.0"), "target": ref(N.SCHEMA, "B:1.0.0")}]},
        "$.path[0].lens",
    ),
}
