"""The content-addressed record cache: entries are checked against their CID on every read (pure)."""

from __future__ import annotations

import json
from pathlib import Path

from atdata.cache import RecordCache
from atdata.schema import record_cid

RECORD = {
    "$type": "dev.atdata.schema",
    "name": "Frame",
    "version": "1.0.0",
    "fields": [],
    "createdAt": "2026-01-01T00:00:00.000Z",
}
URI = "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/dev.atdata.schema/Frame:1.0.0"


def test_a_stored_record_is_read_back_under_its_cid(tmp_path: Path) -> None:
    cache = RecordCache(tmp_path)
    stored = cache.put(URI, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", RECORD)
    assert stored.cid == record_cid(RECORD)
    assert cache.get(stored.cid) == stored


def test_an_entry_edited_on_disk_is_dropped_and_reads_as_a_miss(tmp_path: Path) -> None:
    cache = RecordCache(tmp_path)
    cid = cache.put(URI, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", RECORD).cid
    path = tmp_path / "records" / f"{cid}.json"
    entry = json.loads(path.read_text())
    entry["value"]["name"] = "Evil"
    path.write_text(json.dumps(entry))
    assert cache.get(cid) is None
    assert not path.exists()


def test_a_cid_that_is_not_a_file_name_is_a_miss_not_a_path(tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_text("{}")
    assert RecordCache(tmp_path / "sub").get("../secret") is None


def test_the_last_answer_for_a_name_is_remembered(tmp_path: Path) -> None:
    cache = RecordCache(tmp_path)
    stored = cache.put(URI, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", RECORD)
    cache.remember_name("alice.test/Frame", stored)
    entry = cache.name("alice.test/Frame")
    assert entry is not None and (entry.uri, entry.cid) == (URI, stored.cid)
    assert cache.name("Frame") is None
