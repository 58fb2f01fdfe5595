"""XRPC queries over HTTP, as declared in lexicons/: parameters and outputs validated, XRPC errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from appview_world import BAD_LENS_SOURCE, World
from starlette.testclient import TestClient

from atdata.lexicon import nsid as N
from atdata.lexicon.validator import validate_output
from atdata_appview.service import Appview


@pytest.fixture
def client(appview: Appview, world: World) -> Iterator[TestClient]:
    from atdata_appview.xrpc.server import create_app

    with TestClient(create_app(appview)) as c:
        yield c


def get(client: TestClient, nsid: str, status: int = 200, **params: Any) -> dict[str, Any]:
    resp = client.get(f"/xrpc/{nsid}", params=params)
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    if status == 200:
        assert validate_output(nsid, body) == []
    else:
        assert set(body) == {"error", "message"}
    return body


def test_resolve_schema_by_bare_name_takes_the_highest_version(client: TestClient, world: World) -> None:
    world.schema("alice.test", "Frame", "1.0.0")
    newest = world.schema("alice.test", "Frame", "1.10.0")
    world.schema("alice.test", "Frame", "1.2.0")
    body = get(client, N.RESOLVE_SCHEMA, name="Frame")
    assert body["schema"]["uri"] == newest["uri"] and len(body["candidates"]) == 2


def test_resolve_schema_by_version_handle_and_uri(client: TestClient, world: World) -> None:
    old = world.schema("alice.test", "Frame", "1.0.0")
    world.schema("alice.test", "Frame", "2.0.0")
    assert get(client, N.RESOLVE_SCHEMA, name="Frame@1.0.0")["schema"]["uri"] == old["uri"]
    assert get(client, N.RESOLVE_SCHEMA, name="alice.test/Frame@1.0.0")["schema"]["cid"] == old["cid"]
    assert get(client, N.RESOLVE_SCHEMA, name=old["uri"])["schema"]["version"] == "1.0.0"


def test_a_name_published_by_several_untrusted_authors_is_ambiguous(client: TestClient, world: World) -> None:
    world.schema("alice.test", "Frame")
    bobs = world.schema("bob.test", "Frame")
    body = get(client, N.RESOLVE_SCHEMA, 400, name="Frame")
    assert body["error"] == "Ambiguous" and "alice.test" in body["message"]
    bob = world.authors["bob.test"].did
    assert get(client, N.RESOLVE_SCHEMA, name="Frame", trusted=[bob])["schema"]["uri"] == bobs["uri"]
    assert get(client, N.RESOLVE_SCHEMA, name="bob.test/Frame")["schema"]["uri"] == bobs["uri"]


def test_an_unknown_name_is_not_found(client: TestClient) -> None:
    assert get(client, N.RESOLVE_SCHEMA, 400, name="Nope")["error"] == "NotFound"


def test_get_schema_lists_the_other_versions(client: TestClient, world: World) -> None:
    one = world.schema("alice.test", "Frame", "1.0.0")
    world.schema("alice.test", "Frame", "2.0.0")
    body = get(client, N.GET_SCHEMA, uri=one["uri"])
    assert body["schema"]["cid"] == one["cid"] and [v["version"] for v in body["versions"]] == ["2.0.0"]
    assert get(
        client,
        N.GET_SCHEMA,
        400,
        uri=one["uri"],
        cid="bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    )


def test_search_finds_schemas_by_field_name_and_description(client: TestClient, world: World) -> None:
    world.schema("alice.test", "BathApplicationFrame", fields=("applied_compound", "t_index"))
    world.schema("alice.test", "Other", doc="Calcium imaging of zebrafish.")
    assert [s["name"] for s in get(client, N.SEARCH_SCHEMAS, q="compound")["schemas"]] == [
        "BathApplicationFrame"
    ]
    assert [s["name"] for s in get(client, N.SEARCH_SCHEMAS, q="ZEBRAFISH calcium")["schemas"]] == ["Other"]
    assert get(client, N.SEARCH_SCHEMAS, q="100%_literal")["schemas"] == []


def test_search_pages_with_a_cursor(client: TestClient, world: World) -> None:
    for name in ("FrameA", "FrameB", "FrameC"):
        world.schema("alice.test", name)
    first = get(client, N.SEARCH_SCHEMAS, q="frame", limit=2)
    second = get(client, N.SEARCH_SCHEMAS, q="frame", limit=2, cursor=first["cursor"])
    assert [s["name"] for s in first["schemas"] + second["schemas"]] == ["FrameA", "FrameB", "FrameC"]
    assert "cursor" not in second


def test_list_lenses_by_source_and_target_means_both(client: TestClient, world: World) -> None:
    a, b, c = (world.schema("alice.test", n) for n in "ABC")
    ab = world.lens("alice.test", "a_to_b", a, b)
    world.lens("alice.test", "a_to_c", a, c)
    world.lens("alice.test", "c_to_b", c, b)
    body = get(client, N.LIST_LENSES, source=a["uri"], target=b["uri"])
    assert [lens["uri"] for lens in body["lenses"]] == [ab["uri"]]
    assert len(get(client, N.LIST_LENSES, source=a["uri"])["lenses"]) == 2


def test_get_lens_shows_the_validation_report_and_attestations(client: TestClient, world: World) -> None:
    a, b = world.schema("alice.test", "A"), world.schema("alice.test", "B")
    bad = world.lens("alice.test", "leaky", a, b, code=BAD_LENS_SOURCE)
    world.attest("bob.test", bad, "tested")
    lens = get(client, N.GET_LENS, uri=bad["uri"])["lens"]
    assert lens["valid"] is False and any("import" in p for p in lens["problems"])
    assert [(x["kind"], x["author"]) for x in lens["attestations"]] == [
        ("tested", world.authors["bob.test"].did)
    ]


def test_find_lens_path_returns_ordered_strong_refs(client: TestClient, world: World) -> None:
    a, b, c = (world.schema("alice.test", n) for n in "ABC")
    ab, bc = world.lens("alice.test", "a_to_b", a, b), world.lens("alice.test", "b_to_c", b, c)
    body = get(client, N.FIND_LENS_PATH, source=a["uri"], target=c["uri"])
    assert [step["lens"] for step in body["path"]] == [ab, bc]
    assert body["path"][0]["source"] == a and body["path"][1]["target"] == c


def test_find_lens_path_says_why_there_is_none(client: TestClient, world: World) -> None:
    a, b, c = (world.schema("alice.test", n) for n in "ABC")
    world.lens("alice.test", "a_to_b", a, b)
    body = get(client, N.FIND_LENS_PATH, source=a["uri"], target=c["uri"])
    assert body["path"] == [] and "no lens path" in body["reason"] and body["reachable"] == [b]


def test_find_lens_path_honours_trusted_authors_and_their_attestations(
    client: TestClient, world: World
) -> None:
    a, b = world.schema("alice.test", "A"), world.schema("alice.test", "B")
    bobs = world.lens("bob.test", "a_to_b", a, b)
    alice = world.authors["alice.test"].did
    assert get(client, N.FIND_LENS_PATH, source=a["uri"], target=b["uri"], trusted=[alice])["path"] == []
    world.attest("alice.test", bobs)
    path = get(client, N.FIND_LENS_PATH, source=a["uri"], target=b["uri"], trusted=[alice])["path"]
    assert [s["lens"] for s in path] == [bobs]


def test_find_lens_path_respects_max_hops(client: TestClient, world: World) -> None:
    a, b, c = (world.schema("alice.test", n) for n in "ABC")
    world.lens("alice.test", "a_to_b", a, b)
    world.lens("alice.test", "b_to_c", b, c)
    assert get(client, N.FIND_LENS_PATH, source=a["uri"], target=c["uri"], maxHops=1)["path"] == []


def test_list_datasets_includes_convertible_ones_with_their_path(client: TestClient, world: World) -> None:
    a, b = world.schema("alice.test", "A"), world.schema("alice.test", "B")
    lens = world.lens("alice.test", "a_to_b", a, b)
    of_a, of_b = world.dataset("alice.test", "as", a), world.dataset("alice.test", "bs", b)
    assert [d["uri"] for d in get(client, N.LIST_DATASETS, schema=b["uri"])["datasets"]] == [of_b["uri"]]
    body = get(client, N.LIST_DATASETS, schema=b["uri"], convertible="true")
    assert [(d["uri"], d.get("path", [])) for d in body["datasets"]] == [
        (of_b["uri"], []),
        (of_a["uri"], [lens]),
    ]


def test_describe_service_counts_what_is_indexed(client: TestClient, world: World) -> None:
    world.schema("alice.test", "A")
    body = get(client, N.DESCRIBE_SERVICE)
    assert body["counts"]["schemas"] == 1 and N.FIND_LENS_PATH in body["lexicons"]


def test_bad_parameters_get_an_invalid_request_error(client: TestClient) -> None:
    body = get(client, N.FIND_LENS_PATH, 400, source="not-a-uri", target="at://did:plc:x/a/b", maxHops="many")
    assert body["error"] == "InvalidRequest" and "maxHops" in body["message"]


def test_an_undeclared_method_is_not_implemented(client: TestClient) -> None:
    assert get(client, "com.example.nothing", 501)["error"] == "MethodNotImplemented"
