"""The appview orders versions and ranks candidates with the SDK's one semver order and ranking, and
indexes a schema whose version is not semver as invalid (kept unserved, with its report)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from appview_world import World
from starlette.testclient import TestClient

from atdata.lexicon import nsid as N
from atdata.lexicon.validator import validate_output
from atdata.network.appview_client import SchemaView
from atdata.ranking import rank
from atdata_appview.service import Appview
from atdata_appview.store import Store

PRERELEASES = ["1.0.0-beta.2", "1.0.0-rc.9", "1.0.0-beta.11", "1.0.0-rc.10"]


@pytest.fixture
def client(appview: Appview, world: World) -> Iterator[TestClient]:
    from atdata_appview.xrpc.server import create_app

    with TestClient(create_app(appview)) as c:
        yield c


def get(client: TestClient, nsid: str, **params: Any) -> dict[str, Any]:
    resp = client.get(f"/xrpc/{nsid}", params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert validate_output(nsid, body) == []
    return body


def test_resolve_schema_takes_rc_10_over_rc_9_and_ranks_as_the_sdk_does(
    client: TestClient, world: World
) -> None:
    for v in PRERELEASES:
        world.schema("alice.test", "Frame", v)
    body = get(client, N.RESOLVE_SCHEMA, name="Frame")
    views = [body["schema"], *body["candidates"]]
    assert [v["version"] for v in views] == ["1.0.0-rc.10", "1.0.0-rc.9", "1.0.0-beta.11", "1.0.0-beta.2"]
    parsed = [SchemaView.of(v) for v in views]
    assert rank(parsed[::-1], []) == parsed


def test_get_schema_lists_other_versions_in_semver_order(client: TestClient, world: World) -> None:
    refs = {v: world.schema("alice.test", "Frame", v) for v in PRERELEASES}
    body = get(client, N.GET_SCHEMA, uri=refs["1.0.0-beta.2"]["uri"])
    assert [v["version"] for v in body["versions"]] == ["1.0.0-rc.10", "1.0.0-rc.9", "1.0.0-beta.11"]


def test_a_schema_whose_version_is_not_semver_is_indexed_as_invalid(
    client: TestClient, world: World, store: Store
) -> None:
    ref = world.schema("alice.test", "Frame", "latest")
    kept = store.record(ref["uri"], include_unserved=True)
    assert kept is not None and not kept.valid
    assert any("$.version" in p and "not a semantic version" in p for p in kept.report)
    resp = client.get(f"/xrpc/{N.RESOLVE_SCHEMA}", params={"name": "Frame"})
    assert resp.status_code == 400 and resp.json()["error"] == "NotFound"
