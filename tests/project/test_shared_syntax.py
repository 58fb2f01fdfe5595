"""One implementation per concept: handle and DID syntax, timestamps and attestation kinds are the
lexicon's, wherever the SDK, the registry or the appview meet them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

import atdata
from atdata.errors import AtUriError, IdentityError, SchemaError
from atdata.lexicon.definitions import ATTESTATION_KINDS
from atdata.lexicon.formats import datetime_text, is_datetime
from atdata.network.identity import IdentityResolver
from atdata.network.loopback import free_port, free_ports
from atdata.network.refs import AtUri, StrongRef
from atdata_registry.record_builders import attestation_record


def test_a_did_with_a_trailing_newline_is_refused_before_any_lookup() -> None:
    # The identity module once anchored its own pattern with `$`, which lets "\n" through.
    resolver = IdentityResolver(plc_url=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(IdentityError, match="is not a valid DID"):
        resolver.resolve("did:plc:abc\n")


def test_timestamps_are_lexicon_datetimes_in_utc_milliseconds() -> None:
    when = datetime(2026, 12, 6, 3, 4, 5, 678912, tzinfo=timezone(timedelta(hours=2)))
    assert datetime_text(when) == "2026-12-06T01:04:05.678Z"
    assert datetime_text(when, timespec="microseconds") == "2026-12-06T01:04:05.678912Z"
    assert is_datetime(datetime_text())


def test_a_schema_record_without_a_time_zone_is_refused() -> None:
    @atdata.packable
    class Naive:
        x: int

    with pytest.raises(SchemaError, match="time zone"):
        atdata.schema_of(Naive, created_at=datetime(2026, 1, 1))


def test_a_schema_record_is_stamped_with_the_shared_timestamp() -> None:
    @atdata.packable
    class Stamped:
        x: int

    record = atdata.schema_of(Stamped, created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert record["createdAt"] == "2026-01-02T03:04:05.000Z"


def test_the_registry_accepts_exactly_the_lexicons_attestation_kinds() -> None:
    cid = "bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxgf5xt2gz2i5bxjp7a"
    lens = StrongRef("at://did:plc:abc/dev.atdata.lens/3kabc", cid)
    for kind in ATTESTATION_KINDS:
        assert attestation_record(subject=lens, kind=kind)["kind"] == kind
    with pytest.raises(SchemaError, match="reviewed"):
        attestation_record(subject=lens, kind="trusted")


def test_an_at_uri_splits_into_repo_collection_and_key() -> None:
    uri = "at://did:plc:abc/dev.atdata.schema/A:1.0.0"
    at = AtUri.parse(uri)
    assert (at.repo, at.collection, at.rkey) == ("did:plc:abc", "dev.atdata.schema", "A:1.0.0")
    assert str(at) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "at://did:plc:x/only-collection",
        "at://did:plc:x/dev.atdata.schema/a/b",
        "at://did:plc:x/not a collection/a",
        "at://did:plc:x/dev.atdata.schema/..",
        "at://did:plc:x/dev.atdata.schema/a\n",
        "https://did:plc:x/dev.atdata.schema/a",
    ],
)
def test_a_malformed_at_uri_is_a_syntax_error_not_a_missing_record(uri: str) -> None:
    with pytest.raises(AtUriError, match="not a record address"):
        AtUri.parse(uri)


def test_resolving_a_malformed_at_uri_names_the_syntax() -> None:
    with pytest.raises(AtUriError, match="only-collection"):
        atdata.resolve("at://did:plc:x/only-collection")


def test_free_ports_are_distinct() -> None:
    ports = free_ports(4)
    assert len(set(ports)) == 4 and all(0 < p < 65536 for p in ports)
