"""Record identity: content hash, record CID and record keys."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import libipld
import pytest
from schema_types import BathApplicationFrame

from atdata.errors import SchemaError
from atdata.lexicon import ATTESTATION, DATASET, LENS
from atdata.lexicon.formats import is_record_key
from atdata.schema import canonical_form, content_hash, record_cid, record_key, schema_of

WHEN = "2026-11-21T08:00:00.000Z"
FIXED = {"$type": "dev.atdata.schema", "name": "A", "version": "1.0.0", "fields": [], "createdAt": WHEN}
# FIXED's canonical form in DAG-CBOR, written out by hand from the spec: a 4-entry map whose keys sort
# by length, then bytes (name, $type, fields, version); each text string is 0x60 + length, then UTF-8.
FIXED_CBOR = (
    b"\xa4"
    + b"\x64name" + b"\x61A"
    + b"\x65$type" + b"\x71dev.atdata.schema"
    + b"\x66fields" + b"\x80"
    + b"\x67version" + b"\x651.0.0"
)  # fmt: skip


def reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


def test_the_hash_does_not_depend_on_key_order() -> None:
    r = schema_of(BathApplicationFrame, created_at=WHEN)
    assert list(reversed_keys(r)) != list(r)
    assert content_hash(reversed_keys(r)) == content_hash(r)


def test_the_hash_ignores_when_the_record_was_made() -> None:
    assert content_hash({**FIXED, "createdAt": "2030-01-01T00:00:00Z"}) == content_hash(FIXED)


def test_any_change_of_content_changes_the_hash() -> None:
    assert content_hash({**FIXED, "version": "1.0.1"}) != content_hash(FIXED)
    assert content_hash({**FIXED, "description": ""}) != content_hash(FIXED)


def test_the_hash_is_sha256_of_the_dag_cbor_canonical_form() -> None:
    assert libipld.encode_dag_cbor(canonical_form(FIXED)) == FIXED_CBOR
    assert content_hash(FIXED) == hashlib.sha256(FIXED_CBOR).hexdigest()


def test_the_hash_is_the_same_in_another_process_with_another_hash_seed() -> None:
    code = (
        "import json, sys; from atdata.schema import content_hash; "
        "print(content_hash(json.loads(sys.stdin.read())))"
    )
    r = schema_of(BathApplicationFrame, created_at=WHEN)
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(reversed_keys(r)),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert out.stdout.strip() == content_hash(r)


def test_records_with_floats_have_no_hash() -> None:
    with pytest.raises(SchemaError, match="float"):
        content_hash({**FIXED, "x": 0.5})


def test_the_record_cid_is_a_cidv1_dag_cbor_sha256_of_the_whole_record() -> None:
    cid = record_cid(FIXED)
    decoded = libipld.decode_cid(cid)
    assert (decoded["version"], decoded["codec"], decoded["hash"]["code"]) == (1, 0x71, 0x12)
    assert decoded["hash"]["digest"] == hashlib.sha256(libipld.encode_dag_cbor(FIXED)).digest()
    assert record_cid({**FIXED, "createdAt": "2030-01-01T00:00:00Z"}) != cid


def test_schema_and_lens_keys_are_name_colon_version() -> None:
    r = schema_of(BathApplicationFrame, version="1.2.0-rc.1", created_at=WHEN)
    assert record_key(r) == "BathApplicationFrame:1.2.0-rc.1"
    assert (
        record_key({"$type": LENS, "name": "bath_application", "version": "2.0.0"})
        == "bath_application:2.0.0"
    )
    assert is_record_key(record_key(r))


def test_dataset_keys_are_names_and_attestation_keys_kind_and_lens_cid() -> None:
    assert record_key({"$type": DATASET, "name": "bath-application"}) == "bath-application"
    cid = record_cid(FIXED)
    attestation = {"$type": ATTESTATION, "kind": "tested", "subject": {"uri": "at://x", "cid": cid}}
    assert record_key(attestation) == f"tested.{cid}"


def test_a_name_that_cannot_be_a_record_key_is_refused() -> None:
    with pytest.raises(SchemaError, match="not a valid record key"):
        record_key({"$type": DATASET, "name": "my dataset/v2"})
