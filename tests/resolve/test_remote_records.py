"""Records fetched from their author's PDS are checked against their CID (a loopback PDS that can lie)."""

from __future__ import annotations

import pytest
from resolve_loopback import loopback_account

from atdata.errors import IntegrityError, RecordNotFoundError
from atdata.network.record_fetch import RecordFetcher
from atdata.schema import record_cid

COLLECTION = "dev.atdata.schema"
RECORD = {
    "$type": COLLECTION,
    "name": "Frame",
    "version": "1.0.0",
    "fields": [],
    "createdAt": "2026-01-01T00:00:00.000Z",
}
OTHER = {**RECORD, "description": "not what was promised"}


def test_a_record_whose_content_matches_its_cid_is_returned_with_its_author() -> None:
    with loopback_account() as acct, RecordFetcher() as fetcher:
        acct.records[f"{COLLECTION}/Frame:1.0.0"] = (record_cid(RECORD), RECORD)
        got = fetcher.fetch(f"at://{acct.did}/{COLLECTION}/Frame:1.0.0", record_cid(RECORD))
    assert (got.author, got.cid, got.value) == (acct.did, record_cid(RECORD), RECORD)


def test_a_pds_serving_other_content_under_the_promised_cid_is_caught() -> None:
    with loopback_account() as acct, RecordFetcher() as fetcher:
        acct.records[f"{COLLECTION}/Frame:1.0.0"] = (record_cid(RECORD), OTHER)
        with pytest.raises(IntegrityError, match=f"hashes to {record_cid(OTHER)}"):
            fetcher.fetch(f"at://{acct.did}/{COLLECTION}/Frame:1.0.0", record_cid(RECORD))


def test_a_record_replaced_since_its_cid_was_learned_names_both_cids() -> None:
    with loopback_account() as acct, RecordFetcher() as fetcher:
        acct.records[f"{COLLECTION}/Frame:1.0.0"] = (record_cid(OTHER), OTHER)
        with pytest.raises(IntegrityError, match=f"now {record_cid(OTHER)}, not {record_cid(RECORD)}"):
            fetcher.fetch(f"at://{acct.did}/{COLLECTION}/Frame:1.0.0", record_cid(RECORD))


def test_a_deleted_record_is_reported_as_gone() -> None:
    with (
        loopback_account() as acct,
        RecordFetcher() as fetcher,
        pytest.raises(RecordNotFoundError, match="deleted"),
    ):
        fetcher.fetch(f"at://{acct.did}/{COLLECTION}/Frame:1.0.0", record_cid(RECORD))
