"""The appview follows atdata 0.7's records too: its schemas and entries in search, schema pages and
listDatasets, its lenses listed but never runnable, and its own ``science.alt.dataset.resolveSchema``
answered, so that the real atdata 0.7 client pointed at this appview resolves schemas."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fixtures07 import record
from resolve_world import Author, new_author, serve_appview, wait_until

import atdata
from atdata.network.appview_client import AppviewClient
from atdata.network.predecessor import ALT_ENTRY, ALT_LENS, ALT_SCHEMA
from atdata.resolve import schema_ref
from atdata_registry.devstack import DevStack

pytestmark = pytest.mark.integration

LEGACY_PYTHON = os.environ.get("ATDATA_LEGACY_PYTHON")


@dataclass
class Indexed:
    appview: str
    author: Author
    schema: dict[str, str]
    entry: str
    lens: str


def create(author: Author, collection: str, value: dict[str, object]) -> dict[str, str]:
    answer = author.publisher.session.procedure(
        "com.atproto.repo.createRecord",
        {"repo": author.did, "collection": collection, "record": value, "validate": False},
    )
    return {"uri": str(answer["uri"]), "cid": str(answer["cid"])}


@pytest.fixture(scope="module")
def indexed(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    db = tmp_path_factory.mktemp("appview07") / "appview.db"
    with serve_appview(db, dev_stack) as appview:
        author = new_author(dev_stack, "seven")
        schema = create(author, ALT_SCHEMA, record("schema.json"))
        entry_value = record("entry_http.json", SHARDS="https://shards.example", SCHEMA_URI=schema["uri"])
        entry = create(author, ALT_ENTRY, entry_value)["uri"]
        other = create(author, ALT_SCHEMA, record("schema_sparse.json"))
        lens_value = record("lens.json", SCHEMA_URI=schema["uri"])
        lens_value["targetSchema"] = other["uri"]  # Recording -> SparseRecording
        lens = create(author, ALT_LENS, lens_value)["uri"]
        with AppviewClient(appview) as client:
            wait_until(
                "the appview lists the 0.7 entry with its author's checked handle",
                lambda: any(
                    d.uri == entry and d.handle == author.handle
                    for d in client.list_datasets(limit=100).items
                ),
            )
        yield Indexed(appview, author, schema, entry, lens)


def test_a_0_7_schema_is_found_by_search(indexed: Indexed) -> None:
    with AppviewClient(indexed.appview) as client:
        found = client.search_schemas("recording", limit=50).items
    assert indexed.schema["uri"] in [s.uri for s in found]


def test_a_0_7_schema_is_found_by_one_of_its_field_names(indexed: Indexed) -> None:
    with AppviewClient(indexed.appview) as client:
        found = client.search_schemas("channels", limit=50).items
    assert indexed.schema["uri"] in [s.uri for s in found]


def test_a_0_7_entry_is_listed_with_its_schema_pinned_by_cid(indexed: Indexed) -> None:
    with AppviewClient(indexed.appview) as client:
        (view,) = [d for d in client.list_datasets(limit=100).items if d.uri == indexed.entry]
    assert (view.schema.uri, view.schema.cid) == (indexed.schema["uri"], indexed.schema["cid"])


def test_a_0_7_lens_is_listed_as_code_by_git_reference_and_never_runnable(indexed: Indexed) -> None:
    with AppviewClient(indexed.appview) as client:
        view = client.get_lens(indexed.lens)
    assert not view.valid
    assert any("code by git reference" in p for p in view.problems)


def test_the_schema_page_shows_a_0_7_schema_with_the_fields_it_converts_to(indexed: Indexed) -> None:
    page = httpx.get(indexed.appview + "/schema", params={"uri": indexed.schema["uri"]})
    assert page.status_code == 200 and "Recording" in page.text
    assert "<code>channels</code>" in page.text


def test_the_sdk_resolves_a_0_7_schema_through_the_appview(indexed: Indexed, dev_stack: DevStack) -> None:
    atdata.configure(appview=indexed.appview, plc=dev_stack.plc, pds=dev_stack.pds)
    cls = atdata.resolve(f"{indexed.author.handle}/Recording")
    assert schema_ref(cls) == indexed.schema


def test_predecessor_resolve_schema_answers_uri_cid_and_record(indexed: Indexed) -> None:
    answer = httpx.get(
        indexed.appview + "/xrpc/science.alt.dataset.resolveSchema",
        params={"handle": indexed.author.handle, "schemaId": "Recording"},
    ).json()
    assert (answer["uri"], answer["cid"]) == (indexed.schema["uri"], indexed.schema["cid"])
    assert answer["record"]["$type"] == ALT_SCHEMA


def test_predecessor_resolve_schema_of_an_unknown_name_is_schema_not_found(indexed: Indexed) -> None:
    answer = httpx.get(
        indexed.appview + "/xrpc/science.alt.dataset.resolveSchema",
        params={"handle": indexed.author.handle, "schemaId": "Nothing"},
    )
    assert answer.status_code == 400 and answer.json()["error"] == "SchemaNotFound"


LEGACY_CLIENT = """
import json, sys
import atdata
from atdata.atmosphere import Atmosphere
from atdata.atmosphere.schema import SchemaLoader

appview, handle, shards = sys.argv[1:4]
# A PDS address where nothing listens: only the appview can answer.
atmo = Atmosphere(base_url="http://127.0.0.1:9", appview=appview)
record = SchemaLoader(atmo).resolve(handle, "Recording", "1.2.0")
print(json.dumps({"name": record["name"], "version": record["version"], "schema": record["schema"]}))
"""
# 0.7's own schema_to_type cannot build a class from this record once it has been through a PDS:
# DAG-CBOR sorts map keys, so an optional property can come before a required one, and its
# make_dataclass refuses that order. The record is what 0.7 published, byte for byte.


@pytest.mark.skipif(not LEGACY_PYTHON, reason="set ATDATA_LEGACY_PYTHON to a python with atdata 0.7.0b1")
def test_the_real_atdata_0_7_client_resolves_schemas_through_this_appview(indexed: Indexed) -> None:
    assert LEGACY_PYTHON is not None
    done = subprocess.run(
        [LEGACY_PYTHON, "-c", LEGACY_CLIENT, indexed.appview, indexed.author.handle, "unused"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": ""},
        cwd=Path(__file__).parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    published = record("schema.json")
    assert out == {"name": "Recording", "version": "1.2.0", "schema": published["schema"]}


def test_the_schema_page_draws_a_0_7_lens_as_a_marked_edge(indexed: Indexed) -> None:
    page = httpx.get(indexed.appview + "/schema", params={"uri": indexed.schema["uri"]}).text
    assert 'class="lens git-reference"' in page
    assert "code by git reference, not runnable here" in page


def test_a_0_7_lens_is_never_a_lens_path(indexed: Indexed) -> None:
    with AppviewClient(indexed.appview) as client:
        lens = client.get_lens(indexed.lens)
        path = client.find_lens_path(lens.source.uri, lens.target.uri)
    assert not path.steps
