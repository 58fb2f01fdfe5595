"""atdata 0.7 records on a real PDS: resolved by at-uri and opened as datasets, CID-checked like our own.

The records are the ones atdata 0.7.0b1's publishers wrote (tests/fixtures/atdata07), created in a
dev-stack account with ``com.atproto.repo.createRecord`` as 0.7's client does; the shards are its own,
served over loopback HTTP.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures07 import SHARDS, check_sample, record
from resolve_world import Author, new_author, serve_directory

import atdata
from atdata.errors import SchemaError
from atdata.network.predecessor import ALT_ENTRY, ALT_SCHEMA, PREDECESSOR_ATTR
from atdata.resolve import resolve_dataset
from atdata_registry.devstack import DevStack

pytestmark = pytest.mark.integration


@dataclass
class Published07:
    author: Author
    schema: str
    schema_cid: str
    entry: str
    sparse: str


def create(author: Author, collection: str, value: dict[str, object]) -> tuple[str, str]:
    session = author.publisher.session
    answer = session.procedure(
        "com.atproto.repo.createRecord",
        {"repo": author.did, "collection": collection, "record": value, "validate": False},
    )
    return str(answer["uri"]), str(answer["cid"])


@pytest.fixture(scope="module")
def published07(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published07]:
    root = tmp_path_factory.mktemp("shards07")
    for shard in SHARDS:
        shutil.copy(shard, root / shard.name)
    with serve_directory(root) as url:
        author = new_author(dev_stack, "legacy")
        schema, cid = create(author, ALT_SCHEMA, record("schema.json"))
        entry, _ = create(author, ALT_ENTRY, record("entry_http.json", SCHEMA_URI=schema, SHARDS=url))
        sparse, _ = create(author, ALT_SCHEMA, record("schema_sparse.json"))
        yield Published07(author, schema, cid, entry, sparse)


@pytest.fixture
def configured(dev_stack: DevStack) -> None:
    atdata.configure(plc=dev_stack.plc, pds=dev_stack.pds)


def test_a_0_7_schema_resolves_by_at_uri_to_a_class_pinned_to_its_cid(
    published07: Published07, configured: None
) -> None:
    cls = atdata.resolve(published07.schema)
    assert cls.__name__ == "Recording"
    assert cls.__schema_ref__ == {"uri": published07.schema, "cid": published07.schema_cid}
    assert getattr(cls, PREDECESSOR_ATTR)["metadata"]["license"] == "CC-BY-4.0"


def test_a_0_7_entry_opens_as_a_dataset_that_reads_its_shards(
    published07: Published07, configured: None
) -> None:
    ds = atdata.Dataset(published07.entry)
    samples = list(ds.ordered())
    assert len(samples) == 4
    for i, s in enumerate(samples):
        check_sample(s, i)
    assert ds.published.metadata["contentMetadata"] == {"instrument": "Bruker", "objective": "16x"}


def test_a_0_7_entry_pins_its_bare_schema_ref_to_the_cid_it_found(
    published07: Published07, configured: None
) -> None:
    published = resolve_dataset(published07.entry)
    assert published.schema == {"uri": published07.schema, "cid": published07.schema_cid}


def test_a_0_7_schema_with_a_sparse_field_is_refused_naming_it(
    published07: Published07, configured: None
) -> None:
    with pytest.raises(SchemaError, match=r"weights.*sparse"):
        atdata.resolve(published07.sparse)


def test_a_0_7_entry_with_s3_storage_reads_from_the_readers_own_endpoint(
    published07: Published07, configured: None, s3_env: str
) -> None:
    import s3fs

    fs = s3fs.S3FileSystem()
    if not fs.exists("atdata07-fixture"):
        fs.mkdir("atdata07-fixture")
    for shard in SHARDS:
        fs.put_file(str(shard), f"atdata07-fixture/recordings/{shard.name}")
    # The record names an endpoint of its own; the reader uses AWS_ENDPOINT_URL, never a record's.
    entry = record("entry_s3.json", SCHEMA_URI=published07.schema, S3_ENDPOINT="http://127.0.0.1:9")
    uri, _ = create(published07.author, ALT_ENTRY, entry)
    ds = atdata.Dataset(uri)
    assert ds.shards == [f"s3://atdata07-fixture/recordings/{p.name}" for p in SHARDS]
    for i, s in enumerate(ds.ordered()):
        check_sample(s, i)


def test_a_0_7_shard_that_differs_from_the_entrys_checksum_is_refused(
    published07: Published07, configured: None, tmp_path: Path
) -> None:
    from atdata.errors import ShardIntegrityError

    for shard in SHARDS:
        shutil.copy(shard, tmp_path / shard.name)
    data = bytearray((tmp_path / SHARDS[1].name).read_bytes())
    data[data.index(b"rec-")] = ord("R")
    (tmp_path / SHARDS[1].name).write_bytes(bytes(data))
    with serve_directory(tmp_path) as url:
        entry = record("entry_http.json", SCHEMA_URI=published07.schema, SHARDS=url)
        uri, _ = create(published07.author, ALT_ENTRY, entry)
        with pytest.raises(ShardIntegrityError, match="dataset record says"):
            list(atdata.Dataset(uri).ordered())


def test_a_0_7_entry_with_blob_storage_reads_its_blobs_by_cid_from_the_authors_pds(
    published07: Published07, configured: None
) -> None:
    import hashlib

    session = published07.author.publisher.session
    assert session is not None
    blobs = []
    for shard in SHARDS:
        data = shard.read_bytes()
        ref = session.upload_blob(data, "application/x-tar")["blob"]
        blobs.append(
            {"blob": ref, "checksum": {"algorithm": "sha256", "digest": hashlib.sha256(data).hexdigest()}}
        )
    # 0.7's entry with the storage its publish_with_blobs writes (storageBlobs: blob refs, checksums)
    entry = record("entry_http.json", SCHEMA_URI=published07.schema, SHARDS="http://127.0.0.1:9")
    entry["storage"] = {"$type": "science.alt.dataset.storageBlobs", "blobs": blobs}
    uri, _ = create(published07.author, ALT_ENTRY, entry)
    ds = atdata.Dataset(uri)
    assert all("com.atproto.sync.getBlob" in u for u in ds.shards)
    for i, s in enumerate(ds.ordered()):
        check_sample(s, i)


def test_blob_shards_are_checked_against_the_sha256_their_cid_names() -> None:
    from atdata.network.predecessor import convert_entry

    cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # the empty blob
    entry = {
        "$type": ALT_ENTRY,
        "name": "blobs",
        "schemaRef": "at://did:plc:x/science.alt.dataset.schema/r",
        "storage": {
            "$type": "science.alt.dataset.storageBlobs",
            "blobs": [
                {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": "application/x-tar", "size": 0}}
            ],
        },
    }
    converted = convert_entry(entry, "at://e", author_pds="http://127.0.0.1:1", author="did:plc:x")
    assert converted.urls == [f"http://127.0.0.1:1/xrpc/com.atproto.sync.getBlob?did=did%3Aplc%3Ax&cid={cid}"]
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert converted.checksums == [{"algorithm": "sha256", "digest": empty}]
