"""Identity of records: canonical form, content hash, record CID and record key.

- ``canonical_form(record)``: the record without ``createdAt`` (when something was published is
  not what it is), checked against the ATProto data model.
- ``content_hash(record)``: lowercase hex SHA-256 of the canonical form encoded as DAG-CBOR.
  DAG-CBOR is deterministic (map keys sorted by length then bytes, shortest integer encodings, no
  floats), so the hash does not depend on key order, process, platform or library version.
- ``record_cid(record)``: the CID a PDS assigns to the full record (CIDv1, dag-cbor, sha-256), so
  a publisher can check a PDS's answer without trusting it.
- ``record_key(record)``: the deterministic record key of each record kind (see below).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

import libipld

from atdata.errors import Problem, SchemaError
from atdata.lexicon.formats import is_record_key
from atdata.lexicon.nsid import ATTESTATION, DATASET, LENS, SCHEMA
from atdata.lexicon.validator import data_model_problems

VOLATILE_KEYS = ("createdAt",)
_CIDV1_DAG_CBOR_SHA256 = b"\x01\x71\x12\x20"


def canonical_form(record: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a record that defines its content (a new dict; ``record`` is not changed)."""
    problems = data_model_problems(record)
    if problems:
        raise SchemaError("record is outside the ATProto data model", problems)
    return {k: v for k, v in record.items() if k not in VOLATILE_KEYS}


def content_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical form as DAG-CBOR: equal content, equal hash, anywhere."""
    return hashlib.sha256(libipld.encode_dag_cbor(canonical_form(record))).hexdigest()


def record_cid(record: Mapping[str, Any]) -> str:
    """The CID of the whole record as a PDS computes it (``createdAt`` included)."""
    problems = data_model_problems(record)
    if problems:
        raise SchemaError("record is outside the ATProto data model", problems)
    digest = hashlib.sha256(libipld.encode_dag_cbor(_data_model(dict(record)))).digest()
    return str(libipld.encode_cid(_CIDV1_DAG_CBOR_SHA256 + digest))


def _data_model(value: Any) -> Any:
    """A value in ATProto's JSON form as the PDS stores it: ``{"$link": cid}`` is a link (a blob's
    ``ref``) and ``{"$bytes": base64}`` is bytes, as the PDS reads the JSON it is sent."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$link"), str):
            try:
                return libipld.decode_multibase(value["$link"])[1]  # libipld encodes CID bytes as a link
            except ValueError:
                return value
        if len(value) == 1 and isinstance(value.get("$bytes"), str):
            try:
                return base64.b64decode(value["$bytes"] + "=" * (-len(value["$bytes"]) % 4), validate=True)
            except ValueError:
                return value
        return {k: _data_model(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_data_model(v) for v in value]
    return value


def record_key(record: Mapping[str, Any]) -> str:
    """The record key a record is published under; the same content always gets the same key.

    - schema and lens: ``<name>:<version>`` (``BathApplicationFrame:1.0.0``). ATProto record keys
      allow ``A-Za-z0-9 . - _ : ~`` only, so ``Name@1.0.0`` cannot be a key; ``:`` reads the same
      way and keeps each version at one predictable address, which is what makes re-publishing
      idempotent and an overwrite of a published version detectable.
    - dataset: its name.
    - attestation: ``<kind>.<lens cid>``: one statement of each kind per author and lens.
    """
    kind = record.get("$type")
    if kind in (SCHEMA, LENS):
        key = f"{record.get('name')}:{record.get('version')}"
    elif kind == DATASET:
        key = str(record.get("name"))
    elif kind == ATTESTATION:
        subject = record.get("subject")
        cid = subject.get("cid") if isinstance(subject, Mapping) else None
        key = f"{record.get('kind')}.{cid}"
    else:
        raise SchemaError("record key", [Problem("$.$type", f"no record key scheme for {kind!r}")])
    if not is_record_key(key):
        raise SchemaError(
            "record key",
            [Problem("$", f"{key!r} is not a valid record key (1-512 of A-Za-z0-9 . - _ : ~)")],
        )
    return key
