"""Building lens, dataset and attestation records (pure)."""

from __future__ import annotations

import hashlib

import pytest

from atdata.errors import PublishError, RecordValidationError
from atdata.lexicon import LENS, validate_record
from atdata.network.refs import StrongRef
from atdata.schema.canonical import record_cid
from atdata_registry.record_builders import (
    ShardInfo,
    attestation_record,
    dataset_record,
    lens_record,
    op_record,
)

REPO = "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/dev.atdata.schema"
SRC = StrongRef(f"{REPO}/A:1.0.0", record_cid({"name": "A"}))
DST = StrongRef(f"{REPO}/B:1.0.0", record_cid({"name": "B"}))


def test_python_lens_record_carries_the_code_and_its_sha256() -> None:
    code = "def get(s):\n    return {'y': s['x']}\n"
    record = lens_record(name="a_to_b", version="1.0.0", source=SRC, target=DST, code=code)
    assert record["code"]["source"] == code
    assert record["code"]["sha256"] == hashlib.sha256(code.encode()).hexdigest()
    assert validate_record(LENS, record) == []


def test_declarative_lens_record_validates_against_the_lexicon() -> None:
    ops = [{"op": "rename", "from": "x", "to": "y"}, {"op": "add", "field": "z", "value": 0.5}]
    record = lens_record(name="a_to_b", version="1.0.0", source=SRC, target=DST, ops=ops)
    assert validate_record(LENS, record) == []


def test_op_constants_become_value_objects_without_floats() -> None:
    op = {"op": "convert", "field": "c", "table": [{"from": "a", "to": 1.5}], "default": None}
    assert op_record(op) == {
        "$type": "dev.atdata.lens#convert",
        "field": "c",
        "table": [{"from": {"string": "a"}, "to": {"float": "1.5"}}],
        "default": {"null": True},
    }


def test_lens_needs_exactly_one_of_code_or_ops() -> None:
    with pytest.raises(PublishError, match="exactly one"):
        lens_record(name="a_to_b", version="1.0.0", source=SRC, target=DST)


def test_dataset_record_totals_the_shards_samples() -> None:
    shards = [ShardInfo("a.tar", "0" * 64, 3, 100), ShardInfo("b.tar", "1" * 64, 2, 90)]
    record = dataset_record(name="frames", schema=SRC, urls=["{a,b}.tar"], shards=shards)
    assert record["sampleCount"] == 5
    assert [s["samples"] for s in record["shards"]] == [3, 2]


def test_dataset_name_with_a_slash_is_refused() -> None:
    with pytest.raises(RecordValidationError, match="name"):
        dataset_record(name="a/b", schema=SRC, urls=["x.tar"])


def test_unknown_attestation_kind_is_refused() -> None:
    with pytest.raises(RecordValidationError, match="approved"):
        attestation_record(subject=SRC, kind="approved")


