"""Publishing records into a real PDS: read back, idempotence, refusals, dry runs, interrupted runs."""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from support.loopback_http import serving

import atdata
from atdata.errors import PublishError, RecordValidationError, SchemaError
from atdata.lexicon import ATTESTATION, LENS, SCHEMA
from atdata.network.identity import IdentityResolver
from atdata.network.refs import AtUri
from atdata.network.xrpc import XrpcClient
from atdata.schema.record import REF_ATTR, from_schema, schema_of
from atdata_registry.devstack import DevStack, start
from atdata_registry.publish import Published, Publisher, VersionConflictError
from atdata_registry.session import Session, create_session

pytestmark = pytest.mark.integration


@atdata.packable
class Reading:
    """One sensor reading."""

    sensor: str
    value: float


@atdata.packable
class Measurement:
    """A reading under another name."""

    device: str
    value: float


@atdata.packable
class Image:
    label: str
    pixels: NDArray[np.uint8]


@pytest.fixture
def session(account: Any) -> Iterator[Session]:
    s = create_session(account.handle, account.password, pds=account.pds)
    yield s
    s.close()


@pytest.fixture
def publisher(session: Session) -> Publisher:
    return Publisher(session, progress=False)


def _get_record(pds: str, uri: str) -> dict[str, Any]:
    at = AtUri.parse(uri)
    where = {"repo": at.repo, "collection": at.collection, "rkey": at.rkey}
    with XrpcClient(pds) as xrpc:
        return dict(xrpc.query("com.atproto.repo.getRecord", where))


def _count(pds: str, repo: str, collection: str) -> int:
    with XrpcClient(pds) as xrpc:
        page = xrpc.query(
            "com.atproto.repo.listRecords", {"repo": repo, "collection": collection, "limit": 100}
        )
    return len(page["records"])


def _rename_lens() -> atdata.Lens[Reading, Measurement]:
    return atdata.Lens.from_ops(
        [{"op": "rename", "from": "sensor", "to": "device"}],
        source=Reading,
        target=Measurement,
        name="reading_to_measurement",
    )


# --- each record type, read back ----------------------------------------------------------------


def test_schema_reads_back_with_the_cid_it_was_published_under(publisher: Publisher, account: Any) -> None:
    published = publisher.publish_schema(Reading)
    assert published.status == "created"
    assert published.uri == f"at://{account.did}/{SCHEMA}/Reading:1.0.0"
    stored = _get_record(account.pds, published.uri)
    assert stored["cid"] == published.cid
    assert stored["value"] == published.record


def test_lens_publishes_its_source_and_target_schemas_first(publisher: Publisher, account: Any) -> None:
    lens = publisher.publish_lens(_rename_lens())
    assert [(p.collection, p.status) for p in publisher.results] == [
        (SCHEMA, "created"),
        (SCHEMA, "created"),
        (LENS, "created"),
    ]
    source, target = publisher.results[0], publisher.results[1]
    stored = _get_record(account.pds, lens.uri)["value"]
    assert stored["source"] == {"uri": source.uri, "cid": source.cid}
    assert stored["target"] == {"uri": target.uri, "cid": target.cid}
    assert stored["code"]["ops"] == [{"$type": f"{LENS}#rename", "from": "sensor", "to": "device"}]


def test_lens_reuses_schemas_published_before(publisher: Publisher) -> None:
    first = publisher.publish_schema(Reading)
    publisher.publish_lens(_rename_lens())
    assert publisher.results[1].uri == first.uri
    assert publisher.results[1].status == "existing"


def _write_shards(folder: Path, n: int) -> str:
    with atdata.ShardWriter(str(folder / "img-%06d.tar"), maxcount=3) as writer:
        for i in range(n):
            writer.write(Image(label=f"s{i}", pixels=np.full((2, 2), i, dtype=np.uint8)))
    return str(folder / "img-{000000..000001}.tar")


def test_dataset_records_checksums_and_counts_computed_from_the_shards(
    publisher: Publisher, account: Any, tmp_path: Path
) -> None:
    pattern = _write_shards(tmp_path, 5)
    published = publisher.publish_dataset(name="images", schema=Image, urls=pattern, license="CC-BY-4.0")
    stored = _get_record(account.pds, published.uri)["value"]
    assert stored["sampleCount"] == 5
    assert [s["samples"] for s in stored["shards"]] == [3, 2]
    first = (tmp_path / "img-000000.tar").read_bytes()
    assert stored["shards"][0] == {
        "sha256": hashlib.sha256(first).hexdigest(),
        "samples": 3,
        "size": len(first),
    }
    assert stored["schema"]["uri"] == f"at://{account.did}/{SCHEMA}/Image:1.0.0"


@pytest.fixture
def shard_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Shards served over http from a loopback server; yields (base URL, folder)."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with serving(server) as port:
        yield f"http://127.0.0.1:{port}", tmp_path


