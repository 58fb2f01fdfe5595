"""`atdata migrate`: an author's atdata 0.7 records (written by 0.7.0b1, on a real PDS) republished as
dev.atdata records that point back to them, and read like any others."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures07 import SHARDS, check_sample, record
from resolve_world import Author, new_author, serve_directory

import atdata
from atdata.lexicon.nsid import DATASET, SCHEMA
from atdata.network.predecessor import ALT_ENTRY, ALT_SCHEMA
from atdata.network.record_fetch import RecordFetcher
from atdata_registry.devstack import DevStack
from atdata_registry.migrate import migrate
from atdata_registry.publish import Publisher

pytestmark = pytest.mark.integration


@dataclass
class Legacy:
    author: Author
    schema: dict[str, str]
    entry: dict[str, str]
    sparse: str


def create(author: Author, collection: str, value: dict[str, object]) -> dict[str, str]:
    answer = author.publisher.session.procedure(
        "com.atproto.repo.createRecord",
        {"repo": author.did, "collection": collection, "record": value, "validate": False},
    )
    return {"uri": str(answer["uri"]), "cid": str(answer["cid"])}


@pytest.fixture(scope="module")
def legacy(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Legacy]:
    root = tmp_path_factory.mktemp("shards07")
    for shard in SHARDS:
        shutil.copy(shard, root / shard.name)
    with serve_directory(root) as url:
        author = new_author(dev_stack, "migrant")
        schema = create(author, ALT_SCHEMA, record("schema.json"))
        entry = create(author, ALT_ENTRY, record("entry_http.json", SCHEMA_URI=schema["uri"], SHARDS=url))
        sparse = create(author, ALT_SCHEMA, record("schema_sparse.json"))["uri"]
        yield Legacy(author, schema, entry, sparse)


@pytest.fixture
def configured(dev_stack: DevStack) -> None:
    atdata.configure(plc=dev_stack.plc, pds=dev_stack.pds)


def run(legacy: Legacy, *, dry_run: bool) -> tuple[list[dict[str, object]], list[tuple[str, str]]]:
    publisher = Publisher(legacy.author.publisher.session, dry_run=dry_run, progress=False)
    with RecordFetcher() as fetcher:
        outcome = migrate(legacy.author.handle, publisher, fetcher)
    return [p.record for p in outcome.published], outcome.blocked


def listed(legacy: Legacy, collection: str) -> list[dict[str, object]]:
    with RecordFetcher() as fetcher:
        return [r.value for r in fetcher.list(legacy.author.did, collection)]


def test_a_dry_run_shows_the_records_and_publishes_nothing(legacy: Legacy, configured: None) -> None:
    records, _ = run(legacy, dry_run=True)
    assert {r["$type"] for r in records} == {SCHEMA, DATASET}
    assert listed(legacy, SCHEMA) == [] and listed(legacy, DATASET) == []


def test_each_migrated_record_points_back_to_its_source(legacy: Legacy, configured: None) -> None:
    run(legacy, dry_run=False)
    (schema,) = listed(legacy, SCHEMA)
    (dataset,) = listed(legacy, DATASET)
    assert schema["migratedFrom"] == legacy.schema and schema["name"] == "Recording"
    assert dataset["migratedFrom"] == legacy.entry
    assert dataset["license"] == "CC-BY-4.0"


def test_a_record_that_cannot_be_migrated_is_listed_with_the_reason(legacy: Legacy, configured: None) -> None:
    _, blocked = run(legacy, dry_run=True)
    assert [uri for uri, _ in blocked] == [legacy.sparse]
    assert "sparse" in blocked[0][1]


def test_the_migrated_dataset_reads_the_0_7_shards(legacy: Legacy, configured: None) -> None:
    run(legacy, dry_run=False)
    with RecordFetcher() as fetcher:
        (dataset,) = fetcher.list(legacy.author.did, DATASET)
    for i, sample in enumerate(atdata.Dataset(dataset.uri).ordered()):
        check_sample(sample, i)


def test_migrating_again_publishes_nothing_new(legacy: Legacy, configured: None) -> None:
    run(legacy, dry_run=False)
    publisher = Publisher(legacy.author.publisher.session, progress=False)
    with RecordFetcher() as fetcher:
        outcome = migrate(legacy.author.handle, publisher, fetcher)
    assert {p.status for p in outcome.published} == {"existing"}


def test_the_command_is_a_dry_run_listing_what_cannot_be_migrated(
    legacy: Legacy, dev_stack: DevStack, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "ATDATA_PLC": dev_stack.plc,
        "ATDATA_PDS": dev_stack.pds,
        "ATDATA_CONFIG_DIR": str(tmp_path / "config"),
        "ATDATA_CACHE_DIR": str(tmp_path / "cache"),
        "ATDATA_STATE_DIR": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "atdata.cli.main", "migrate", legacy.author.handle, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    out = json.loads(done.stdout)
    assert done.returncode == 1, done.stderr  # the sparse schema cannot be migrated
    assert [b["uri"] for b in out["blocked"]] == [legacy.sparse]
    assert {p["status"] for p in out["published"]} <= {"dry-run", "existing"}
