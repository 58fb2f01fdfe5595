"""The content-addressed record cache: entries are checked against their CID on every read (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atdata.record_cache import NameEntry, RecordCache, network_dir
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


def test_names_and_records_are_kept_per_network(tmp_path: Path) -> None:
    local = RecordCache(network_dir("http://127.0.0.1:2582", tmp_path))
    public = RecordCache(network_dir("https://plc.directory", tmp_path))
    stored = local.put(URI, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", RECORD)
    local.remember_name("Frame", stored)
    assert public.name("Frame") is None
    assert public.get(stored.cid) is None


def test_the_network_folder_follows_the_configured_plc_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATDATA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("ATDATA_PLC", "http://127.0.0.1:2582")
    assert RecordCache().root == network_dir("http://127.0.0.1:2582", tmp_path)
    assert network_dir("http://127.0.0.1:2582", tmp_path) != network_dir("http://127.0.0.1:2583", tmp_path)


def test_the_same_content_at_another_uri_is_a_miss(tmp_path: Path) -> None:
    cache = RecordCache(tmp_path)
    stored = cache.put(URI, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", RECORD)
    other = "at://did:plc:bbbbbbbbbbbbbbbbbbbbbbbb/dev.atdata.schema/Frame:1.0.0"
    assert cache.get(stored.cid, other) is None
    assert cache.get(stored.cid, URI) == stored


def test_a_remembered_name_knows_how_old_it_is(tmp_path: Path) -> None:
    cache = RecordCache(tmp_path)
    cache.remember_name("Frame", cache.put(URI, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", RECORD))
    entry = cache.name("Frame")
    assert entry is not None and entry.saved_at is not None
    assert entry.age(now=entry.saved_at + 3 * 3600 + 125) == "3 h 2 min"
    assert NameEntry("Frame", URI, "cid", "did").age() == "an unknown time"
