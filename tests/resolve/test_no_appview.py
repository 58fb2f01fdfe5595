"""No single point of failure: with no appview, or the appview down, names resolve and datasets coerce
straight from the authors' repositories (listRecords, every record CID-checked)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from resolve_world import World, frames

import atdata
from atdata.errors import LensPathError, NetworkError
from atdata.network import record_fetch
from atdata.network.loopback import free_port
from atdata.resolve import schema_ref
from atdata.trust import TrustedAuthor, TrustPolicy

pytestmark = pytest.mark.integration


def trusting(*authors: str) -> TrustPolicy:
    return TrustPolicy(authors=tuple(TrustedAuthor(did) for did in authors))


def without_appview(world: World) -> None:
    atdata.configure(plc=world.stack.plc, pds=world.stack.pds)


def with_appview_down(world: World) -> None:
    world.configure(appview=f"http://127.0.0.1:{free_port()}")  # nothing listens there


@pytest.fixture(params=[without_appview, with_appview_down], ids=["no appview", "appview down"])
def no_appview(request: pytest.FixtureRequest, world: World) -> World:
    request.param(world)
    return world


def test_handle_slash_name_reads_the_authors_repo(no_appview: World) -> None:
    w = no_appview
    assert schema_ref(atdata.resolve(f"{w.bob.handle}/Out")) == w.schemas["bob/Out"]
    assert schema_ref(atdata.resolve(f"{w.alice.handle}/Mid")) == w.schemas["Mid"]


def test_handle_slash_name_at_version_reads_the_authors_repo(no_appview: World) -> None:
    w = no_appview
    assert schema_ref(atdata.resolve(f"{w.alice.handle}/Out@1.0.0")) == w.schemas["Out"]


def test_a_version_the_author_never_published_is_not_found(no_appview: World) -> None:
    with pytest.raises(NetworkError, match=r"9\.9\.9"):
        atdata.resolve(f"{no_appview.alice.handle}/Out@9.9.9")


def test_a_bare_name_resolves_among_the_trusted_authors(no_appview: World) -> None:
    w = no_appview
    assert schema_ref(atdata.resolve("Out", trust=trusting(w.bob.did))) == w.schemas["bob/Out"]
    assert schema_ref(atdata.resolve("Out", trust=trusting(w.alice.did, w.bob.did))) == w.schemas["Out"]


def test_a_bare_name_with_no_trusted_author_says_how_to_name_one(no_appview: World) -> None:
    with pytest.raises(NetworkError, match="handle/Frame"):
        atdata.resolve("Frame", trust=TrustPolicy())


def test_remote_coercion_finds_the_path_over_trusted_repos(no_appview: World) -> None:
    w = no_appview
    out_type = atdata.resolve(f"{w.alice.handle}/Out")
    ds: atdata.Dataset[Any] = atdata.Dataset(w.dataset)
    got = list(ds.as_type(out_type, trust=trusting(w.alice.did)).ordered())
    expected = frames()
    assert [o.label for o in got] == [f.label for f in expected]
    assert [o.peak for o in got] == [float(np.max(f.signal)) for f in expected]


def test_only_trusted_authors_lenses_are_used(no_appview: World) -> None:
    w = no_appview
    out_type = atdata.resolve(f"{w.alice.handle}/Out")
    # Frame -> Mid exists only as alice's lens: trusting bob alone leaves no path.
    with pytest.raises(LensPathError):
        atdata.Dataset(w.dataset).as_type(out_type, trust=trusting(w.bob.did))


def test_lens_listings_are_fetched_once_per_repo_revision(no_appview: World) -> None:
    w = no_appview
    out_type = atdata.resolve(f"{w.alice.handle}/Out")
    policy = trusting(w.alice.did)
    list(atdata.Dataset(w.dataset).as_type(out_type, trust=policy).ordered())
    key = (w.alice.did, "dev.atdata.lens")
    first = record_fetch._listings[key][1]
    list(atdata.Dataset(w.dataset).as_type(out_type, trust=policy).ordered())
    assert record_fetch._listings[key][1] is first