def test_remote_shards_give_the_same_checksums_as_local_ones(
    publisher: Publisher, shard_server: tuple[str, Path]
) -> None:
    base, folder = shard_server
    local = _write_shards(folder, 4)
    remote = f"{base}/img-{{000000..000001}}.tar"
    by_path = publisher.publish_dataset(name="local", schema=Image, urls=local)
    by_http = publisher.publish_dataset(name="remote", schema=Image, urls=remote)
    assert by_http.record["shards"] == by_path.record["shards"]


def test_dataset_names_its_schema_by_name_and_version(publisher: Publisher, tmp_path: Path) -> None:
    schema = publisher.publish_schema(Image)
    published = publisher.publish_dataset(
        name="images", schema="Image@1.0.0", urls=_write_shards(tmp_path, 4)
    )
    assert published.record["schema"] == {"uri": schema.uri, "cid": schema.cid}


def test_dataset_of_an_unpublished_schema_version_is_refused(publisher: Publisher, tmp_path: Path) -> None:
    with pytest.raises(PublishError, match=r"Image@9\.0\.0 is not published"):
        publisher.publish_dataset(name="images", schema="Image@9.0.0", urls=_write_shards(tmp_path, 4))


def test_attestation_points_at_the_lens(publisher: Publisher, account: Any) -> None:
    lens = publisher.publish_lens(_rename_lens())
    attestation = publisher.publish_attestation(lens.uri, "reviewed", comment="read it")
    assert attestation.uri == f"at://{account.did}/{ATTESTATION}/reviewed.{lens.cid}"
    assert _get_record(account.pds, attestation.uri)["value"]["subject"] == {"uri": lens.uri, "cid": lens.cid}


# --- idempotence and refusals ----------------------------------------------------------------------


def test_publishing_identical_content_again_creates_nothing(publisher: Publisher, account: Any) -> None:
    first = publisher.publish_schema(Reading)
    again = publisher.publish_schema(Reading)
    assert (again.status, again.uri, again.cid) == ("existing", first.uri, first.cid)
    assert _count(account.pds, account.did, SCHEMA) == 1


def test_republishing_a_whole_lens_creates_nothing(session: Session, account: Any) -> None:
    Publisher(session, progress=False).publish_lens(_rename_lens())
    second = Publisher(session, progress=False)
    second.publish_lens(_rename_lens())
    assert {p.status for p in second.results} == {"existing"}
    assert (_count(account.pds, account.did, SCHEMA), _count(account.pds, account.did, LENS)) == (2, 1)


def test_changed_schema_under_a_published_version_is_refused_with_the_next_version(
    publisher: Publisher, account: Any
) -> None:
    published = publisher.publish_schema(Reading)

    @atdata.packable
    class Reading2:
        """One sensor reading."""

        sensor: str
        value: int  # was float: a breaking change

    record = dict(schema_of(Reading2), name="Reading")
    with pytest.raises(VersionConflictError) as info:
        publisher.publish_schema(record)
    assert info.value.next_version == "2.0.0"
    assert info.value.report.level == "breaking"
    assert "2.0.0" in str(info.value) and "$.value" in str(info.value)
    assert _get_record(account.pds, published.uri)["cid"] == published.cid


def test_next_version_is_past_every_published_version(publisher: Publisher) -> None:
    base = schema_of(Reading)
    publisher.publish_schema(dict(base, version="1.0.0"))
    publisher.publish_schema(dict(base, version="1.4.0"))
    with pytest.raises(VersionConflictError) as info:
        publisher.publish_schema(dict(base, version="1.0.0", description="changed words only"))
    assert info.value.next_version == "1.4.1"


def test_changed_dataset_is_refused_unless_replaced(publisher: Publisher, tmp_path: Path) -> None:
    urls = _write_shards(tmp_path, 4)
    first = publisher.publish_dataset(name="images", schema=Image, urls=urls)
    with pytest.raises(PublishError, match="--replace"):
        publisher.publish_dataset(name="images", schema=Image, urls=urls, license="MIT")
    replaced = publisher.publish_dataset(name="images", schema=Image, urls=urls, license="MIT", replace=True)
    assert (replaced.status, replaced.uri) == ("replaced", first.uri)
    assert replaced.cid != first.cid


# --- dry run and bad input ---------------------------------------------------------------------------


def test_dry_run_returns_the_records_and_sends_nothing(session: Session, account: Any) -> None:
    dry = Publisher(session, dry_run=True, progress=False)
    dry.publish_lens(_rename_lens())
    assert [p.status for p in dry.results] == ["dry-run"] * 3
    assert dry.results[2].record["source"]["uri"] == dry.results[0].uri
    assert _count(account.pds, account.did, SCHEMA) == 0


def test_dry_run_without_a_session_still_validates() -> None:
    with pytest.raises(RecordValidationError):
        Publisher(None, dry_run=True).publish_schema(
            {"$type": SCHEMA, "name": "X", "version": "1", "fields": []}
        )


