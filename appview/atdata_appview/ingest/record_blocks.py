"""Turning verified blocks into :class:`RecordOp` values, shared by the firehose and backfill paths."""

from __future__ import annotations

import libipld

from atdata_appview.checks import MAX_RECORD_BYTES
from atdata_appview.ingest.atproto_json import to_json
from atdata_appview.ingest.car import Car, cid_str
from atdata_appview.ingest.events import OpRejection, RecordOp


def read_record(car: Car, did: str, path: str, cid: bytes, action: str) -> RecordOp | OpRejection:
    """The record at ``path`` from its block (already hashed against ``cid`` when the CAR was read).

    Oversized blocks are not decoded at all.
    """
    collection, _, rkey = path.partition("/")
    block = car.blocks.get(cid)
    if block is None:
        return OpRejection(
            f"at://{did}/{path}", cid_str(cid), "the record's block is missing from the commit"
        )
    if len(block) > MAX_RECORD_BYTES:
        return RecordOp(action, did, collection, rkey, cid_str(cid), value=None, size=len(block))
    try:
        value = to_json(libipld.decode_dag_cbor(block))
    except (ValueError, RecursionError) as e:
        return OpRejection(
            f"at://{did}/{path}", cid_str(cid), f"the record's block is not valid DAG-CBOR: {e}"
        )
    return RecordOp(action, did, collection, rkey, cid_str(cid), value=value, size=len(block))
