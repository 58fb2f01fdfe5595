"""What a PDS answers to listRecords proves nothing until each record's CID is recomputed: records
that fail are left out (and never hide the author's others)."""

from __future__ import annotations

import copy
from typing import Any

from fixtures07 import record

from atdata.network.predecessor import ALT_SCHEMA
from atdata.network.record_fetch import _listed
from atdata.schema import record_cid

DID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"


def item(value: dict[str, Any], repo: str = DID, cid: str | None = None) -> dict[str, Any]:
    return {"uri": f"at://{repo}/{ALT_SCHEMA}/r1", "cid": cid or record_cid(value), "value": value}


def test_a_listed_record_whose_cid_matches_is_kept() -> None:
    value = record("schema.json")
    kept = _listed(item(value), DID, ALT_SCHEMA)
    assert kept is not None and kept.cid == record_cid(value) and kept.author == DID


def test_a_listed_record_changed_after_hashing_is_left_out() -> None:
    value = record("schema.json")
    listed = item(value)
    tampered = copy.deepcopy(listed)
    tampered["value"]["name"] = "Other"
    assert _listed(tampered, DID, ALT_SCHEMA) is None


def test_a_record_of_another_repo_in_the_listing_is_left_out() -> None:
    other = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
    assert _listed(item(record("schema.json"), repo=other), DID, ALT_SCHEMA) is None


def test_a_record_of_another_collection_in_the_listing_is_left_out() -> None:
    value = record("schema.json")
    bad = {**item(value), "uri": f"at://{DID}/dev.atdata.schema/r1"}
    assert _listed(bad, DID, ALT_SCHEMA) is None


def test_a_listing_entry_that_is_not_an_object_is_left_out() -> None:
    assert _listed("at://nothing", DID, ALT_SCHEMA) is None