def test_type_that_cannot_become_a_schema_publishes_nothing(publisher: Publisher, account: Any) -> None:
    class NotASample:
        x: int

    with pytest.raises(SchemaError, match="cannot become a schema"):
        publisher.publish_schema(NotASample)
    assert _count(account.pds, account.did, SCHEMA) == 0


def test_record_outside_the_lexicon_publishes_nothing(publisher: Publisher, account: Any) -> None:
    record = dict(schema_of(Reading), version="v1")
    with pytest.raises(RecordValidationError, match=r"\$\.version"):
        publisher.publish_schema(record)
    assert _count(account.pds, account.did, SCHEMA) == 0


# --- a PDS that stops in the middle ------------------------------------------------------------------


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[DevStack]:
    """A stack of its own, so that taking its PDS down disturbs no other test's connections."""
    stack = start(tmp_path / "stack")
    yield stack
    stack.stop()


def test_pds_stopping_mid_publish_is_reported_and_a_rerun_finishes_without_duplicates(
    own_stack: DevStack,
) -> None:
    did = own_stack.create_account("carol.test", "carol-password-1")
    session = create_session("carol.test", "carol-password-1", pds=own_stack.pds)

    def outage_after_first(p: Published) -> None:
        own_stack.pause_pds()

    interrupted = Publisher(session, progress=False, on_record=outage_after_first)
    try:
        with pytest.raises(PublishError) as info:
            interrupted.publish_lens(_rename_lens())
    finally:
        own_stack.resume_pds()
    message = str(info.value)
    assert "Measurement:1.0.0" in message and "run the same command again" in message.lower()
    assert interrupted.results[0].uri in message

    rerun = Publisher(session, progress=False)
    rerun.publish_lens(_rename_lens())
    assert [p.status for p in rerun.results] == ["existing", "created", "created"]
    assert (_count(own_stack.pds, did, SCHEMA), _count(own_stack.pds, did, LENS)) == (2, 1)
    session.close()


# --- other authors' records ----------------------------------------------------------------------------


@pytest.fixture
def other_publisher(dev_stack: Any) -> Iterator[Publisher]:
    """A second author on the same network, resolving DIDs through the local PLC directory."""
    handle, password = f"o{uuid.uuid4().hex[:10]}.test", "other-password-1"
    dev_stack.create_account(handle, password)
    session = create_session(handle, password, pds=dev_stack.pds)
    yield Publisher(session, progress=False, resolver=IdentityResolver(plc_url=dev_stack.plc))
    session.close()


def test_attestation_about_another_authors_lens(publisher: Publisher, other_publisher: Publisher) -> None:
    lens = publisher.publish_lens(_rename_lens())
    attestation = other_publisher.publish_attestation(lens.uri, "tested")
    assert attestation.record["subject"] == {"uri": lens.uri, "cid": lens.cid}
    assert attestation.uri.startswith(f"at://{other_publisher.repo}/")


def test_lens_between_types_resolved_from_published_schemas_points_at_them(
    publisher: Publisher, other_publisher: Publisher
) -> None:
    reading = publisher.publish_schema(Reading)
    measurement = publisher.publish_schema(Measurement)
    source, target = from_schema(reading.record), from_schema(measurement.record)
    # What resolving a published schema gives: a class that remembers the record it came from.
    setattr(source, REF_ATTR, reading.ref.as_dict())
    setattr(target, REF_ATTR, measurement.ref.as_dict())
    lens = atdata.Lens.from_ops(
        [{"op": "rename", "from": "sensor", "to": "device"}], source=source, target=target, name="r2m"
    )
    published = other_publisher.publish_lens(lens)
    assert published.record["source"] == {"uri": reading.uri, "cid": reading.cid}
    assert [p.collection for p in other_publisher.results] == [LENS]


# --- lens code ---------------------------------------------------------------------------------------------

RENAME_CODE = "def get(s):\n    return {'device': s.sensor, 'value': s.value}\n"


def test_python_lens_carries_its_code_and_hash(publisher: Publisher, account: Any) -> None:
    lens = atdata.Lens.from_source(RENAME_CODE, source=Reading, target=Measurement, name="by_code")
    published = publisher.publish_lens(lens)
    code = _get_record(account.pds, published.uri)["value"]["code"]
    assert code["source"] == RENAME_CODE
    assert code["sha256"] == hashlib.sha256(RENAME_CODE.encode()).hexdigest()


@atdata.lens(register=False)
def reading_as_measurement(s: Reading) -> Measurement:
    """Call the sensor a device."""
    return Measurement(device=s.sensor, value=s.value)


def test_native_lens_is_published_as_extracted_code_that_still_runs(
    publisher: Publisher, account: Any
) -> None:
    published = publisher.publish_lens(reading_as_measurement)
    stored = _get_record(account.pds, published.uri)["value"]
    assert stored["description"] == "Call the sensor a device."
    again = atdata.Lens.from_source(stored["code"]["source"], source=Reading, target=Measurement)
    assert again(Reading(sensor="s1", value=2.5)) == Measurement(device="s1", value=2.5)
