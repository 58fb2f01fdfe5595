"""atdata 0.7 schema and entry records, as its own publisher writes them, read as this project's types."""

from __future__ import annotations

import base64
import copy

import msgpack
import pytest
from fixtures07 import SHARDS, check_sample, record

import atdata
from atdata.errors import SchemaError
from atdata.network.predecessor import convert_entry, convert_schema
from atdata.schema import from_schema

WHERE = "at://did:plc:x/science.alt.dataset.schema/r"


def _class(value: dict[str, object]) -> type:
    converted, _ = convert_schema(value, WHERE)
    return from_schema(converted)


def test_a_0_7_schema_builds_a_class_that_reads_0_7_shards() -> None:
    cls = _class(record("schema.json"))
    samples = list(atdata.Dataset(sample_type=cls, urls=[str(p) for p in SHARDS]).ordered())
    assert len(samples) == 4
    for i, s in enumerate(samples):
        check_sample(s, i)


def test_fields_missing_from_required_become_optional_with_default_none() -> None:
    converted, _ = convert_schema(record("schema.json"), WHERE)
    by_name = {f["name"]: f for f in converted["fields"]}
    assert by_name["note"]["default"] == {"null": True} and by_name["note"]["type"]["$type"].endswith(
        "optionalType"
    )
    assert "default" not in by_name["label"]


def test_the_schema_wrapped_under_content_reads_like_the_flat_form() -> None:
    flat = record("schema.json")
    wrapped = copy.deepcopy(flat)
    body = wrapped["schema"]
    wrapped["schema"] = {"$type": body["$type"], "content": {k: v for k, v in body.items() if k != "$type"}}
    assert convert_schema(wrapped, WHERE)[0]["fields"] == convert_schema(flat, WHERE)[0]["fields"]


def test_the_schema_wrapped_under_schema_body_reads_like_the_flat_form() -> None:
    flat = record("schema.json")
    wrapped = copy.deepcopy(flat)
    wrapped["schema"] = {"schemaBody": flat["schema"]}
    assert convert_schema(wrapped, WHERE)[0]["fields"] == convert_schema(flat, WHERE)[0]["fields"]


def test_what_has_no_counterpart_is_kept_as_metadata() -> None:
    _, kept = convert_schema(record("schema.json"), WHERE)
    assert kept["metadata"] == {"license": "CC-BY-4.0", "tags": ["two-photon", "astrocytes"]}
    assert kept["schemaType"] == "jsonSchema" and kept["atdataSchemaVersion"] == 1
    assert kept["jsonSchema"]["arrayFormatVersions"] == {"ndarrayBytes": "1.0.0"}


def test_a_sparse_field_is_refused_naming_the_field_and_the_format() -> None:
    with pytest.raises(SchemaError, match=r"weights.*sparse"):
        convert_schema(record("schema_sparse.json"), WHERE)


@pytest.mark.parametrize("shim", ["structured", "arrow-tensor", "safetensors", "dataframe"])
def test_every_format_without_counterpart_is_refused_by_name(shim: str) -> None:
    value = record("schema.json")
    value["schema"]["properties"]["x"] = {
        "$ref": f"https://alt.science/schemas/atdata-{shim}-bytes/1.0.0#/$defs/x"
    }
    word = shim.split("-")[0]
    with pytest.raises(SchemaError, match=f"'x'.*{word}"):
        convert_schema(value, WHERE)


def test_ndarray_annotations_of_shim_1_1_become_dtype_shape_and_dims() -> None:
    value = record("schema.json")
    value["schema"]["properties"]["image"] = {
        "$ref": "https://alt.science/schemas/atdata-ndarray-bytes/1.1.0#/$defs/ndarray",
        "dtype": "float32",
        "shape": [3, None],
        "dimensionNames": ["y", "x"],
    }
    cls = _class(value)
    samples = list(atdata.Dataset(sample_type=cls, urls=[str(p) for p in SHARDS]).ordered())
    assert samples[0].image.shape == (3, 4)
    field = next(f for f in convert_schema(value, WHERE)[0]["fields"] if f["name"] == "image")
    assert field["type"]["shape"] == [{"size": 3}, {}] and field["type"]["dims"] == ["y", "x"]


def test_a_field_name_that_is_not_an_identifier_is_refused() -> None:
    value = record("schema.json")
    value["schema"]["properties"]["not valid"] = {"type": "string"}
    with pytest.raises(SchemaError, match="not valid"):
        convert_schema(value, WHERE)


def test_an_http_entry_gives_its_urls_checksums_and_metadata() -> None:
    entry = convert_entry(record("entry_http.json", SHARDS="https://h/d", SCHEMA_URI=WHERE), "at://e")
    assert entry.urls == ["https://h/d/recording-000000.tar", "https://h/d/recording-000001.tar"]
    assert entry.schema_uri == WHERE
    assert all(c is not None and c["algorithm"] == "sha256" for c in entry.checksums)
    assert entry.metadata["metadata"] == {"createdBy": "atdata 0.7.0b1 fixture", "split": "train"}
    assert entry.metadata["contentMetadata"] == {"instrument": "Bruker", "objective": "16x"}


def test_an_s3_entry_gives_s3_urls_and_never_uses_the_endpoint_it_names() -> None:
    entry = convert_entry(
        record("entry_s3.json", S3_ENDPOINT="http://10.0.0.1:9000", SCHEMA_URI=WHERE), "at://e"
    )
    assert entry.urls == [f"s3://atdata07-fixture/recordings/{p.name}" for p in SHARDS]
    assert entry.metadata["s3"]["endpoint"] == "http://10.0.0.1:9000"


def test_entry_metadata_as_msgpack_bytes_is_decoded() -> None:
    value = record("entry_http.json", SHARDS="https://h/d", SCHEMA_URI=WHERE)
    value["metadata"] = {"$bytes": base64.b64encode(msgpack.packb({"split": "test"})).decode().rstrip("=")}
    assert convert_entry(value, "at://e").metadata["metadata"] == {"split": "test"}


def test_an_entry_with_a_file_url_is_refused() -> None:
    value = record("entry_http.json", SHARDS="file:///etc", SCHEMA_URI=WHERE)
    with pytest.raises(SchemaError, match="scheme"):
        convert_entry(value, "at://e")
