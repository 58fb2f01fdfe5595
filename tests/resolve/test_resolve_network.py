"""``atdata.resolve`` against the dev stack and a real appview: name forms, trust, integrity, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from resolve_world import World, serve_appview, wait_indexed

import atdata
from atdata.errors import AmbiguousNameError, NetworkError
from atdata.record_cache import network_dir
from atdata.resolve import schema_ref
from atdata.schema import record_cid
from atdata.trust import TrustedAuthor, TrustPolicy

pytestmark = pytest.mark.integration


def trusting(*authors: str) -> TrustPolicy:
    return TrustPolicy(authors=tuple(TrustedAuthor(did) for did in authors))


def test_a_bare_name_one_author_publishes_resolves_to_a_class_bound_to_that_record(world: World) -> None:
    world.configure()
    mid = atdata.resolve("Mid")
    assert mid.__name__ == "Mid"
    assert schema_ref(mid) == world.schemas["Mid"]
    assert mid(time_s=1.0, signal=np.ones(1), label="x").label == "x"  # type: ignore[call-arg]


def test_handle_slash_name_picks_that_authors_record(world: World) -> None:
    world.configure()
    assert schema_ref(atdata.resolve(f"{world.bob.handle}/Out")) == world.schemas["bob/Out"]
    assert schema_ref(atdata.resolve(f"{world.alice.handle}/Out@1.0.0")) == world.schemas["Out"]


def test_a_pinned_version_resolves_among_trusted_authors(world: World) -> None:
    world.configure()
    assert schema_ref(atdata.resolve("Out@1.0.0", trust=trusting(world.alice.did))) == world.schemas["Out"]


def test_an_at_uri_resolves_from_the_authors_pds_without_any_appview(world: World) -> None:
    atdata.configure(plc=world.stack.plc, pds=world.stack.pds)
    assert schema_ref(atdata.resolve(world.schemas["Frame"]["uri"])) == world.schemas["Frame"]


def test_a_name_two_untrusted_authors_publish_is_refused_as_ambiguous(world: World) -> None:
    world.configure()
    with pytest.raises(AmbiguousNameError, match=world.bob.handle):
        atdata.resolve("Out")


def test_a_trusted_author_wins_a_contested_name(world: World) -> None:
    world.configure()
    assert schema_ref(atdata.resolve("Out", trust=trusting(world.bob.did))) == world.schemas["bob/Out"]
    assert schema_ref(atdata.resolve("Out", trust=trusting(world.alice.did))) == world.schemas["Out"]


def test_strict_refuses_a_contested_name_listing_every_candidate(world: World) -> None:
    world.configure()
    with pytest.raises(AmbiguousNameError) as caught:
        atdata.resolve("Out", strict=True, trust=trusting(world.alice.did))
    assert world.schemas["Out"]["uri"] in str(caught.value)
    assert world.schemas["bob/Out"]["uri"] in str(caught.value)


def test_a_tampered_cache_entry_is_fetched_again_from_the_pds(world: World, private_dirs: Path) -> None:
    world.configure()
    atdata.resolve("Mid")
    records = network_dir(world.stack.plc, private_dirs / "cache") / "records"
    entry = records / f"{world.schemas['Mid']['cid']}.json"
    data = json.loads(entry.read_text())
    data["value"]["description"] = "tampered"
    entry.write_text(json.dumps(data))
    assert schema_ref(atdata.resolve("Mid")) == world.schemas["Mid"]
    assert record_cid(json.loads(entry.read_text())["value"]) == world.schemas["Mid"]["cid"]


def _resolve_in_a_fresh_process(name: str, appview: str, world: World) -> subprocess.CompletedProcess[str]:
    code = (
        "import atdata, json, sys\n"
        "from atdata.resolve import schema_ref\n"
        f"atdata.configure(appview={appview!r}, plc={world.stack.plc!r}, pds={world.stack.pds!r})\n"
        f"print(json.dumps(schema_ref(atdata.resolve({name!r}))))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))


def test_a_name_resolved_once_resolves_offline_in_a_new_process(world: World, tmp_path: Path) -> None:
    with serve_appview(tmp_path / "own.db", world.stack) as appview:
        atdata.configure(appview=appview, plc=world.stack.plc, pds=world.stack.pds)
        wait_indexed(appview, world.schemas["Mid"]["uri"])
        atdata.resolve("Mid")
    done = _resolve_in_a_fresh_process("Mid", appview, world)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == world.schemas["Mid"]


def test_an_answer_from_the_offline_cache_warns_naming_the_record_and_its_age(
    world: World, tmp_path: Path
) -> None:
    with serve_appview(tmp_path / "own.db", world.stack) as appview:
        atdata.configure(appview=appview, plc=world.stack.plc, pds=world.stack.pds)
        wait_indexed(appview, world.schemas["Mid"]["uri"])
        atdata.resolve("Mid")
    done = _resolve_in_a_fresh_process("Mid", appview, world)
    assert done.returncode == 0, done.stderr
    assert "'Mid' answered from the offline cache" in done.stderr
    assert world.schemas["Mid"]["uri"] in done.stderr
    assert " s ago" in done.stderr


def test_a_name_resolved_on_one_network_is_unknown_on_another(world: World) -> None:
    world.configure()
    atdata.resolve("Mid")
    # Another PLC directory is another network: nothing cached on the first one may answer there.
    atdata.configure(appview="http://127.0.0.1:9", plc="http://127.0.0.1:8", pds="http://127.0.0.1:8")
    with pytest.raises(NetworkError, match="not resolved here before"):
        atdata.resolve("Mid")


def test_a_name_never_resolved_cannot_be_resolved_offline(world: World) -> None:
    atdata.configure(appview="http://127.0.0.1:9", plc=world.stack.plc, pds=world.stack.pds)
    with pytest.raises(NetworkError, match="not resolved here before"):
        atdata.resolve("Mid")
